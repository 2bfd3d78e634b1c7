"""webhook bindings: the event queue is bound only to what registered webhooks want

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 08:00:00.000000
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
        "webhook_bindings",
        sa.Column("binding_key", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("binding_key"),
        schema="commands",
    )
    # Before this, the queue was bound to every event: the first sync unbinds it.
    op.execute("INSERT INTO commands.webhook_bindings (binding_key) VALUES ('#')")


def downgrade() -> None:
    op.drop_table("webhook_bindings", schema="commands")
