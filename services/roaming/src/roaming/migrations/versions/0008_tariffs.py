"""tariffs: the suite's tariffs as OCPI publishes them (OCPI tariffs, sender)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27 04:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tariffs",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("tariff_id", sa.BigInteger, nullable=False, unique=True),
        sa.Column("document", sa.JSON),
        sa.Column("last_updated", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True)),
        schema="roaming",
    )
    op.create_index("tariffs_last_updated", "tariffs", ["last_updated"], schema="roaming")


def downgrade() -> None:
    op.drop_table("tariffs", schema="roaming")
