"""roaming_tokens: the tokens eMSPs pushed over OCPI (followed from roaming.token_changed), a
source the authorization decision asks for an id token the list does not hold

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-26 20:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "roaming_tokens",
        sa.Column("country_code", sa.String(2), primary_key=True),
        sa.Column("party_id", sa.String(3), primary_key=True),
        sa.Column("uid", sa.String(36), primary_key=True),
        sa.Column("type", sa.String(16), primary_key=True),
        sa.Column("uid_key", sa.String(36), nullable=False),
        sa.Column("contract_id", sa.String(36), nullable=False),
        sa.Column("valid", sa.Boolean, nullable=False),
        sa.Column("whitelist", sa.String(16), nullable=False),
        sa.Column("last_updated", sa.DateTime(timezone=True), nullable=False),
        schema="sessions",
    )
    op.create_index("roaming_tokens_uid_key", "roaming_tokens", ["uid_key"], schema="sessions")


def downgrade() -> None:
    op.drop_table("roaming_tokens", schema="sessions")
