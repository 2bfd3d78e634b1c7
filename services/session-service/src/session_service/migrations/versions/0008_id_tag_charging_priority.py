"""Id tags get OCPP 2.0.1's chargingPriority (-9..9, 0 by default); a transaction keeps the
one of the tag it started with

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25 17:18:46.763814
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = "sessions"


def upgrade() -> None:
    op.add_column(
        "id_tags",
        sa.Column("charging_priority", sa.SmallInteger(), server_default="0", nullable=False),
        schema=S,
    )
    op.create_check_constraint(
        "ck_id_tags_charging_priority",
        "id_tags",
        "charging_priority BETWEEN -9 AND 9",
        schema=S,
    )
    op.add_column(
        "transactions",
        sa.Column("charging_priority", sa.SmallInteger(), server_default="0", nullable=False),
        schema=S,
    )


def downgrade() -> None:
    op.drop_column("transactions", "charging_priority", schema=S)
    op.drop_constraint("ck_id_tags_charging_priority", "id_tags", schema=S)
    op.drop_column("id_tags", "charging_priority", schema=S)
