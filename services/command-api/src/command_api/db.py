"""Schema `commands`: the command audit log, operator API keys, the outbox."""

from __future__ import annotations

from sqlalchemy import (
    Column,
    DateTime,
    Float,
    Index,
    MetaData,
    String,
    Table,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB

from csms_shared.bus.outbox import outbox_table

SCHEMA = "commands"
metadata = MetaData(schema=SCHEMA)

commands = Table(
    "commands",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("charge_point_id", String(48), nullable=False),
    Column("action", String(40), nullable=False),
    Column("request", JSONB, nullable=False),
    # pending -> result | error | invalid | timeout | offline | unknown_charge_point |
    # disconnected | busy | lost
    Column("status", String(24), nullable=False),
    Column("response", JSONB),
    Column("error_code", String(40)),
    Column("error_description", Text),
    Column("error_details", JSONB),
    Column("requested_by", String(100), nullable=False),
    Column("gateway_latency_ms", Float),
    Column("timeout_seconds", Float, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("completed_at", DateTime(timezone=True)),
    Index("ix_commands_cp_created", "charge_point_id", "created_at"),
    Index("ix_commands_created", "created_at"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("role", String(16), nullable=False),
    # sha256 of the key: keys are 256-bit random tokens, so a fast hash is not guessable.
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(12), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("created_by", String(100)),
    Column("revoked_at", DateTime(timezone=True)),
)

outbox = outbox_table(metadata)
