"""authorizations: each real-time authorization asked of an eMSP, and its answer

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-27 06:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "authorizations",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column(
            "platform_id",
            sa.String(36),
            sa.ForeignKey("roaming.platforms.id", ondelete="CASCADE"),
        ),
        sa.Column("country_code", sa.String(2), nullable=False),
        sa.Column("party_id", sa.String(3), nullable=False),
        sa.Column("uid", sa.String(36), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("charge_point_id", sa.String(48), nullable=False),
        sa.Column("location_id", sa.String(36)),
        sa.Column("allowed", sa.String(16)),
        sa.Column("authorization_reference", sa.String(36)),
        sa.Column("reason", sa.String(300)),
        sa.Column("asked_at", sa.DateTime(timezone=True), nullable=False),
        schema="roaming",
    )
    op.create_index(
        "authorizations_token_station",
        "authorizations",
        ["uid", "charge_point_id", "asked_at"],
        schema="roaming",
    )
    op.create_index("authorizations_asked", "authorizations", ["asked_at"], schema="roaming")


def downgrade() -> None:
    op.drop_table("authorizations", schema="roaming")
