"""Schema `loads`: every table of the load-manager, on one `metadata` (Alembic's, the
migrations' `env.py`), in three parts:

- sites as trees of nodes with their limits, the stations on them, the stations whose events
  are followed, the events' outbox;
- the allocation: what the allocator knows of each EVSE of a station on a site
  (`evse_allocations`: the allocator's `EvseState`, allocation/state.py, as columns; every
  round reads and writes a site's rows under the site's lock, so whichever replica runs the
  next round starts from what the last one left) and the sites' minute samples;
- the stored profiles: the charging profiles stored per station, the command outstanding at
  each station, the comparisons of its profiles with what it holds, and the command requests
  on their way to `ocpp.command-requests` (an outbox of its own: command-api runs them,
  audited).
"""

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
    LargeBinary,
    MetaData,
    Numeric,
    Sequence,
    SmallInteger,
    String,
    Table,
    Text,
    false,
    func,
    text,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB

from csms_shared.bus.outbox import outbox_table

SCHEMA = "loads"
metadata = MetaData(schema=SCHEMA)

# A plain sequence, not an identity: a site's row names itself as its own site, so its id is
# drawn before the insert.
node_ids = Sequence("nodes_id_seq", metadata=metadata)

# A site is a node without a parent; a circuit or panel is a node under another of the same
# site. Exactly one limit: in A per phase (L2 and L3 only on a three-phase node) or in W. A
# single-phase node is fed from one grid phase (`grid_phase`, 1..3), as is everything under it.
nodes = Table(
    "nodes",
    metadata,
    Column("id", BigInteger, node_ids, primary_key=True, server_default=node_ids.next_value()),
    Column("site_id", BigInteger, ForeignKey("loads.nodes.id"), nullable=False),
    Column("parent_id", BigInteger, ForeignKey("loads.nodes.id")),
    Column("name", String(100), nullable=False),
    Column("limit_l1", Numeric(6, 1)),
    Column("limit_l2", Numeric(6, 1)),
    Column("limit_l3", Numeric(6, 1)),
    Column("limit_watts", BigInteger),
    Column("voltage", SmallInteger, nullable=False, server_default=text("230")),
    Column("phases", SmallInteger, nullable=False, server_default=text("3")),
    Column("grid_phase", SmallInteger),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("phases IN (1, 3)", name="ck_nodes_phases"),
    CheckConstraint(
        "(phases = 3 AND grid_phase IS NULL) OR (phases = 1 AND grid_phase BETWEEN 1 AND 3)",
        name="ck_nodes_grid_phase",
    ),
    CheckConstraint("(limit_l1 IS NULL) <> (limit_watts IS NULL)", name="ck_nodes_one_limit"),
    # At most 10,000 A per phase (rpc_loads.MAX_AMPS, as a limit in A): what a site's samples
    # hold.
    CheckConstraint(
        "limit_watts IS NULL OR limit_watts <= 10000 * voltage * phases",
        name="ck_nodes_limit_watts",
    ),
    CheckConstraint(
        "limit_l1 IS NULL OR (phases = 1 AND limit_l2 IS NULL AND limit_l3 IS NULL)"
        " OR (phases = 3 AND limit_l2 IS NOT NULL AND limit_l3 IS NOT NULL)",
        name="ck_nodes_limit_per_phase",
    ),
    CheckConstraint("(parent_id IS NULL) = (site_id = id)", name="ck_nodes_root"),
    Index("nodes_site", "site_id"),
    Index("nodes_parent", "parent_id"),
)
# Names are unique among siblings (sites among sites), in any case.
Index(
    "nodes_sibling_name",
    func.coalesce(nodes.c.parent_id, 0),
    func.lower(nodes.c.name),
    unique=True,
)

# A station on one node (at most one). `site_id` repeats its node's (a node never leaves its
# site), so the allocator reads a site's stations without walking the tree.
stations = Table(
    "stations",
    metadata,
    Column("charge_point_id", String(48), primary_key=True),
    Column("node_id", BigInteger, ForeignKey("loads.nodes.id"), nullable=False),
    Column("site_id", BigInteger, ForeignKey("loads.nodes.id"), nullable=False),
    Column("max_current", Numeric(6, 1)),
    Column("min_current", Numeric(6, 1)),
    Column("priority", SmallInteger, nullable=False, server_default=text("0")),
    # The EVSEs (1.6 connectors 1..n) the allocator shares among, and how they are wired: on
    # all three phases, or on one grid phase (1..3, rotation applied).
    Column("evses", SmallInteger, nullable=False, server_default=text("1")),
    Column("phases", SmallInteger, nullable=False, server_default=text("3")),
    Column("grid_phase", SmallInteger),
    # Learnt from the station's connections: the version to send limits in, and since when
    # its connection is down (None: connected, or never seen).
    Column("ocpp_version", String(8)),
    Column("offline_since", DateTime(timezone=True)),
    Column("assigned_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint(
        "min_current IS NULL OR max_current IS NULL OR min_current <= max_current",
        name="ck_stations_current",
    ),
    CheckConstraint("evses BETWEEN 1 AND 32", name="ck_stations_evses"),
    CheckConstraint(
        "(phases = 3 AND grid_phase IS NULL) OR (phases = 1 AND grid_phase BETWEEN 1 AND 3)",
        name="ck_stations_phases",
    ),
    Index("stations_node", "node_id"),
    Index("stations_site", "site_id"),
)

# The stations whose allocation events this service binds its events queue to, one by one
# (following.py): those on a site, and those with a stored TxProfile, which their
# transaction's end drops. A row is written before the queue is bound, in the transaction of
# the change that needs it; the sweep unbinds and deletes the rows nothing needs any more.
followed_stations = Table(
    "followed_stations",
    metadata,
    Column("charge_point_id", String(48), primary_key=True),
    Column("since", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

outbox = outbox_table(metadata)


# The allocation.

evse_allocations = Table(
    "evse_allocations",
    metadata,
    Column("charge_point_id", String(48), primary_key=True),
    Column("evse", SmallInteger, primary_key=True),
    Column("applied", Numeric(6, 1)),
    Column("in_flight", Numeric(6, 1)),
    Column("sent_at", DateTime(timezone=True)),
    # The requestId of the SetChargingProfile in flight: its command.completed closes it.
    Column("request_id", String(100)),
    Column("unresponsive", Boolean, nullable=False, server_default=true()),
    Column("failed_at", DateTime(timezone=True)),
    Column("session_started_at", DateTime(timezone=True)),
    # The session's id tag chargingPriority (the station's priority is added when sharing).
    Column("session_priority", SmallInteger),
    Column("suspended_by_ev", Boolean, nullable=False, server_default=false()),
    Column("underuse_since", DateTime(timezone=True)),
    Column("demand_cap", Numeric(6, 1)),
    Column("draw", Numeric(7, 1)),
    Column("measured_at", DateTime(timezone=True)),
    Column("target", Numeric(6, 1)),
    Column("paused", Boolean, nullable=False, server_default=false()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # The EV's state reported while no session was known, and when (allocation.EvReport).
    Column("ev_report_suspended", Boolean),
    Column("ev_report_at", DateTime(timezone=True)),
    # Since when its readings have been implausible, and ignored (allocation.plausible).
    Column("implausible_since", DateTime(timezone=True)),
)
Index(
    "evse_allocations_request",
    evse_allocations.c.request_id,
    unique=True,
    postgresql_where=text("request_id IS NOT NULL"),
)

# A site's limit, allocation and draw once a minute (the timer's rounds write them), kept
# `LOADS_SAMPLE_RETENTION_HOURS`: the chart of its last hours. Amps on the site's busiest phase.
site_samples = Table(
    "site_samples",
    metadata,
    Column("site_id", BigInteger, primary_key=True),
    Column("at", DateTime(timezone=True), primary_key=True),
    Column("limit_amps", Numeric(7, 1), nullable=False),
    Column("allocated_amps", Numeric(7, 1), nullable=False),
    Column("drawn_amps", Numeric(8, 1), nullable=False),
)


# The stored profiles.

# Drawn at each store: of two profiles that replace one another (1.6: same purpose, stack level
# and connector), the one stored later has the higher revision and wins.
profile_revisions = Sequence("charging_profile_revisions", metadata=metadata)

# One row per profile id of a station (ids name profiles per station in both versions). The
# profile itself is the suite's neutral model as JSON; the columns beside it are what queries
# pick rows by. `action`/`status`/... hold the last command about it and the station's answer.
charging_profiles = Table(
    "charging_profiles",
    metadata,
    Column("charge_point_id", String(48), primary_key=True),
    Column("profile_id", BigInteger, primary_key=True),
    Column("connector_id", BigInteger, nullable=False),
    Column("purpose", String(32), nullable=False),
    Column("stack_level", BigInteger, nullable=False),
    Column("profile", JSONB, nullable=False),
    Column("ocpp_version", String(8), nullable=False),
    Column("revision", BigInteger, nullable=False),
    Column("action", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    # The requestId of the command on ocpp.command-requests (none: nothing was sent; with
    # status `pending`, queued behind the station's outstanding command).
    Column("request_id", String(100)),
    Column("command_id", String(64)),
    Column("outcome", String(32)),
    Column("response", JSONB),
    Column("reason", Text),
    Column("requested_at", DateTime(timezone=True), nullable=False),
    Column("answered_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint(
        "action IN ('SetChargingProfile', 'ClearChargingProfile')",
        name="ck_charging_profiles_action",
    ),
    CheckConstraint(
        "status IN ('pending', 'accepted', 'rejected', 'failed')",
        name="ck_charging_profiles_status",
    ),
    CheckConstraint("ocpp_version IN ('1.6', '2.0.1')", name="ck_charging_profiles_version"),
    Index("charging_profiles_target", "charge_point_id", "connector_id", "purpose", "stack_level"),
    Index(
        "charging_profiles_request",
        "request_id",
        unique=True,
        postgresql_where=text("request_id IS NOT NULL"),
    ),
)

# One row per station that was sent a command or seen connecting: the one command about its
# profiles on its way (at most one, so that they reach it in the order they were decided:
# command-api runs requests concurrently), and its last connection (`station.connected`).
profile_stations = Table(
    "profile_stations",
    metadata,
    Column("charge_point_id", String(48), primary_key=True),
    Column("request_id", String(100)),
    Column("requested_at", DateTime(timezone=True)),
    Column("connected_at", DateTime(timezone=True)),
    Index(
        "profile_stations_outstanding",
        "requested_at",
        postgresql_where=text("request_id IS NOT NULL"),
    ),
)

# One row per station whose stored profiles are being compared with what it holds, after it
# came back (`profile_checks.py`): 2.0.1 asks GetChargingProfiles and collects the
# ReportChargingProfiles that answer it; 1.6 asks GetCompositeSchedule connector by connector.
# The ask takes the station's one outstanding command (`profile_stations`) until it is done.
profile_checks = Table(
    "profile_checks",
    metadata,
    Column("charge_point_id", String(48), primary_key=True),
    Column("ocpp_version", String(8), nullable=False),
    # A boot asked for it: a profile the station rejected before is sent again too.
    Column("boot", Boolean, nullable=False),
    # The requestId of the ask on its way (none: it waits for the station's outstanding command).
    Column("request_id", String(100)),
    # 2.0.1: GetChargingProfiles' requestId, which each ReportChargingProfiles repeats.
    Column("report_id", BigInteger),
    # 1.6: the connectors still to ask (the first is being asked), those whose composite
    # schedule matched the stored profiles' and those where it differed.
    Column("connectors", JSONB, nullable=False, server_default=text("'[]'")),
    Column("matched", JSONB, nullable=False, server_default=text("'[]'")),
    Column("differing", JSONB, nullable=False, server_default=text("'[]'")),
    # 2.0.1: the profiles reported so far, in the suite's terms (connector = the EVSE).
    Column("reported", JSONB, nullable=False, server_default=text("'[]'")),
    Column("started_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("ocpp_version IN ('1.6', '2.0.1')", name="ck_profile_checks_version"),
)

# Command requests, written in the transaction that decided them and published after it
# commits (`commands.relay_commands`): a profile is never stored without its command, nor a
# command sent for a change that rolled back.
command_outbox = Table(
    "command_outbox",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("routing_key", String(200), nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
