"""A transaction keeps where its first id token's decision came from (the list, an eMSP's token
over OCPI and which eMSP, or no entry), so the roaming service bills the right party

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-27 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = "sessions"


def upgrade() -> None:
    # Nullable, no default: added without rewriting the table; older rows say nothing (NULL).
    op.add_column("transactions", sa.Column("id_token_source", sa.String(8)), schema=S)
    op.add_column("transactions", sa.Column("roaming_party", sa.String(7)), schema=S)


def downgrade() -> None:
    op.drop_column("transactions", "roaming_party", schema=S)
    op.drop_column("transactions", "id_token_source", schema=S)
