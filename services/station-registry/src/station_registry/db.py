"""Schema `registry`: charge points, connectors, status history, gateways, outbox."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Computed,
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
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from csms_shared.bus.outbox import outbox_table

SCHEMA = "registry"
metadata = MetaData(schema=SCHEMA)


# Every time this schema stores, and the type of bind parameters that carry one.
TIMESTAMP = DateTime(timezone=True)


def _ts(name: str, **kw: object) -> Column[object]:
    return Column(name, TIMESTAMP, **kw)  # type: ignore[arg-type]


# The fields `?q=` searches (csms_shared ILIKE semantics), one text apart by U+001F.
SEARCH_TEXT = (
    "lower(id || chr(31) || coalesce(name, '') || chr(31) || coalesce(description, '')"
    " || chr(31) || coalesce(vendor, '') || chr(31) || coalesce(model, '')"
    " || chr(31) || coalesce(address::text, ''))"
)

charge_points = Table(
    "charge_points",
    metadata,
    Column("id", String(48), primary_key=True),
    Column("vendor", String(50)),  # 1.6 allows 20 characters, 2.0.1's vendorName 50
    Column("model", String(20)),
    Column("serial_number", String(25)),
    Column("charge_box_serial_number", String(25)),
    Column("firmware_version", String(50)),
    Column("iccid", String(20)),
    Column("imsi", String(20)),
    Column("meter_type", String(25)),
    Column("meter_serial_number", String(25)),
    Column("registration_status", String(16)),
    # Why it last booted: 2.0.1's BootReason (PowerUp, Watchdog, ...); 1.6 does not say.
    Column("last_boot_reason", String(24)),
    # The OCPP version its connection speaks: "1.6" or "2.0.1" (the agreed subprotocol);
    # NULL until it first connects or boots (never assumed).
    Column("ocpp_version", String(8)),
    _ts("first_seen_at", nullable=False, server_default=func.now()),
    _ts("last_boot_at"),
    _ts("last_seen_at"),
    Column("online", Boolean, nullable=False, server_default="false"),
    Column("gateway", String(100)),
    Column("connection_id", String(64)),
    _ts("connected_at"),
    _ts("disconnected_at"),
    # Offline because its gateway went silent and its broker connection was gone, not because it
    # disconnected: the gateway's next beat (from the same process) puts it back online.
    Column("offline_by_sweep", Boolean, nullable=False, server_default="false"),
    # Security: the profile the CP must connect with (0-3) and its AuthorizationKey, hashed.
    Column("security_profile", Integer, nullable=False, server_default="0"),
    Column("auth_key_hash", String(200)),
    _ts("auth_key_updated_at"),
    # A new key sent to the CP (ChangeConfiguration AuthorizationKey) and not yet confirmed:
    # accepted beside the current one until the CP answers.
    Column("auth_key_pending_hash", String(200)),
    # What an operator says about the CP (PATCH /charge-points/{id}); nothing the CP reports.
    Column("name", String(100)),
    Column("description", Text),
    Column("address", JSONB),  # {street, postalCode, city, country}
    Column("latitude", Float),
    Column("longitude", Float),
    Column("timezone", String(64)),  # IANA, e.g. Europe/Berlin
    Column("tags", ARRAY(String(64)), nullable=False, server_default="{}"),
    # Decommissioned: refused at the handshake and left out of lists; its history stays.
    _ts("decommissioned_at"),
    # What `?q=` searches, lower case, fields apart: one trigram index serves every search.
    Column("search_text", Text, Computed(SEARCH_TEXT, persisted=True)),
    Index("ix_charge_points_gateway_online", "gateway", "online"),
    Index(
        "ix_charge_points_search",
        "search_text",
        postgresql_using="gin",
        postgresql_ops={"search_text": "gin_trgm_ops"},
    ),
    Index("ix_charge_points_tags", "tags", postgresql_using="gin"),
    Index("ix_charge_points_swept", "gateway", postgresql_where=text("offline_by_sweep")),
)

connectors = Table(
    "connectors",
    metadata,
    Column(
        "charge_point_id",
        String(48),
        ForeignKey(charge_points.c.id, ondelete="CASCADE"),
        primary_key=True,
    ),
    # For a 2.0.1 station the EVSE: what 1.6 calls a connector (0: the whole station).
    Column("connector_id", BigInteger, primary_key=True),
    # 2.0.1: the connector within that EVSE that last reported (an EVSE has one status here).
    Column("evse_connector_id", Integer),
    Column("status", String(20)),
    Column("error_code", String(30)),
    Column("info", String(50)),
    Column("vendor_id", String(255)),
    Column("vendor_error_code", String(50)),
    _ts("status_at"),
    Column("availability", String(12), nullable=False, server_default="Operative"),
    # When the command that set `availability` completed: an older one changes it no more.
    _ts("availability_at"),
    Column("connector_type", String(20)),  # Type2, CCS2, CHAdeMO, ... (operator's data)
    Column("max_power_kw", Float),
)

# Every connector of every EVSE in our terms (docs/vocabulary.md): its own status, what a car on
# it is doing, what is wrong. `connectors` above keeps the EVSE-level 1.6-shaped view (and the
# station, connector 0) until the 1.6-shaped documents go.
evse_connectors = Table(
    "evse_connectors",
    metadata,
    Column(
        "charge_point_id",
        String(48),
        ForeignKey(charge_points.c.id, ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("evse_id", BigInteger, primary_key=True),
    Column("connector_id", Integer, primary_key=True),
    Column("status", String(12), nullable=False),  # Available, Occupied, Reserved, ...
    Column("charging_state", String(14)),  # EVConnected, Charging, ... (Occupied only)
    Column("error_code", String(30), nullable=False),
    Column("info", String(50)),
    Column("vendor_error_code", String(50)),
    _ts("status_at", nullable=False),
    # When the charging state was last told (StatusNotification or TransactionEvent).
    _ts("charging_state_at"),
)

status_history = Table(
    "status_history",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("charge_point_id", String(48), nullable=False),
    Column("connector_id", BigInteger, nullable=False),  # 2.0.1: the EVSE, as in `connectors`
    Column("evse_connector_id", Integer),
    Column("status", String(20), nullable=False),
    Column("error_code", String(30), nullable=False),
    Column("info", String(50)),
    Column("vendor_id", String(255)),
    Column("vendor_error_code", String(50)),
    # In our terms (docs/vocabulary.md): the connector's status, the car's charging state when
    # the notification told one (1.6's Preparing..Finishing), our error code. NULL in rows
    # written before they were (and by a registry of the release before, during an upgrade):
    # read from the 1.6 spelling then (`rpc_charge_points.status_record`).
    Column("connector_status", String(20)),
    Column("charging_state", String(20)),
    Column("connector_error_code", String(30)),
    _ts("timestamp", nullable=False),
    _ts("received_at", nullable=False, server_default=func.now()),
    Index("ix_status_history_received_at", "received_at"),  # retention deletes by age
    # A CP re-sending the same notification records it once; each connector of an EVSE has its
    # own (1.6's have none: NULL is one value here).
    UniqueConstraint(
        "charge_point_id",
        "connector_id",
        "evse_connector_id",
        "timestamp",
        "status",
        "error_code",
        name="uq_status",
        postgresql_nulls_not_distinct=True,
    ),
)

gateways = Table(
    "gateways",
    metadata,
    Column("id", String(100), primary_key=True),
    _ts("started_at", nullable=False, server_default=func.now()),
    _ts("last_beat_at", nullable=False, server_default=func.now()),
    Column("beat_interval", Float, nullable=False, server_default="5"),
    Column("connections", Integer, nullable=False, server_default="0"),
    _ts("stopped_at"),
    # Its beats overdue, the presence sweep found its queue on the broker (its AMQP connection
    # lives) at this time; cleared by its next beat or once the queue is gone (sweeper.py).
    _ts("connection_seen_at"),
)

# The CP's configuration as last read (GetConfiguration) or changed (ChangeConfiguration).
configuration = Table(
    "configuration",
    metadata,
    Column(
        "charge_point_id",
        String(48),
        ForeignKey(charge_points.c.id, ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("key", String(50), primary_key=True),
    Column("value", String(500)),
    Column("readonly", Boolean),
    _ts("updated_at", nullable=False, server_default=func.now()),
)

# An OCPP 2.0.1 station's device model: one row per component, variable and attribute, as
# NotifyReport described it and GetVariables/SetVariables last showed or changed it. The key
# has no NULLs: '' for no instance, 0 for no EVSE or connector.
variables = Table(
    "variables",
    metadata,
    Column(
        "charge_point_id",
        String(48),
        ForeignKey(charge_points.c.id, ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("component", String(50), primary_key=True),
    Column("component_instance", String(50), primary_key=True, server_default=""),
    Column("evse_id", Integer, primary_key=True, server_default="0"),
    Column("connector_id", Integer, primary_key=True, server_default="0"),
    Column("variable", String(50), primary_key=True),
    Column("variable_instance", String(50), primary_key=True, server_default=""),
    Column("attribute_type", String(8), primary_key=True, server_default="Actual"),
    Column("value", String(2500)),
    Column("mutability", String(10)),
    Column("persistent", Boolean),
    Column("constant", Boolean),
    Column("data_type", String(20)),
    Column("unit", String(16)),
    Column("min_limit", Float),
    Column("max_limit", Float),
    Column("values_list", String(1000)),
    Column("supports_monitoring", Boolean),
    _ts("updated_at", nullable=False, server_default=func.now()),
)

# Security events: what CPs report (SecurityEventNotification) and what the CSMS saw.
security_events = Table(
    "security_events",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("charge_point_id", String(48), nullable=False),
    Column("type", String(50), nullable=False),
    Column("tech_info", String(255)),
    Column("source", String(8), nullable=False),  # "cp" or "csms"
    # A refused handshake's client address; `count`: the refusals this row stands for (one row
    # per CP, type and address a minute, so a guesser cannot fill the table).
    Column("address", String(64)),
    Column("count", Integer, nullable=False, server_default="1"),
    _ts("bucket"),  # the minute a refusal row counts for (NULL for any other event)
    _ts("timestamp", nullable=False),
    _ts("received_at", nullable=False, server_default=func.now()),
    Index("ix_security_events_cp_time", "charge_point_id", "timestamp"),
    Index("ix_security_events_time", "timestamp"),  # the network's latest (the overview)
    Index("ix_security_events_received_at", "received_at"),  # retention
    Index(
        "ux_security_events_refusal_minute",
        "charge_point_id",
        "type",
        "address",
        "bucket",
        unique=True,
        postgresql_where=text("bucket IS NOT NULL"),
    ),
)

# Firmware updates, diagnostics and log uploads an operator started (one row per command),
# with the latest status the CP reported; every report is kept in operation_statuses.
operations = Table(
    "operations",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("charge_point_id", String(48), nullable=False),
    Column("kind", String(16), nullable=False),  # diagnostics | firmware | signed_firmware | log
    Column("request_id", BigInteger),
    Column("command_id", String(36)),
    Column("detail", String(512)),  # file name, firmware location
    Column("status", String(32), nullable=False),
    _ts("requested_at", nullable=False, server_default=func.now()),
    _ts("status_at", nullable=False, server_default=func.now()),
    UniqueConstraint("command_id", name="uq_operations_command"),
    Index("ix_operations_cp_kind", "charge_point_id", "kind", "id"),
)

operation_statuses = Table(
    "operation_statuses",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("charge_point_id", String(48), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("operation_id", BigInteger),
    Column("request_id", BigInteger),
    Column("status", String(32), nullable=False),
    _ts("received_at", nullable=False),
    Index("ix_operation_statuses_cp", "charge_point_id", "id"),
)

data_transfers = Table(
    "data_transfers",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("charge_point_id", String(48), nullable=False),
    Column("vendor_id", String(255), nullable=False),
    Column("message_id", String(50)),
    Column("data", Text),
    Column("status", String(20), nullable=False),
    _ts("received_at", nullable=False),
    Index("ix_data_transfers_cp", "charge_point_id", "id"),
)

certificate_requests = Table(
    "certificate_requests",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("charge_point_id", String(48), nullable=False),
    Column("csr", Text, nullable=False),
    _ts("received_at", nullable=False),
    Index("ix_certificate_requests_cp", "charge_point_id", "id"),
)

# What a 2.0.1 station reports that has no table of its own (NotifyEvent, NotifyMonitoringReport,
# NotifyChargingLimit, ...): one row per message, its payload as sent;
# multi-part ones (requestId, seqNo, tbc) row by row. Pruned like the security events.
station_messages = Table(
    "station_messages",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("charge_point_id", String(48), nullable=False),
    Column("action", String(40), nullable=False),
    Column("request_id", BigInteger),
    Column("seq_no", Integer),
    Column("tbc", Boolean, nullable=False, server_default="false"),
    Column("payload", JSONB, nullable=False),
    _ts("received_at", nullable=False),
    Index("ix_station_messages_cp", "charge_point_id", "received_at", "id"),
    Index("ix_station_messages_received_at", "received_at"),  # retention
)

outbox = outbox_table(metadata)
