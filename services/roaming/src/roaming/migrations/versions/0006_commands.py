"""commands: the commands eMSPs sent (OCPI commands, receiver) and the requests to command-api
they became

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 02:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "commands",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column(
            "number",
            sa.BigInteger,
            sa.Identity(start=1_000_000_001),
            nullable=False,
            unique=True,
        ),
        sa.Column(
            "platform_id", sa.String(36), sa.ForeignKey("roaming.platforms.id"), nullable=False
        ),
        sa.Column("country_code", sa.String(2), nullable=False),
        sa.Column("party_id", sa.String(3), nullable=False),
        sa.Column("command", sa.String(24), nullable=False),
        sa.Column("body", sa.JSON, nullable=False),
        sa.Column("charge_point_id", sa.String(48), nullable=False),
        sa.Column("evse_id", sa.Integer),
        sa.Column("token_uid", sa.String(36)),
        sa.Column("reservation_id", sa.String(36)),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("response_url", sa.String(255), nullable=False),
        sa.Column("result", sa.String(24)),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("answered_at", sa.DateTime(timezone=True)),
        schema="roaming",
    )
    op.create_index(
        "commands_starts",
        "commands",
        ["charge_point_id", "token_uid", "created_at"],
        schema="roaming",
    )
    op.create_index(
        "commands_reservations",
        "commands",
        ["country_code", "party_id", "reservation_id"],
        schema="roaming",
    )
    op.create_table(
        "command_outbox",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("routing_key", sa.String(200), nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        schema="roaming",
    )


def downgrade() -> None:
    op.drop_table("command_outbox", schema="roaming")
    op.drop_table("commands", schema="roaming")
