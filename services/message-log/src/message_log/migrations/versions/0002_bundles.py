"""messages.bundles: the bundles stored, so a bundle delivered again is not stored twice

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 09:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "bundles",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column(
            "stored_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        schema="messages",
    )
    op.create_index("bundles_stored_at", "bundles", ["stored_at"], schema="messages")


def downgrade() -> None:
    op.drop_table("bundles", schema="messages")
