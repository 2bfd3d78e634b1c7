"""security events by time across the network (the console's overview)

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-24 02:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_security_events_time", "security_events", ["timestamp"], schema="registry")


def downgrade() -> None:
    op.drop_index("ix_security_events_time", table_name="security_events", schema="registry")
