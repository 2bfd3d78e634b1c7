"""The suite's events as allocation events: each runs a round of the station's site.

Only the stations the load-manager follows send it these events (following.py): those on a
site, and those with a TxProfile. One on no site costs one indexed read and counts in
`csms_loads_unplaced_events_total`. Times are the load-manager's clock when the
event is handled (the core compares them with each other: offline grace, retry delay,
underuse), except a session's start, which orders admission, taken from the transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Sequence
from datetime import UTC, datetime

from prometheus_client import Counter
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from csms_shared.bus.rpc import RpcError
from csms_shared.contracts.events import (
    CommandCompleted,
    ConnectorStatus,
    MeterCurrent,
    StationDisconnected,
    TransactionChargingStateChanged,
    TransactionStarted,
    TransactionStopped,
)
from csms_shared.ocpp import v16, v201
from csms_shared.ocpp.version import OcppVersion
from csms_shared.vocabulary.connectors import ChargingState

from ..db import evse_allocations, profile_stations, stations
from ..settings import Settings
from ..sites.store import lock_site
from . import rounds
from .core import (
    Acknowledged,
    Event,
    EvseId,
    MeterRead,
    Rejected,
    SessionStarted,
    SessionStopped,
    StationBooted,
    StationOffline,
    StationOnline,
    StatusChanged,
    StatusReported,
    TimedOut,
    Undelivered,
)

log = logging.getLogger(__name__)

UNPLACED = Counter(
    "csms_loads_unplaced_events_total",
    "Allocation events of stations on no site (a TxProfile's station's transactions, a station"
    " taken off its site until the next sweep of the followed stations)",
)

s = stations.c
a = evse_allocations.c

# Outcomes after which the station surely did not apply the limit: it answered otherwise, or
# the command was refused before it left.
NOT_APPLIED = {"error", "unknown_charge_point", "busy", "rejected", "refused"}
# The command never left because the station was not connected: no rejection (the station
# said nothing), but news that it is offline; its return sends the limit at once.
UNDELIVERED = "offline"


def now() -> datetime:
    """The clock rounds run by."""
    return datetime.now(UTC)


async def site_of(session: AsyncSession, cp_id: str) -> int | None:
    """The site a station is on, if any."""
    return await session.scalar(select(s.site_id).where(s.charge_point_id == cp_id))


async def sites_of(session: AsyncSession, cp_ids: Collection[str]) -> dict[str, int]:
    """The site each of the stations is on (those on none left out)."""
    if not cp_ids:
        return {}
    rows = await session.execute(
        select(s.charge_point_id, s.site_id).where(s.charge_point_id.in_(sorted(cp_ids)))
    )
    return {row.charge_point_id: row.site_id for row in rows if row.site_id is not None}


async def feed(
    session: AsyncSession,
    settings: Settings,
    cp_id: str,
    events: Callable[[datetime], Sequence[Event]],
) -> bool:
    """Run a round of the station's site with the events made at the round's time; False when
    the station is on no site."""
    site_id = await site_of(session, cp_id)
    if site_id is None:
        return False
    at = now()
    await rounds.run(session, settings, site_id, events(at), at)
    return True


async def seen(session: AsyncSession, cp_id: str, version: OcppVersion) -> None:
    """Remember the version a station speaks, for the limits sent to it."""
    await session.execute(
        stations.update()
        .where(s.charge_point_id == cp_id, s.ocpp_version.is_distinct_from(version.value))
        .values(ocpp_version=version.value)
    )


async def booted(session: AsyncSession, settings: Settings, cp_id: str, v: OcppVersion) -> None:
    """A boot: the station's limits are unknown; every EVSE counts at its maximum until the
    failsafe share it is sent lands."""
    await seen(session, cp_id, v)
    await feed(session, settings, cp_id, lambda at: [StationBooted(cp_id, at)])


async def connected(session: AsyncSession, settings: Settings, cp_id: str, v: OcppVersion) -> None:
    """Back online: it kept its limits if it was away for less than the grace."""
    await seen(session, cp_id, v)
    await feed(session, settings, cp_id, lambda at: [StationOnline(cp_id, at)])


async def disconnected(
    session: AsyncSession, settings: Settings, event: StationDisconnected
) -> None:
    """Offline, unless a newer connection of the station was seen first (a takeover: the old
    connection's close arrives after the new one opened)."""
    newest = await session.scalar(
        select(profile_stations.c.connected_at).where(
            profile_stations.c.charge_point_id == event.charge_point_id
        )
    )
    if newest is not None and event.connected_at is not None and newest > event.connected_at:
        return
    cp_id = event.charge_point_id
    if not await feed(session, settings, cp_id, lambda at: [StationOffline(cp_id, at)]):
        UNPLACED.inc()


async def sessions_changed(
    session: AsyncSession,
    settings: Settings,
    events: Sequence[TransactionStarted | TransactionStopped],
) -> None:
    """Transactions that started or ended, in the order published: one lookup of their
    stations' sites and one round per site for all of them, the sites in id order (see
    `answered`); those of stations on no site cost that lookup alone."""
    sites = await sites_of(session, {event.charge_point_id for event in events})
    per_site: dict[int, list[TransactionStarted | TransactionStopped]] = {}
    for event in events:
        if (site_id := sites.get(event.charge_point_id)) is not None:
            per_site.setdefault(site_id, []).append(event)
        else:
            UNPLACED.inc()
    for site_id in sorted(per_site):
        at = now()
        made: list[Event] = []
        for event in per_site[site_id]:
            evse = EvseId(event.charge_point_id, event.connector_id)
            if isinstance(event, TransactionStarted):
                started = min(event.start_time, at)
                made.append(SessionStarted(evse, started, event.charging_priority))
            else:
                made.append(SessionStopped(evse, at))
        await rounds.run(session, settings, site_id, made, at)


# Whether a session's EV suspended itself, in our terms whatever the version: its transaction's
# charging state. The other states say nothing of what the EV wants (SuspendedEVSE is the
# station's own doing, often the 0 A of a paused session).
SUSPENDED_BY_EV = {ChargingState.SUSPENDED_EV: True, ChargingState.CHARGING: False}


async def demand(
    session: AsyncSession,
    settings: Settings,
    evse: EvseId,
    state: ChargingState | None,
    made: type[StatusChanged | StatusReported],
) -> None:
    """SuspendedEV holds a session at its minimum; Charging gives it its share again."""
    suspended = SUSPENDED_BY_EV.get(state) if state is not None else None
    if suspended is None:
        return
    if not await feed(session, settings, evse.station, lambda at: [made(evse, suspended, at)]):
        UNPLACED.inc()


async def charging_state(
    session: AsyncSession, settings: Settings, event: TransactionChargingStateChanged
) -> None:
    """A transaction's new charging state, whichever version its station speaks: the one
    source of a session's car state."""
    evse = EvseId(event.charge_point_id, event.connector_id)
    await demand(session, settings, evse, event.charging_state, StatusChanged)


async def status(session: AsyncSession, settings: Settings, event: ConnectorStatus) -> None:
    """A connector's status that says a car's state, taken only while the allocator knows no
    session on the EVSE (`StatusReported`). Only 1.6 says one, and it may say it before its
    StartTransaction (a car that waits suspended, or a station that charges first and tells
    its transaction second): no transaction is open then, so the session-service has no
    transaction to announce it for, and without it a car that starts suspended would take its
    full share until it reports again. Once a session is known its state comes from
    `transaction.charging_state_changed` alone."""
    report = event.report()
    evse = EvseId(event.charge_point_id, event.evse_id or event.connector_id)
    await demand(session, settings, evse, report.charging_state, StatusReported)


async def metered(
    session: AsyncSession, settings: Settings, events: Sequence[MeterCurrent]
) -> None:
    """What the EVSEs draw (sustained underuse gives capacity back): one round per site for
    all of them, the sites in id order (see `answered`)."""
    at = now()
    reads = [
        MeterRead(EvseId(event.charge_point_id, event.connector_id), event.amps, at)
        for event in events
        if event.connector_id >= 1
    ]
    sites = await sites_of(session, {read.evse.station for read in reads})
    per_site: dict[int, list[Event]] = {}
    for read in reads:
        if (site_id := sites.get(read.evse.station)) is not None:
            per_site.setdefault(site_id, []).append(read)
        else:
            UNPLACED.inc()
    for site_id in sorted(per_site):
        await rounds.run(session, settings, site_id, per_site[site_id], at)


def accepted(event: CommandCompleted) -> bool:
    """Whether the station answered the SetChargingProfile Accepted, read through the models
    of the version it was sent in (an answer that breaks them installed nothing we know of)."""
    try:
        if event.ocpp_version is OcppVersion.V201:
            _, answer = event.read(v201.SetChargingProfileRequest, v201.SetChargingProfileResponse)
            return answer.status is v201.ChargingProfileStatusEnum.ACCEPTED
        _, said = event.read(v16.SetChargingProfileRequest, v16.SetChargingProfileResponse)
        return said.status is v16.ChargingProfileStatus.ACCEPTED
    except ValidationError as exc:
        log.warning("unreadable answer to limit %s: %s", event.request_id, exc)
        return False


def _outcome(event: CommandCompleted, evse: EvseId, at: datetime, offline: bool) -> Event:
    """What an answer (or its absence) tells the allocator about the limit sent; `offline`:
    whether a command that found the station not connected says it is offline now."""
    if event.status == "result" and accepted(event):
        return Acknowledged(evse, at)
    if event.status == UNDELIVERED:
        return Undelivered(evse, at, offline)
    if event.status == "result" or event.status in NOT_APPLIED:
        return Rejected(evse, at)
    return TimedOut(evse, at)


async def connected_since(
    session: AsyncSession, sends: dict[str, tuple[EvseId, datetime | None]]
) -> set[str]:
    """Of the sends (requestId -> EVSE, when it was sent), those to a station whose newest
    known connection opened after the send was made: a station that was offline then may be
    back, and its `offline` outcome is older news than that connection (the gateway binds the
    station's commands before it announces the connection)."""
    stations = {evse.station for evse, _ in sends.values()}
    if not stations:
        return set()
    ps = profile_stations.c
    rows = await session.execute(
        select(ps.charge_point_id, ps.connected_at).where(ps.charge_point_id.in_(sorted(stations)))
    )
    newest = {row.charge_point_id: row.connected_at for row in rows}
    return {
        request_id
        for request_id, (evse, sent_at) in sends.items()
        if (opened := newest.get(evse.station)) is not None
        and (sent_at is None or opened > sent_at)
    }


async def answered(
    session: AsyncSession, settings: Settings, events: Sequence[CommandCompleted]
) -> None:
    """The stations' answers to limits, or their absence: one round per site for all of them
    (a limit change that lowers 47 EVSEs is 47 answers, not 47 rounds of the whole site). The
    sites go in id order, so two replicas' groups take their locks in one order and never wait
    on each other in a cycle."""
    request_ids = sorted({e.request_id for e in events if e.request_id is not None})
    if not request_ids:
        return
    rows = await session.execute(
        select(a.charge_point_id, a.evse, a.request_id, a.sent_at).where(
            a.request_id.in_(request_ids)
        )
    )
    # An answer whose send is not in flight any more (timed out by the timer, the station
    # left the site) finds no row.
    sends = {row.request_id: (EvseId(row.charge_point_id, row.evse), row.sent_at) for row in rows}
    evses = {request_id: evse for request_id, (evse, _) in sends.items()}
    sites = await sites_of(session, {evse.station for evse in evses.values()})
    undelivered = {e.request_id for e in events if e.status == UNDELIVERED}
    unsent = {key: send for key, send in sends.items() if key in undelivered}
    if unsent:
        # The sites are locked (in id order, as the rounds below take them) before the
        # connections are read: a connection whose round (StationOnline) committed meanwhile
        # is then seen here, and one that commits later takes the lock after this round, so
        # neither leaves a station that is back counted offline until its next connection.
        for locked in sorted(
            {sites[evse.station] for evse in evses.values() if evse.station in sites}
        ):
            try:
                await lock_site(session, locked)
            except RpcError:
                pass  # gone: its round finds nothing to do
    back = await connected_since(session, unsent)
    at = now()
    per_site: dict[int, list[tuple[Event, str]]] = {}
    for event in events:
        request_id = event.request_id or ""
        evse = evses.get(request_id)
        if evse is None or (site_id := sites.get(evse.station)) is None:
            continue
        outcome = _outcome(event, evse, at, offline=request_id not in back)
        per_site.setdefault(site_id, []).append((outcome, request_id))
    for site_id in sorted(per_site):
        await rounds.run(session, settings, site_id, [], at, answers=per_site[site_id])
