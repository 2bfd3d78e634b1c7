"""schema loads: the EV's state reported before its session is known

A 1.6 SuspendedEV (StatusNotification) or a 2.0.1 chargingState reaches the allocator apart
from the transaction's start, and could come first; it was dropped, so a car that started
suspended kept its full share until the underuse rule took it back. Each EVSE's row now keeps
such a report and when it came, for the session that starts next.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25 23:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "evse_allocations", sa.Column("ev_report_suspended", sa.Boolean()), schema="loads"
    )
    op.add_column(
        "evse_allocations",
        sa.Column("ev_report_at", sa.DateTime(timezone=True)),
        schema="loads",
    )


def downgrade() -> None:
    op.drop_column("evse_allocations", "ev_report_at", schema="loads")
    op.drop_column("evse_allocations", "ev_report_suspended", schema="loads")
