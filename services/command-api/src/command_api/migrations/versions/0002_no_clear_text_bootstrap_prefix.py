"""the bootstrap admin key keeps no clear-text prefix

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 20:30:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The bootstrap key is chosen by a person, not generated: any part of it helps a guesser.
    op.execute("UPDATE commands.api_keys SET prefix = 'bootstrap' WHERE created_by = 'environment'")


def downgrade() -> None:
    pass
