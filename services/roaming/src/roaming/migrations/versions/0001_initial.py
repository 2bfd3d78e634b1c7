"""schema roaming: OCPI platforms (credentials both ways, version, endpoints) and their roles

Revision ID: 0001
Revises:
Create Date: 2026-11-26 20:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts(name: str, **kw: object) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), **kw)  # type: ignore[arg-type]


def upgrade() -> None:
    op.create_table(
        "platforms",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("token_hash", sa.String(64)),
        sa.Column("pending_token_hash", sa.String(64)),
        sa.Column("their_token", sa.String(64)),
        sa.Column("versions_url", sa.String(255)),
        sa.Column("version", sa.String(8)),
        sa.Column("endpoints", sa.JSON),
        _ts("created_at", nullable=False, server_default=sa.func.now()),
        _ts("registered_at"),
        _ts("updated_at", nullable=False, server_default=sa.func.now()),
        _ts("unregistered_at"),
        sa.Column("unregistered_by", sa.String(8)),
        schema="roaming",
    )
    op.create_index(
        "platforms_token_hash",
        "platforms",
        ["token_hash"],
        unique=True,
        postgresql_where=sa.text("token_hash IS NOT NULL"),
        schema="roaming",
    )
    op.create_index(
        "platforms_pending_token_hash",
        "platforms",
        ["pending_token_hash"],
        unique=True,
        postgresql_where=sa.text("pending_token_hash IS NOT NULL"),
        schema="roaming",
    )
    op.create_table(
        "platform_roles",
        sa.Column(
            "platform_id",
            sa.String(36),
            sa.ForeignKey("roaming.platforms.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("role", sa.String(8), nullable=False),
        sa.Column("country_code", sa.String(2), nullable=False),
        sa.Column("party_id", sa.String(3), nullable=False),
        sa.Column("business_details", sa.JSON, nullable=False),
        schema="roaming",
    )
    op.create_index(
        "platform_roles_party",
        "platform_roles",
        ["country_code", "party_id", "role"],
        unique=True,
        schema="roaming",
    )
    op.create_index("platform_roles_platform", "platform_roles", ["platform_id"], schema="roaming")


def downgrade() -> None:
    op.drop_table("platform_roles", schema="roaming")
    op.drop_table("platforms", schema="roaming")
