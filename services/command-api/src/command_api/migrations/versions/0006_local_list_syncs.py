"""the scope each CP's Local Authorization List was last synchronised to, and whether an id tag
of it changed since (re-synchronisation, API_LOCAL_LIST_RESYNC)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 06:36:49.642341
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "local_list_syncs",
        sa.Column("charge_point_id", sa.String(length=48), nullable=False),
        sa.Column("parent_id_tags", postgresql.ARRAY(sa.String(length=20)), nullable=True),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stale", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("charge_point_id"),
        schema="commands",
    )
    op.create_index(
        "ix_local_list_syncs_due",
        "local_list_syncs",
        ["due_at"],
        unique=False,
        schema="commands",
        postgresql_where=sa.text("stale"),
    )


def downgrade() -> None:
    op.drop_index("ix_local_list_syncs_due", table_name="local_list_syncs", schema="commands")
    op.drop_table("local_list_syncs", schema="commands")
