"""status history retention deletes by when a notification was received (our clock), not by the
CP's timestamp: the index on timestamp, which only retention used, makes way for one on
received_at

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-25 12:30:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_status_history_received_at",
        "status_history",
        ["received_at"],
        unique=False,
        schema="registry",
    )
    op.drop_index("ix_status_history_timestamp", table_name="status_history", schema="registry")


def downgrade() -> None:
    op.create_index(
        "ix_status_history_timestamp",
        "status_history",
        ["timestamp"],
        unique=False,
        schema="registry",
    )
    op.drop_index("ix_status_history_received_at", table_name="status_history", schema="registry")
