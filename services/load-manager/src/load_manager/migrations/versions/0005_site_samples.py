"""schema loads: a site's limit, allocation and draw, sampled each minute for its chart

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 15:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "site_samples",
        sa.Column("site_id", sa.BigInteger, primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("limit_amps", sa.Numeric(7, 1), nullable=False),
        sa.Column("allocated_amps", sa.Numeric(7, 1), nullable=False),
        sa.Column("drawn_amps", sa.Numeric(8, 1), nullable=False),
        schema="loads",
    )


def downgrade() -> None:
    op.drop_table("site_samples", schema="loads")
