"""charging states are pruned by their time (the sweep): an index on `at`

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-27 12:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = "sessions"


def upgrade() -> None:
    op.create_index("ix_charging_states_at", "charging_states", ["at"], schema=S)


def downgrade() -> None:
    op.drop_index("ix_charging_states_at", "charging_states", schema=S)
