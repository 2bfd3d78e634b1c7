"""Schema `commands`, human side: users, console sessions, failed logins, signing keys."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    Table,
    Text,
    false,
    func,
)

from ..db import metadata

users = Table(
    "users",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("display_name", String(100), nullable=False),
    Column("password_hash", Text, nullable=False),
    Column("role", String(16), nullable=False),
    Column("disabled", Boolean, nullable=False, server_default=false()),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("created_by", String(100)),
    Column("last_login_at", DateTime(timezone=True)),
    Column("credentials_version", Integer, nullable=False, server_default="1"),
)

console_sessions = Table(
    "console_sessions",
    metadata,
    # sha256 of the session id the cookie carries: a leaked table opens no session.
    Column("id_hash", String(64), primary_key=True),
    Column("user_id", String(36), ForeignKey(users.c.id, ondelete="CASCADE"), nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Index("ix_console_sessions_user", "user_id"),
)

# The console's open live streams (`/live`, a CP's messages): a lease each, renewed while the
# stream runs, so the per-user cap counts every replica's streams and a dead replica's lapse.
console_streams = Table(
    "console_streams",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("user_id", String(36), ForeignKey(users.c.id, ondelete="CASCADE"), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Index("ix_console_streams_user", "user_id", "expires_at"),
)

login_failures = Table(
    "login_failures",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("subject", String(120), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("ix_login_failures_subject_at", "subject", "at"),
)

signing_keys = Table(
    "signing_keys",
    metadata,
    Column("name", String(40), primary_key=True),
    Column("secret", String(128), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
