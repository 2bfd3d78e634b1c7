"""Id tokens of up to 36 characters (2.0.1 idTokens, eMAIDs) in the authorization list,
reservations, unmatched stops and what stations' local lists hold

Widening a varchar is a change of the catalogue only: no table or index is rewritten.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = "sessions"
COLUMNS = {
    "id_tags": ("id_tag", "parent_id_tag"),
    "reservations": ("id_tag", "parent_id_tag"),
    "unmatched_stops": ("id_tag",),
    "local_list_entries": ("id_tag", "parent_id_tag"),
}


def upgrade() -> None:
    for table, columns in COLUMNS.items():
        for column in columns:
            op.alter_column(
                table, column, type_=sa.String(36), existing_type=sa.String(20), schema=S
            )


def downgrade() -> None:
    # Tokens longer than 20 characters would not fit back: refuse rather than cut them.
    for table, columns in COLUMNS.items():
        for column in columns:
            op.alter_column(
                table, column, type_=sa.String(20), existing_type=sa.String(36), schema=S
            )
