"""Schema `commands`: the command audit log and batches, operator API keys, webhooks, the
outbox."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

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
    # A back office's own id of a request from `ocpp.command-requests`: one command per
    # (requester, requestId), however often the broker redelivers the request.
    Column("request_id", String(100)),
    # The fleet-wide command this one is part of.
    Column("batch_id", String(36)),
    # The OCPP version the request was checked against ("1.6", "2.0.1").
    Column("ocpp_version", String(8)),
    Index("ix_commands_cp_created", "charge_point_id", "created_at"),
    Index("ix_commands_created", "created_at"),
    Index(
        "ux_commands_request",
        "requested_by",
        "request_id",
        unique=True,
        postgresql_where=text("request_id IS NOT NULL"),
    ),
    Index("ix_commands_batch", "batch_id", postgresql_where=text("batch_id IS NOT NULL")),
)

command_batches = Table(
    "command_batches",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("action", String(40), nullable=False),
    Column("request", JSONB, nullable=False),
    Column("charge_point_ids", JSONB, nullable=False),
    # [{chargePointId, status, reason}] of the CPs refused before a command was recorded.
    Column("refused", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("requested_by", String(100), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

webhooks = Table(
    "webhooks",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("url", Text, nullable=False),
    Column("events", JSONB, nullable=False),  # patterns: "transaction.*", "command.completed"
    # The HMAC key; kept as given, since signing needs it; never shown again.
    Column("secret", Text, nullable=False),
    Column("enabled", Boolean, nullable=False, server_default=text("true")),
    Column("created_by", String(100), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # Since when every attempt failed; reset by a success. A day of it disables the webhook.
    Column("failing_since", DateTime(timezone=True)),
    Column("disabled_at", DateTime(timezone=True)),
    Column("disabled_reason", Text),
    # The endpoint's own backoff: failures in a row that say the receiver is unwell (no answer,
    # 5xx, 408, 429), reset by a success, and until when it gets nothing (then one probe).
    Column("consecutive_failures", Integer, nullable=False, server_default=text("0")),
    Column("paused_until", DateTime(timezone=True)),
)

# The binding keys `command-api.webhook-events` has on `ocpp.events` (the broker cannot be
# asked): what the enabled webhooks' patterns need, kept in step by `Webhooks.sync_bindings`.
webhook_bindings = Table(
    "webhook_bindings",
    metadata,
    Column("binding_key", String(200), primary_key=True),
)

# The Local Authorization List each CP was last synchronised to (`parent_id_tags`, lower case;
# None: every id tag; `roaming_tokens`: and the tokens eMSPs pushed), and whether an id tag
# (or roaming token) of that scope changed since (`stale`): with API_LOCAL_LIST_RESYNC on, a
# stale list is synchronised again once `due_at` has come.
local_list_syncs = Table(
    "local_list_syncs",
    metadata,
    Column("charge_point_id", String(48), primary_key=True),
    Column("parent_id_tags", ARRAY(String(36))),
    Column("roaming_tokens", Boolean, nullable=False, server_default=text("false")),
    Column("synced_at", DateTime(timezone=True), nullable=False),
    Column("stale", Boolean, nullable=False, server_default=text("false")),
    Column("due_at", DateTime(timezone=True)),
    # Counts the times it was marked stale: a sync clears `stale` only if none came meanwhile.
    Column("generation", BigInteger, nullable=False, server_default=text("0")),
    Index("ix_local_list_syncs_due", "due_at", postgresql_where=text("stale")),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column(
        "webhook_id",
        String(36),
        ForeignKey("webhooks.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("event_id", String(100), nullable=False),
    Column("event_type", String(100), nullable=False),
    # Deliveries of one webhook and charge point go out one after the other, in event order.
    Column("ordering_key", String(100), nullable=False),
    Column("body", Text, nullable=False),  # the exact bytes signed and sent
    # pending -> delivered | cancelled (the webhook was disabled or deleted)
    Column("status", String(16), nullable=False, server_default="pending"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # A replica that claimed the row owns it until then (it may have died mid-request).
    Column("leased_until", DateTime(timezone=True)),
    Column("last_status_code", Integer),
    Column("last_error", Text),
    # Since its first failed attempt: this long, it disables the webhook (it holds back its
    # CP's later events while other CPs' successes keep the webhook's own failing_since unset).
    Column("failing_since", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("delivered_at", DateTime(timezone=True)),
    Index("ux_webhook_deliveries_event", "webhook_id", "event_id", unique=True),
    Index(
        "ix_webhook_deliveries_due",
        "next_attempt_at",
        postgresql_where=text("status = 'pending'"),
    ),
    Index(
        "ix_webhook_deliveries_order",
        "webhook_id",
        "ordering_key",
        "id",
        postgresql_where=text("status = 'pending'"),
    ),
    # Each endpoint's own queue: its pending deliveries in order (`webhook_queue.claim`).
    Index(
        "ix_webhook_deliveries_pending",
        "webhook_id",
        "id",
        postgresql_where=text("status = 'pending'"),
    ),
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
