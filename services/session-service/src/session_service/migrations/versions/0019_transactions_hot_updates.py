"""A running transaction's meter updates without index entries (HOT)

Every group of meter data (1.6 MeterValues, 2.0.1 TransactionEvent Updated) rewrites each of
its running transactions: last seen, newest register, the 2.0.1 fold. The index
ix_transactions_active_seen read `last_seen_at`, so none of these updates could be HOT: each one
added an entry to all ten indexes of the table, the uniques and the exclusion constraint
included, and left as many dead ones to vacuum. Without it, and with a fill factor leaving room
in each page for the new versions, they are written in place of the page's dead ones.

The stale monitor (a sweep every `SESSION_SWEEP_INTERVAL`) finds open transactions not seen for
`SESSION_STALE_AFTER` among the open ones, which ix_transactions_stop finds (20,000 open of
200,000 rows: 12 ms). Dropping the index takes the table's lock for a moment; the fill factor
applies to pages written from now on.

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-29 14:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = "sessions"


def upgrade() -> None:
    op.drop_index("ix_transactions_active_seen", table_name="transactions", schema=S)
    op.execute(f"ALTER TABLE {S}.transactions SET (fillfactor = 70)")


def downgrade() -> None:
    op.execute(f"ALTER TABLE {S}.transactions RESET (fillfactor)")
    op.create_index(
        "ix_transactions_active_seen",
        "transactions",
        ["last_seen_at"],
        unique=False,
        schema=S,
        postgresql_where=sa.text("stop_time IS NULL AND stale_since IS NULL"),
    )
