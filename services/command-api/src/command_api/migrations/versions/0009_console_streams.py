"""the console's open live streams, a lease each, so a cap per user holds across replicas

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-25 18:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "console_streams",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column(
            "user_id",
            sa.String(36),
            sa.ForeignKey("commands.users.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        schema="commands",
    )
    op.create_index(
        "ix_console_streams_user", "console_streams", ["user_id", "expires_at"], schema="commands"
    )


def downgrade() -> None:
    op.drop_table("console_streams", schema="commands")
