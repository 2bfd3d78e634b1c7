"""requests: every OCPI request platforms made, for the operator (with retention)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27 03:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "requests",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("platform_id", sa.String(36)),
        sa.Column("method", sa.String(8), nullable=False),
        sa.Column("path", sa.String(500), nullable=False),
        sa.Column("http_status", sa.Integer, nullable=False),
        sa.Column("ocpi_status", sa.Integer),
        sa.Column("duration_ms", sa.Integer, nullable=False),
        sa.Column("request_id", sa.String(100)),
        sa.Column("correlation_id", sa.String(100)),
        sa.Column("from_party", sa.String(6)),
        sa.Column("body", sa.JSON),
        schema="roaming",
    )
    op.create_index("requests_at", "requests", ["at"], schema="roaming")
    op.create_index("requests_platform", "requests", ["platform_id", "at"], schema="roaming")


def downgrade() -> None:
    op.drop_table("requests", schema="roaming")
