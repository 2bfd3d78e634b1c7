"""each synchronised local list remembers whether it holds the roaming tokens (OCPI), so its
re-synchronisations keep them

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-27 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "local_list_syncs",
        sa.Column("roaming_tokens", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        schema="commands",
    )


def downgrade() -> None:
    op.drop_column("local_list_syncs", "roaming_tokens", schema="commands")
