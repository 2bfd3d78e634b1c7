"""Parking time: each transaction's charging states (either version, insert-only), a tariff's
fee per minute of parking, copied by a transaction at its start, and the parking seconds a
transaction's stop counts

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-28 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = "sessions"


def upgrade() -> None:
    op.create_table(
        "charging_states",
        sa.Column("transaction_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("transaction_id", "at", "state"),
        schema=S,
    )
    # A constant default: Postgres adds these without rewriting the tables; rows from before
    # charge no parking (0), and stops from before counted none (NULL).
    for table in ("tariffs", "transactions"):
        op.add_column(
            table,
            sa.Column(
                "parking_per_minute_fee",
                sa.Numeric(precision=12, scale=4),
                nullable=False,
                server_default="0",
            ),
            schema=S,
        )
    op.add_column("transactions", sa.Column("parking_seconds", sa.Integer()), schema=S)


def downgrade() -> None:
    op.drop_column("transactions", "parking_seconds", schema=S)
    for table in ("transactions", "tariffs"):
        op.drop_column(table, "parking_per_minute_fee", schema=S)
    op.drop_table("charging_states", schema=S)
