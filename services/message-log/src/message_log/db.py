"""Schema `messages`: the records (partitioned by day), the bundles stored, per-CP levels, the
outbox."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    Sequence,
    SmallInteger,
    String,
    Table,
    Text,
    func,
    text,
)

from csms_shared.bus.outbox import outbox_table

SCHEMA = "messages"
metadata = MetaData(schema=SCHEMA)

# Partitioned tables cannot have identity columns before Postgres 17: a plain sequence.
record_ids = Sequence("records_id_seq", metadata=metadata)

# Every frame and connection event, one partition per UTC day (partitions.py).
records = Table(
    "records",
    metadata,
    Column("id", BigInteger, record_ids, nullable=False, server_default=record_ids.next_value()),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("charge_point_id", String(48), nullable=False),
    Column("kind", String(16), nullable=False),  # csms_shared.bus.message_log.RecordKind
    Column("direction", String(3)),  # in, out; none for a connection's event
    Column("message_type", SmallInteger),
    Column("message_id", String(64)),
    Column("action", String(64)),
    # json, not jsonb: kept as the text it came as, not parsed into a tree on every insert.
    Column("payload", JSON),
    Column("raw", Text),  # a malformed frame's text
    Column("size", Integer, nullable=False),
    Column("gateway", String(200), nullable=False),
    Column("connection_id", String(64)),
    # INFO / WARNING / ERROR for what the system log shows (events, CALLERRORs); else null.
    Column("level", String(8)),
    # One index per CP: its pages, and (message_id included) a CALL and its answer.
    Index(
        "records_cp_at",
        "charge_point_id",
        text("at DESC"),
        text("id DESC"),
        postgresql_include=["message_id"],
    ),
    Index(
        "records_system_log",
        text("at DESC"),
        text("id DESC"),
        postgresql_where=text("level IS NOT NULL"),
    ),
    postgresql_partition_by="RANGE (at)",
)

# The bundles stored, by the message id their gateway gave them, written in the transaction of
# their records: a bundle delivered again (a writer that died between commit and ack, a
# publisher that sent it twice) is acked, not stored twice. One row per bundle, not per record;
# rows older than the retention go in the writer's maintenance.
bundles = Table(
    "bundles",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("stored_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("bundles_stored_at", "stored_at"),
)

# An admin's level for one CP; CPs without a row log at the gateways' default.
levels = Table(
    "levels",
    metadata,
    Column("charge_point_id", String(48), primary_key=True),
    Column("level", String(24), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

outbox = outbox_table(metadata)

# The columns the writer COPYs, in order.
COPY_COLUMNS = (
    "at",
    "charge_point_id",
    "kind",
    "direction",
    "message_type",
    "message_id",
    "action",
    "payload",
    "raw",
    "size",
    "gateway",
    "connection_id",
    "level",
)
