"""tokens: the tokens eMSPs push (OCPI tokens module, receiver)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 21:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tokens",
        sa.Column("country_code", sa.String(2), primary_key=True),
        sa.Column("party_id", sa.String(3), primary_key=True),
        sa.Column("uid", sa.String(36), primary_key=True),
        sa.Column("type", sa.String(16), primary_key=True),
        sa.Column(
            "platform_id", sa.String(36), sa.ForeignKey("roaming.platforms.id"), nullable=False
        ),
        sa.Column("contract_id", sa.String(36), nullable=False),
        sa.Column("group_id", sa.String(36)),
        sa.Column("valid", sa.Boolean, nullable=False),
        sa.Column("whitelist", sa.String(16), nullable=False),
        sa.Column("document", sa.JSON, nullable=False),
        sa.Column("last_updated", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "received_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        schema="roaming",
    )
    op.create_index("tokens_contract_id", "tokens", ["contract_id"], schema="roaming")
    op.create_index("tokens_platform", "tokens", ["platform_id"], schema="roaming")


def downgrade() -> None:
    op.drop_table("tokens", schema="roaming")
