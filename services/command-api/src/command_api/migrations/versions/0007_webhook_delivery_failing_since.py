"""webhook deliveries: since when each has failed, so one failing for too long disables its
webhook though other charge points' deliveries succeed

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "webhook_deliveries",
        sa.Column("failing_since", sa.DateTime(timezone=True), nullable=True),
        schema="commands",
    )


def downgrade() -> None:
    op.drop_column("webhook_deliveries", "failing_since", schema="commands")
