"""A tariff may state its VAT rate (percent, 0 to 100; its prices exclude it); a transaction
copies the rate at its start and keeps its cost excl. VAT beside the cost the driver pays

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-27 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = "sessions"


def upgrade() -> None:
    # Nullable columns without a default: Postgres adds them without rewriting the tables.
    # Rows from before have no VAT (NULL), and a stopped transaction's cost stays its net.
    op.add_column("tariffs", sa.Column("vat", sa.Numeric(precision=5, scale=2)), schema=S)
    op.create_check_constraint("ck_tariffs_vat", "tariffs", "vat BETWEEN 0 AND 100", schema=S)
    op.add_column("transactions", sa.Column("vat", sa.Numeric(precision=5, scale=2)), schema=S)
    op.add_column(
        "transactions", sa.Column("cost_excl_vat", sa.Numeric(precision=14, scale=2)), schema=S
    )


def downgrade() -> None:
    op.drop_column("transactions", "cost_excl_vat", schema=S)
    op.drop_column("transactions", "vat", schema=S)
    op.drop_constraint("ck_tariffs_vat", "tariffs", schema=S)
    op.drop_column("tariffs", "vat", schema=S)
