"""Schema `sessions`: id tags, transactions, meter values, reservations, review tables, outbox."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    PrimaryKeyConstraint,
    Sequence,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, ExcludeConstraint

from csms_shared.bus.outbox import outbox_table
from csms_shared.vocabulary.tokens import MAX_TOKEN_LENGTH

SCHEMA = "sessions"
metadata = MetaData(schema=SCHEMA)

# An id token: 36 characters (2.0.1 IdToken, eMAIDs; a 1.6 idTag has 20 at most).
ID_TAG = ID_TOKEN = MAX_TOKEN_LENGTH
STATION_TX = 36  # a 2.0.1 transactionId (String36)
CP_ID = 48
CP_TAG = 64  # a CP's tag (group), as the registry keeps it


def _ts(name: str, **kw: object) -> Column[object]:
    return Column(name, DateTime(timezone=True), **kw)  # type: ignore[arg-type]


# The authorization list. Id tags are unique and looked up case-insensitively (CiString).
id_tags = Table(
    "id_tags",
    metadata,
    Column("id_tag", String(ID_TAG), primary_key=True),
    Column("status", String(16), nullable=False, server_default="Accepted"),
    _ts("expiry_date"),
    Column("parent_id_tag", String(ID_TAG)),
    Column("max_concurrent_tx", Integer),  # None: no limit
    Column("note", String(200)),
    _ts("created_at", nullable=False, server_default=func.now()),
    _ts("updated_at", nullable=False, server_default=func.now()),
    # The 2.0.1 IdTokenEnumType a station must present it as; a 1.6 idTag is an ISO14443 UID.
    Column("type", String(20), nullable=False, server_default="ISO14443"),
    # OCPP 2.0.1 chargingPriority (-9..9, higher first): a site's allocator adds it to the
    # station's priority; 2.0.1 stations are told it.
    Column("charging_priority", SmallInteger, nullable=False, server_default="0"),
    CheckConstraint("charging_priority BETWEEN -9 AND 9", name="ck_id_tags_charging_priority"),
)
Index("ux_id_tags_lower", func.lower(id_tags.c.id_tag), unique=True)
Index("ix_id_tags_parent", func.lower(id_tags.c.parent_id_tag))

# Prices as data: a transaction is priced by the tariff in force for its CP when it starts
# (tariffs.py says which one wins) and keeps that price for good.
tariffs = Table(
    "tariffs",
    metadata,
    Column("id", Integer, Identity(start=1), primary_key=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("price_per_kwh", Numeric(12, 4), nullable=False),
    Column("session_fee", Numeric(12, 2), nullable=False, server_default="0"),
    Column("per_minute_fee", Numeric(12, 4), nullable=False, server_default="0"),
    # Per minute (by the second) of parking, on top of `per_minute_fee`: a transaction's time in
    # EVConnected, SuspendedEV or Idle (charging_states.py), never a pause the site causes.
    Column("parking_per_minute_fee", Numeric(12, 4), nullable=False, server_default="0"),
    Column("currency", String(3), nullable=False),
    # The VAT rate in percent; the prices exclude it (as OCPI's price components do). None: the
    # prices carry no VAT information, and a cost is their total.
    Column("vat", Numeric(5, 2)),
    _ts("valid_from"),  # None: since ever
    _ts("valid_to"),  # None: for good; exclusive
    Column("is_default", Boolean, nullable=False, server_default=text("false")),
    _ts("created_at", nullable=False, server_default=func.now()),
    _ts("updated_at", nullable=False, server_default=func.now()),
    CheckConstraint(
        "valid_to IS NULL OR valid_from IS NULL OR valid_from < valid_to", name="ck_tariffs_valid"
    ),
    CheckConstraint("vat BETWEEN 0 AND 100", name="ck_tariffs_vat"),
    # One default at any moment: defaults' validities never overlap (a NULL bound is unbounded).
    ExcludeConstraint(
        (func.tstzrange(text("valid_from"), text("valid_to"), text("'[)'")), "&&"),
        name="ex_tariffs_one_default",
        using="gist",
        where=text("is_default"),
    ),
)

# Which CPs a tariff prices: named one by one (`charge_point`) or by a tag the registry gives them.
tariff_assignments = Table(
    "tariff_assignments",
    metadata,
    Column("tariff_id", Integer, ForeignKey("tariffs.id", ondelete="CASCADE"), nullable=False),
    Column("target_kind", String(16), nullable=False),  # charge_point | tag
    Column("target", String(CP_TAG), nullable=False),
    PrimaryKeyConstraint("tariff_id", "target_kind", "target"),
    CheckConstraint("target_kind IN ('charge_point', 'tag')", name="ck_tariff_assignments_kind"),
    Index("ix_tariff_assignments_target", "target_kind", "target"),
)

# Each CP's tags, followed from the registry's `charge_point.updated` (the registry owns them).
charge_point_tags = Table(
    "charge_point_tags",
    metadata,
    Column("charge_point_id", String(CP_ID), primary_key=True),
    Column("tags", ARRAY(String(CP_TAG)), nullable=False, server_default="{}"),
    _ts("updated_at", nullable=False),
)

# The tokens eMSPs pushed over OCPI, as the roaming service publishes them
# (roaming.token_changed): a source the decision asks for an id token the list does not hold
# (roaming_tokens.py). Keyed by owner, upper-cased uid and type; `uid_key` is how a station's
# id token finds it (lower-cased, as the list's idTags are compared).
roaming_tokens = Table(
    "roaming_tokens",
    metadata,
    Column("country_code", String(2), primary_key=True),
    Column("party_id", String(3), primary_key=True),
    Column("uid", String(36), primary_key=True),
    Column("type", String(16), primary_key=True),
    Column("uid_key", String(36), nullable=False),
    Column("contract_id", String(36), nullable=False),
    Column("valid", Boolean, nullable=False),
    Column("whitelist", String(16), nullable=False),
    _ts("last_updated", nullable=False),
    Index("roaming_tokens_uid_key", "uid_key"),
)

# Of each page of `transactions`, the share filled by inserts: the rest takes the new versions
# of its rows (a running transaction is rewritten with every group of its meter data).
FILLFACTOR = 70

transactions = Table(
    "transactions",
    metadata,
    # OCPP's transactionId is a JSON integer; CPs keep it in 32 bits.
    Column("id", Integer, Identity(start=1), primary_key=True),
    Column("charge_point_id", String(CP_ID), nullable=False),
    Column("connector_id", Integer, nullable=False),
    # None: a 2.0.1 transaction nobody has identified himself for (yet).
    Column("id_tag", String(ID_TOKEN)),
    Column("id_tag_status", String(16)),  # idTagInfo.status answered at start
    Column("meter_start", BigInteger, nullable=False),
    _ts("start_time", nullable=False),
    Column("reservation_id", Integer),
    # The tariff at start (None: the SESSION_TARIFF_* fallback) and its prices, kept for good.
    Column(
        "tariff_id",
        Integer,
        ForeignKey("tariffs.id", ondelete="RESTRICT", name="fk_transactions_tariff"),
    ),
    Column("price_per_kwh", Numeric(12, 4), nullable=False),
    Column("session_fee", Numeric(12, 2), nullable=False),
    Column("per_minute_fee", Numeric(12, 4), nullable=False, server_default="0"),
    Column("parking_per_minute_fee", Numeric(12, 4), nullable=False, server_default="0"),
    Column("currency", String(3), nullable=False),
    Column("vat", Numeric(5, 2)),  # the tariff's VAT rate at start (None: none stated)
    # Where its first id token's decision came from: `list` (the authorization list), `roaming`
    # (a token an eMSP pushed over OCPI: `roaming_party` is that eMSP, CC-PID), `none` (no entry:
    # the unknown-token policy, or a token that needs none); NULL before migration 0014.
    Column("id_token_source", String(8)),
    Column("roaming_party", String(7)),
    _ts("last_seen_at", nullable=False),  # the last sign of life, by the service's clock
    Column("last_meter_wh", Numeric(20, 3)),  # newest Energy.Active.Import.Register reading
    _ts("last_meter_at"),
    Column("meter_stop", BigInteger),
    _ts("stop_time"),
    Column("stop_reason", String(20)),
    Column("stop_id_tag", String(ID_TOKEN)),
    Column("stopped_by", String(16)),  # ChargePoint | operator
    Column("close_reason", Text),
    Column("energy_wh", BigInteger),
    # What the driver pays, the figure a 2.0.1 station is told: incl. VAT when `vat` is set,
    # else the prices' total; `cost_excl_vat` beside it (None on stops from before migration
    # 0013: no VAT then, their `cost` is the net).
    Column("cost", Numeric(14, 2)),
    Column("cost_excl_vat", Numeric(14, 2)),
    # Seconds between start and stop spent parked (charging_states.py), set at the stop (None:
    # running, or stopped before migration 0015).
    Column("parking_seconds", Integer),
    _ts("stale_since"),
    Column("superseded_by", Integer),
    Column("warnings", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    _ts("created_at", nullable=False, server_default=func.now()),
    # "1.6" or "2.0.1". A 2.0.1 transaction's `connector_id` is its EVSE id (the EVSE is what
    # 1.6 calls a connector), `evse_connector_id` the connector of that EVSE.
    # Written by every insert with the version of the call that opened it (no default).
    Column("ocpp_version", String(8), nullable=False),
    # The CP-chosen transactionId of 2.0.1; None for 1.6 (the CP uses our `id`).
    Column("station_transaction_id", String(STATION_TX)),
    Column("evse_connector_id", Integer),
    Column("remote_start_id", Integer),
    # IdTokenEnumType (1.6: ISO14443; rows from before 0009 have None, read as ISO14443).
    Column("id_token_type", String(20)),
    # 2.0.1: what its TransactionEvents so far say (tx_fold.Fold), so the next one is added to
    # it instead of all being read back and folded again; None for 1.6.
    Column("event_fold", JSONB),
    # The chargingPriority of the id tag it started with (its first idToken's, for 2.0.1).
    Column("charging_priority", SmallInteger, nullable=False, server_default="0"),
    UniqueConstraint("charge_point_id", "station_transaction_id", name="uq_transactions_station"),
    # A re-sent 1.6 StartTransaction (same CP, connector, idTag, timestamp, meterStart) is the
    # same transaction; replicas racing on two copies meet here (INSERT ... ON CONFLICT). 1.6
    # rows only: an exclusion constraint, the only constraint with a WHERE (migration 0018).
    ExcludeConstraint(
        ("charge_point_id", "="),
        ("connector_id", "="),
        ("id_tag", "="),
        ("start_time", "="),
        ("meter_start", "="),
        name="uq_transactions_start",
        using="btree",
        where=text("station_transaction_id IS NULL"),
    ),
    Index("ix_transactions_cp_start", "charge_point_id", "start_time"),
    Index("ix_transactions_start", "start_time"),
    Index("ix_transactions_stop", "stop_time"),
    Index("ix_transactions_tariff", "tariff_id", postgresql_where=text("tariff_id IS NOT NULL")),
    Index(
        "ix_transactions_active_connector",
        "charge_point_id",
        "connector_id",
        postgresql_where=text("stop_time IS NULL"),
    ),
    # No index reads a column a sign of life writes (last seen, newest register, the 2.0.1
    # fold), so those updates, one per running transaction per group of meter data, are HOT:
    # no index entry each, and room left in each page for them (migration 0019).
    postgresql_with={"fillfactor": FILLFACTOR},
)
Index("ix_transactions_id_tag", func.lower(transactions.c.id_tag), transactions.c.start_time)

# What a car on a transaction's connector did and since when (ChargingState: EVConnected,
# Charging, SuspendedEV, SuspendedEVSE, Idle), of either version: 2.0.1's TransactionEvent
# chargingState, 1.6's StatusNotification (followed from `connector.status`). Insert-only: a
# copy of a report adds nothing, and the order reports arrive in does not matter, as the
# parking time is read from the times (charging_states.py).
charging_states = Table(
    "charging_states",
    metadata,
    Column("transaction_id", Integer, nullable=False),
    _ts("at", nullable=False),
    Column("state", String(16), nullable=False),
    PrimaryKeyConstraint("transaction_id", "at", "state"),
    # The sweep prunes them by their time (CHARGING_STATE_RETENTION).
    Index("ix_charging_states_at", "at"),
)

# Partitioned tables cannot have identity columns before Postgres 17: a plain sequence.
meter_value_ids = Sequence("meter_values_id_seq", metadata=metadata)

# Planned for millions of rows: narrow, no foreign keys, one multi-row INSERT per message,
# read by transaction or by connector in time order. One partition per UTC month of
# `received_at` (our clock: a CP's bogus timestamps never miss a partition), created ahead and
# dropped whole past retention (meter_partitions.py); the indexes on the parent are on each.
meter_values = Table(
    "meter_values",
    metadata,
    Column(
        "id",
        BigInteger,
        meter_value_ids,
        nullable=False,
        server_default=meter_value_ids.next_value(),
    ),
    Column("charge_point_id", String(CP_ID), nullable=False),
    Column("connector_id", Integer, nullable=False),
    Column("transaction_id", Integer),
    _ts("timestamp", nullable=False),
    Column("value", Text, nullable=False),
    Column("context", String(24)),
    Column("format", String(12)),
    Column("measurand", String(40)),
    Column("phase", String(8)),
    Column("location", String(8)),
    Column("unit", String(20)),
    # MeterValues | StopTransaction | TransactionEvent
    Column("source", String(16), nullable=False),
    _ts("received_at", nullable=False),
    # The meter's signature over the reading (2.0.1 signedMeterValue; 1.6: the value of a
    # sample of format SignedData), camelCase JSON; kept with the transaction for the bill.
    Column("signed", JSONB),
    # A partitioned table's keys must hold its partition key.
    PrimaryKeyConstraint("id", "received_at"),
    Index(
        "ix_meter_values_transaction",
        "transaction_id",
        "timestamp",
        postgresql_where=text("transaction_id IS NOT NULL"),
    ),
    Index("ix_meter_values_connector", "charge_point_id", "connector_id", "timestamp"),
    postgresql_partition_by="RANGE (received_at)",
)

# One row per MeterValues message stored: a redelivered or re-sent copy finds its digest here.
meter_value_messages = Table(
    "meter_value_messages",
    metadata,
    Column("charge_point_id", String(CP_ID), nullable=False),
    Column("digest", LargeBinary(32), nullable=False),
    _ts("received_at", nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("charge_point_id", "digest"),
    Index("ix_meter_value_messages_received", "received_at"),
)

# The 2.0.1 TransactionEvents applied: a copy (same station, transactionId, seqNo) finds its
# answer here and changes nothing. `summary` is what the event tells about its transaction
# (tx_events.EventSummary): the transaction is the fold of its events' summaries, whatever
# order they came in.
transaction_events = Table(
    "transaction_events",
    metadata,
    Column("charge_point_id", String(CP_ID), nullable=False),
    Column("station_transaction_id", String(STATION_TX), nullable=False),
    Column("seq_no", BigInteger, nullable=False),
    Column("transaction_id", Integer, nullable=False),
    Column("event_type", String(8), nullable=False),
    Column("summary", JSONB, nullable=False),
    Column("response", JSONB, nullable=False),
    Column("digest", LargeBinary(32), nullable=False),
    _ts("received_at", nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("charge_point_id", "station_transaction_id", "seq_no"),
    Index("ix_transaction_events_transaction", "transaction_id", "seq_no"),
)

reservations = Table(
    "reservations",
    metadata,
    Column("charge_point_id", String(CP_ID), nullable=False),
    Column("reservation_id", Integer, nullable=False),
    Column("connector_id", Integer, nullable=False),
    Column("id_tag", String(ID_TAG), nullable=False),
    Column("parent_id_tag", String(ID_TAG)),
    _ts("expiry_date", nullable=False),
    Column("status", String(16), nullable=False),  # Active | Used | Cancelled | Expired
    Column("command_id", String(64), nullable=False),  # the ReserveNow that made it
    _ts("reserved_at", nullable=False),
    Column("transaction_id", Integer),
    _ts("ended_at"),
    PrimaryKeyConstraint("charge_point_id", "reservation_id"),
    Index(
        "ix_reservations_active",
        "charge_point_id",
        "connector_id",
        postgresql_where=text("status = 'Active'"),
    ),
)

# Connectors a CP reported in StatusNotification (followed from `connector.status`).
connectors = Table(
    "connectors",
    metadata,
    Column("charge_point_id", String(CP_ID), nullable=False),
    Column("connector_id", Integer, nullable=False),
    _ts("first_seen_at", nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("charge_point_id", "connector_id"),
)

# StopTransactions that matched no transaction of their CP, or contradicted a stop already
# recorded: accepted (the CP would retry forever otherwise) and kept for an operator to review.
unmatched_stops = Table(
    "unmatched_stops",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("charge_point_id", String(CP_ID), nullable=False),
    Column("transaction_id", BigInteger),
    Column("kind", String(24), nullable=False),
    Column("id_tag", String(ID_TAG)),
    Column("meter_stop", BigInteger),
    _ts("timestamp", nullable=False),
    Column("reason", String(20)),
    Column("payload", JSONB, nullable=False),
    Column("digest", LargeBinary(32), nullable=False),
    _ts("received_at", nullable=False),
    UniqueConstraint("charge_point_id", "digest", name="uq_unmatched_stops_digest"),
    Index("ix_unmatched_stops_received", "received_at"),
)

# What happened to a transaction besides its start and stop: flags and operator actions.
transaction_audit = Table(
    "transaction_audit",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("transaction_id", Integer, nullable=False),
    Column("action", String(40), nullable=False),
    Column("actor", String(100), nullable=False),
    Column("reason", Text),
    Column("details", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    _ts("at", nullable=False, server_default=func.now()),
    Index("ix_transaction_audit_transaction", "transaction_id", "id"),
)

outbox = outbox_table(metadata)

# The version of each CP's Local Authorization List, as its answers to SendLocalList and
# GetLocalListVersion commands told us.
# What each CP's Local Authorization List holds, as the SendLocalLists it accepted made it: the
# base of a differential update.
local_list_entries = Table(
    "local_list_entries",
    metadata,
    Column("charge_point_id", String(CP_ID), primary_key=True),
    Column("id_tag", String(ID_TAG), primary_key=True),
    Column("status", String(16), nullable=False),
    _ts("expiry_date"),
    Column("parent_id_tag", String(ID_TAG)),
    # The token's type as sent (2.0.1 removes an entry by value and type); NULL in rows kept
    # before it was stored.
    Column("id_token_type", String(20)),
)

local_list_versions = Table(
    "local_list_versions",
    metadata,
    Column("charge_point_id", String(CP_ID), primary_key=True),
    Column("list_version", Integer, nullable=False),
    Column("source", String(24), nullable=False),  # the command that told us
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
