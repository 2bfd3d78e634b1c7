"""local_list_entries.id_token_type: the type each held token was sent with

A 2.0.1 station removes a Local Authorization List entry by its idToken's value and type; a
differential update removed every entry as ISO14443 (an idTag's type), so a token of another
type (an eMAID, a central token) stayed on the station's list. Rows kept before take the type
their id tag has now (what a sync sent, unless the tag's type changed since); those of no id
tag (an eMSP's token) stay NULL: the next differential update sends them again with their type,
or removes them as ISO14443.

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-27 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = "sessions"


def upgrade() -> None:
    op.add_column(
        "local_list_entries", sa.Column("id_token_type", sa.String(20), nullable=True), schema=S
    )
    op.execute(
        f"UPDATE {S}.local_list_entries e SET id_token_type = t.type FROM {S}.id_tags t"
        " WHERE lower(t.id_tag) = lower(e.id_tag)"
    )


def downgrade() -> None:
    op.drop_column("local_list_entries", "id_token_type", schema=S)
