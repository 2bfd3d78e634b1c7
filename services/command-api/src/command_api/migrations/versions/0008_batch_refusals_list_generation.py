"""fleet command batches keep the CPs refused before a command was recorded (a feature profile
the CP does not list), so the batch read shows every CP it targeted; each synchronised local
list counts the times it was marked stale, so a sync keeps a mark that came while it ran

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25 13:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "command_batches",
        sa.Column(
            "refused",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        schema="commands",
    )
    op.add_column(
        "local_list_syncs",
        sa.Column("generation", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        schema="commands",
    )


def downgrade() -> None:
    op.drop_column("local_list_syncs", "generation", schema="commands")
    op.drop_column("command_batches", "refused", schema="commands")
