"""A site's allocation state in schema `loads`: read under the site's lock, written back.

The state survives any replica: a round reads the nodes, the stations and every EVSE's row,
applies what happened, plans, and writes back the rows that changed, in the transaction that
queued its SetChargingProfiles. A replica that dies mid-round rolls all of it back, so the next
round, on whichever replica, starts from the last committed one: never from a send it does
not know about.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_FLOOR, Decimal
from typing import Any, TypedDict

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from csms_shared.ocpp.version import OcppVersion

from ..db import evse_allocations, nodes, site_samples, stations
from ..settings import Settings
from .core import (
    THREE_PHASE,
    AllocatorSettings,
    EvReport,
    Evse,
    EvseId,
    EvseState,
    Node,
    Phase,
    PhaseAmps,
    Plan,
    Session,
    Site,
    SiteState,
    Station,
    node_loads,
)

a = evse_allocations.c
STEP = Decimal("0.1")


def allocator_settings(settings: Settings) -> AllocatorSettings:
    """The core's knobs from the service's settings."""
    return AllocatorSettings(
        threshold=settings.allocation_threshold,
        offline_grace=timedelta(seconds=settings.allocation_offline_grace),
        retry_after=timedelta(seconds=settings.allocation_retry_after),
        underuse_after=timedelta(seconds=settings.allocation_underuse_after),
        headroom=settings.allocation_headroom,
        reading_factor=settings.allocation_reading_factor,
    )


def node_phases(row: Any) -> frozenset[Phase]:
    """The grid phases a node row carries: all three, or the one it is fed from."""
    return THREE_PHASE if row.phases == 3 else frozenset({Phase(row.grid_phase or 1)})


def node_limit(row: Any) -> PhaseAmps:
    """A node row's limit in A per phase: a watt limit is W / V / 3 per phase on a 3-phase
    node; a single-phase node's limit (A, or W / V) is on its grid phase, 0 on the others."""
    if row.limit_l1 is not None:
        if row.phases == 3:
            return PhaseAmps(row.limit_l1, row.limit_l2, row.limit_l3)
        per_phase = Decimal(row.limit_l1)
    else:
        watts = Decimal(row.limit_watts) / Decimal(row.voltage) / Decimal(row.phases)
        per_phase = watts.quantize(STEP, rounding=ROUND_FLOOR)
    if row.phases == 3:
        return PhaseAmps(per_phase, per_phase, per_phase)
    on = node_phases(row)
    return PhaseAmps(*(per_phase if phase in on else Decimal(0) for phase in Phase))


def evses_of(row: Any, settings: Settings) -> list[Evse]:
    """A station row's EVSEs as the allocator sees them."""
    maximum = row.max_current if row.max_current is not None else settings.default_max_current
    minimum = row.min_current if row.min_current is not None else settings.default_min_current
    phases = THREE_PHASE if row.phases == 3 else frozenset({Phase(row.grid_phase or 1)})
    return [
        Evse(EvseId(row.charge_point_id, n), maximum, min(minimum, maximum), phases)
        for n in range(1, row.evses + 1)
    ]


@dataclass(frozen=True, slots=True)
class Loaded:
    """A site's state as read, with what a round needs beside it."""

    site_id: int
    state: SiteState
    versions: Mapping[str, OcppVersion | None]
    request_ids: Mapping[EvseId, str | None]
    # The last round's target of each EVSE and the sessions it paused.
    targets: Mapping[EvseId, Decimal | None]
    paused: frozenset[EvseId]
    rows: Mapping[EvseId, tuple[object, ...]]


def _evse_state(row: Any) -> EvseState:
    session = None
    if row.session_started_at is not None:
        session = Session(
            row.session_started_at,
            row.session_priority or 0,
            row.suspended_by_ev,
            row.underuse_since,
            row.demand_cap,
        )
    return EvseState(
        applied=row.applied,
        in_flight=row.in_flight,
        sent_at=row.sent_at,
        unresponsive=row.unresponsive,
        failed_at=row.failed_at,
        session=session,
        draw=row.draw,
        measured_at=row.measured_at,
        ev_report=(
            None
            if row.ev_report_at is None
            else EvReport(bool(row.ev_report_suspended), row.ev_report_at)
        ),
        implausible_since=row.implausible_since,
    )


async def load(session: AsyncSession, settings: Settings, site_id: int) -> Loaded | None:
    """The site's state (None: no such site, or no station on it). Call under the site's lock."""
    node_rows = (await session.execute(select(nodes).where(nodes.c.site_id == site_id))).all()
    station_rows = (
        await session.execute(select(stations).where(stations.c.site_id == site_id))
    ).all()
    if not node_rows or not station_rows:
        return None
    site = Site.build(
        [
            Node(
                str(n.id),
                None if n.parent_id is None else str(n.parent_id),
                node_limit(n),
                node_phases(n),
            )
            for n in node_rows
        ],
        [Station(s.charge_point_id, str(s.node_id), s.priority) for s in station_rows],
        [evse for s in station_rows for evse in evses_of(s, settings)],
    )
    cps = [s.charge_point_id for s in station_rows]
    rows = {
        EvseId(r.charge_point_id, r.evse): r
        for r in (
            await session.execute(select(evse_allocations).where(a.charge_point_id.in_(cps)))
        ).all()
    }
    evses = {evse: _evse_state(rows[evse]) if evse in rows else EvseState() for evse in site.evses}
    state = SiteState(
        site,
        evses,
        {s.charge_point_id: s.offline_since for s in station_rows if s.offline_since},
        allocator_settings(settings),
    )
    return Loaded(
        site_id,
        state,
        {
            s.charge_point_id: None if s.ocpp_version is None else OcppVersion(s.ocpp_version)
            for s in station_rows
        },
        {evse: row.request_id for evse, row in rows.items()},
        {evse: row.target for evse, row in rows.items()},
        frozenset(evse for evse, row in rows.items() if row.paused),
        {
            evse: _values_key(_values(evses[evse], row.request_id, row.target, row.paused))
            for evse, row in rows.items()
            if evse in evses
        },
    )


class EvseRow(TypedDict):
    """An EVSE's row of `loads.evse_allocations` as a round writes it (its key aside)."""

    applied: Decimal | None
    in_flight: Decimal | None
    sent_at: datetime | None
    request_id: str | None
    unresponsive: bool
    failed_at: datetime | None
    session_started_at: datetime | None
    session_priority: int | None
    suspended_by_ev: bool
    underuse_since: datetime | None
    demand_cap: Decimal | None
    draw: Decimal | None
    measured_at: datetime | None
    target: Decimal | None
    paused: bool
    ev_report_suspended: bool | None
    ev_report_at: datetime | None
    implausible_since: datetime | None


def _values(
    live: EvseState, request_id: str | None, target: Decimal | None, paused: bool
) -> EvseRow:
    """An EVSE's row's columns."""
    session = live.session
    return {
        "applied": live.applied,
        "in_flight": live.in_flight,
        "sent_at": live.sent_at,
        "request_id": request_id,
        "unresponsive": live.unresponsive,
        "failed_at": live.failed_at,
        "session_started_at": None if session is None else session.started_at,
        "session_priority": None if session is None else session.tag_priority,
        "suspended_by_ev": False if session is None else session.suspended_by_ev,
        "underuse_since": None if session is None else session.underuse_since,
        "demand_cap": None if session is None else session.demand_cap,
        "draw": live.draw,
        "measured_at": live.measured_at,
        "target": target,
        "paused": paused,
        "ev_report_suspended": None if live.ev_report is None else live.ev_report.suspended_by_ev,
        "ev_report_at": None if live.ev_report is None else live.ev_report.at,
        "implausible_since": live.implausible_since,
    }


def _values_key(values: EvseRow) -> tuple[object, ...]:
    return tuple(value for _, value in sorted(values.items()))


async def save(
    session: AsyncSession,
    loaded: Loaded,
    state: SiteState,
    round_: Plan,
    request_ids: Mapping[EvseId, str | None],
    at: datetime,
) -> int:
    """Write back the EVSE rows a round changed, and the stations' offline times; how many
    EVSE rows were written."""
    written = 0
    for evse, live in state.evses.items():
        values = _values(
            live, request_ids.get(evse), round_.targets.get(evse), evse in round_.paused
        )
        if _values_key(values) == loaded.rows.get(evse):
            continue
        statement = insert(evse_allocations).values(
            charge_point_id=evse.station, evse=evse.evse, updated_at=at, **values
        )
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=[a.charge_point_id, a.evse], set_={**values, "updated_at": at}
            )
        )
        written += 1
    before = loaded.state.offline_since
    for station in state.site.stations:
        if before.get(station) != state.offline_since.get(station):
            await session.execute(
                stations.update()
                .where(stations.c.charge_point_id == station)
                .values(offline_since=state.offline_since.get(station), updated_at=func.now())
            )
    return written


def column_max(column: Any) -> Decimal:
    """The largest value a numeric(p, s) column holds."""
    digits, scale = int(column.type.precision), int(column.type.scale)
    return Decimal(10) ** (digits - scale) - Decimal(1).scaleb(-scale)


def saturated(value: Decimal, column: Any) -> Decimal:
    """`value` as a numeric column holds it, at most its largest (a chart saturates; a round
    never fails for a sum no column holds)."""
    return min(value, column_max(column))


async def record_sample(
    session: AsyncSession, site_id: int, state: SiteState, at: datetime
) -> None:
    """The site's sample of this minute (the first round of the minute writes it): its limit,
    what its EVSEs count for and what they draw, on its busiest phase. Each is bounded (a node's
    limit, an EVSE's maximum and its plausible readings are), but a sum over many EVSEs is not:
    a figure past its column's largest is kept as that."""
    root = next(node for node in state.site.nodes.values() if node.parent is None)
    allocated = node_loads(state, at)[root.id]
    drawn = sum((live.draw for live in state.evses.values() if live.draw is not None), Decimal(0))
    minute = at.replace(second=0, microsecond=0)
    c = site_samples.c
    statement = insert(site_samples).values(
        site_id=site_id,
        at=minute,
        limit_amps=saturated(max(root.limit.l1, root.limit.l2, root.limit.l3), c.limit_amps),
        allocated_amps=saturated(max(allocated.l1, allocated.l2, allocated.l3), c.allocated_amps),
        drawn_amps=saturated(drawn, c.drawn_amps),
    )
    await session.execute(statement.on_conflict_do_nothing())
