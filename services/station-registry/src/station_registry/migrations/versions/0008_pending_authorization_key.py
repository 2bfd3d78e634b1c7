"""a staged AuthorizationKey: sent to the CP, accepted at the handshake until the CP confirms

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 20:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "charge_points",
        sa.Column("auth_key_pending_hash", sa.String(200), nullable=True),
        schema="registry",
    )


def downgrade() -> None:
    op.drop_column("charge_points", "auth_key_pending_hash", schema="registry")
