"""tokens_uid: a transaction's id token is looked up by uid alone (its owner is not known)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27 05:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("tokens_uid", "tokens", ["uid"], schema="roaming")


def downgrade() -> None:
    op.drop_index("tokens_uid", "tokens", schema="roaming")
