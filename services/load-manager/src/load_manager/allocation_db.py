"""Schema `loads`: what the allocator knows of each EVSE of a station on a site.

One row per EVSE, the allocator's `EvseState` (allocation/state.py) as columns: the limit the
station acknowledged and the one on its way, its session, its last reading, and the target
and pause of the last round. Every round reads and writes a site's rows under the site's
lock, so whichever replica runs the next round starts from what the last one left.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Numeric,
    SmallInteger,
    String,
    Table,
    false,
    func,
    text,
    true,
)

from .db import metadata

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
