"""A local list's synchronised scope names groups of up to 36 characters

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.alter_column(
        "local_list_syncs",
        "parent_id_tags",
        type_=postgresql.ARRAY(sa.String(36)),
        existing_type=postgresql.ARRAY(sa.String(20)),
        schema="commands",
    )


def downgrade() -> None:
    op.alter_column(
        "local_list_syncs",
        "parent_id_tags",
        type_=postgresql.ARRAY(sa.String(20)),
        existing_type=postgresql.ARRAY(sa.String(36)),
        schema="commands",
    )
