"""human accounts: users, console sessions, failed logins, the signing key

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 22:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOW = sa.text("now()")


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("display_name", sa.String(100), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("created_by", sa.String(100)),
        sa.Column("last_login_at", sa.DateTime(timezone=True)),
        # Bumped by a password change or reset: tokens and sessions issued before stop working.
        sa.Column("credentials_version", sa.Integer(), nullable=False, server_default="1"),
        schema="commands",
    )
    op.create_table(
        "console_sessions",
        sa.Column("id_hash", sa.String(64), primary_key=True),
        sa.Column(
            "user_id",
            sa.String(36),
            sa.ForeignKey("commands.users.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        schema="commands",
    )
    op.create_index("ix_console_sessions_user", "console_sessions", ["user_id"], schema="commands")
    op.create_table(
        "login_failures",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        # `user:<name>` or `addr:<address>`
        sa.Column("subject", sa.String(120), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        schema="commands",
    )
    op.create_index(
        "ix_login_failures_subject_at", "login_failures", ["subject", "at"], schema="commands"
    )
    op.create_table(
        "signing_keys",
        sa.Column("name", sa.String(40), primary_key=True),
        sa.Column("secret", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        schema="commands",
    )


def downgrade() -> None:
    op.drop_table("signing_keys", schema="commands")
    op.drop_table("login_failures", schema="commands")
    op.drop_table("console_sessions", schema="commands")
    op.drop_table("users", schema="commands")
