"""each webhook endpoint is paused on its own while it fails (consecutive failures, paused
until), so a dead receiver delays only itself; its pending deliveries are read by webhook

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-27 11:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "webhooks",
        sa.Column(
            "consecutive_failures", sa.Integer(), server_default=sa.text("0"), nullable=False
        ),
        schema="commands",
    )
    op.add_column(
        "webhooks", sa.Column("paused_until", sa.DateTime(timezone=True)), schema="commands"
    )
    op.create_index(
        "ix_webhook_deliveries_pending",
        "webhook_deliveries",
        ["webhook_id", "id"],
        postgresql_where=sa.text("status = 'pending'"),
        schema="commands",
    )


def downgrade() -> None:
    op.drop_index("ix_webhook_deliveries_pending", "webhook_deliveries", schema="commands")
    op.drop_column("webhooks", "paused_until", schema="commands")
    op.drop_column("webhooks", "consecutive_failures", schema="commands")
