"""Schema `loads`: sites as trees of nodes with their limits, the stations on them, the outbox."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    MetaData,
    Numeric,
    Sequence,
    SmallInteger,
    String,
    Table,
    func,
    text,
)

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

from . import (  # noqa: E402, F401 - the other tables, on `metadata`
    allocation_db,
    profiles_db,
)
