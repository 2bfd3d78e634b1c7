"""One allocation round of a site, under its lock: read, apply, plan, send, write, announce.

A round runs in the caller's transaction (an event's, or the timer's). It takes the site's
row lock first (`sites.lock_site`, the lock changes to the site's tree take too), so rounds of
one site run one at a time on any number of replicas, and each starts from what the last one
committed. The SetChargingProfiles it decides are queued in `loads.command_outbox` in the same
transaction: a round that rolls back (a replica killed mid-round) sent nothing and recorded
nothing, and the next, wherever it runs, counts every EVSE as the last commit left it. That
is the hand-over, and it never exceeds a limit: the core's invariant holds for any sequence
of rounds over committed state.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from csms_shared.bus.outbox import emit
from csms_shared.bus.rpc import RpcError
from csms_shared.charging import (
    ChargingProfile,
    ChargingSchedule,
    ProfileKind,
    ProfilePurpose,
    RateUnit,
    SchedulePeriod,
    to_v16_request,
    to_v201_request,
)
from csms_shared.contracts.load_events import SiteAllocationChanged
from csms_shared.ocpp import v16, v201
from csms_shared.ocpp._base import OcppModel
from csms_shared.ocpp.version import OcppVersion

from ..commands import new_request_id, queue_command
from ..db import evse_allocations, outbox
from ..settings import Settings
from ..sites.store import lock_site
from .core import (
    Event,
    EvseId,
    MeterRead,
    Plan,
    Sent,
    SiteState,
    StationOffline,
    TimedOut,
    apply,
    plan,
)
from .readings import implausible, raise_events
from .store import Loaded, load, record_sample, save
from .view import view

log = logging.getLogger(__name__)

SET_CHARGING_PROFILE = "SetChargingProfile"
CLEAR_CHARGING_PROFILE = "ClearChargingProfile"
# The allocator's requestIds, told apart from the stored profiles' (both are the
# load-manager's, `commands.REQUEST_PREFIX`).
TAG = "alloc:"


def allocation_request_id() -> str:
    """A requestId for one of the allocator's SetChargingProfiles."""
    prefix, _, rest = new_request_id().partition(":")
    return f"{prefix}:{TAG}{rest}"


def is_allocation_request(request_id: str | None) -> bool:
    """Whether a command's requestId is one of the allocator's."""
    return request_id is not None and request_id.partition(":")[2].startswith(TAG)


def limit_profile(settings: Settings, evse: EvseId, limit: Decimal, phases: int) -> ChargingProfile:
    """The TxDefaultProfile that holds an EVSE at `limit` A per phase from now on: one period,
    no end, Relative (it applies from each transaction's start, and to one running now), on
    the EVSE alone, with an id of the EVSE's own (ids are per station in both versions)."""
    return ChargingProfile(
        id=settings.allocation_profile_id + evse.evse,
        stack_level=settings.allocation_stack_level,
        purpose=ProfilePurpose.TX_DEFAULT,
        kind=ProfileKind.RELATIVE,
        connector_id=evse.evse,
        schedules=(
            ChargingSchedule(
                id=1,
                rate_unit=RateUnit.A,
                periods=(SchedulePeriod(start_period=0, limit=limit, number_phases=phases),),
            ),
        ),
    )


def request(profile: ChargingProfile, version: OcppVersion) -> OcppModel:
    """The SetChargingProfile of `profile` in the station's version."""
    if version is OcppVersion.V201:
        return to_v201_request(profile)
    return to_v16_request(profile)


def _on_site(state: SiteState, event: Event) -> bool:
    """Whether an event names an EVSE or a station of the site (a connector beyond the
    station's `evses`, or 0, is not one the allocator shares among)."""
    evse = getattr(event, "evse", None)
    if isinstance(evse, EvseId):
        return evse in state.site.evses
    station = getattr(event, "station", None)
    return station is None or station in state.site.stations


def _stale(loaded: Loaded, event: Event, answering: str) -> bool:
    """Whether an answer to `answering` finds another send (or none) in flight to its EVSE."""
    evse = getattr(event, "evse", None)
    return not isinstance(evse, EvseId) or loaded.request_ids.get(evse) != answering


async def run(
    session: AsyncSession,
    settings: Settings,
    site_id: int,
    events: Sequence[Event],
    now: datetime,
    expire_before: datetime | None = None,
    sample: bool = False,
    answers: Sequence[tuple[Event, str]] = (),
) -> Plan | None:
    """Apply `events` to the site, plan, queue the sends and write it all back (None: the site
    is gone, or has no station). Limits in flight since before `expire_before` are closed as
    timed out first: their answer is not coming. `sample`: record the site's minute sample.
    `answers`: answers to sends, each with the requestId it answers, applied after `events`;
    one is dropped unless that requestId is still the one in flight to its EVSE (a
    `command.completed` delivered twice must not close the send that followed it)."""
    try:
        await lock_site(session, site_id)
    except RpcError:
        return None
    loaded = await load(session, settings, site_id)
    if loaded is None:
        return None
    state = loaded.state
    if expire_before is not None:
        for evse, live in state.evses.items():
            if live.in_flight is not None and live.sent_at is not None:
                if live.sent_at < expire_before:
                    state = apply(state, TimedOut(evse, now))
    ignored: list[MeterRead] = []
    for event in events:
        if _on_site(state, event):
            if isinstance(event, MeterRead) and implausible(state, event):
                ignored.append(event)
            state = apply(state, event)
    for event, answering in answers:
        if not _stale(loaded, event, answering) and _on_site(state, event):
            state = apply(state, event)
    round_ = plan(state, now)
    request_ids = {
        evse: loaded.request_ids.get(evse) if live.in_flight is not None else None
        for evse, live in state.evses.items()
    }
    for change in round_.to_send:
        station = change.evse.station
        version = loaded.versions.get(station)
        if version is None:
            # Never connected since it was placed: no version to spell the limit in, and no
            # connection to take it. What the command would have come back as (offline); its
            # first connection or boot sends the limit at once.
            state = apply(state, StationOffline(station, now))
            continue
        phases = len(state.site.evses[change.evse].phases)
        profile = limit_profile(settings, change.evse, change.limit, phases)
        request_id = allocation_request_id()
        await queue_command(
            session, settings, station, SET_CHARGING_PROFILE, request(profile, version), request_id
        )
        state = apply(state, Sent(change.evse, change.limit, now))
        request_ids[change.evse] = request_id
    await save(session, loaded, state, round_, request_ids, now)
    if ignored:
        await raise_events(session, loaded.state, state, ignored, now)
    if sample:
        await record_sample(session, loaded.site_id, state, now)
    if _changed(loaded, state, round_):
        await _announce(session, loaded, state, round_, now)
    return round_


Summary = set[tuple[object, ...]]


def _summary(
    state: SiteState, targets: Mapping[EvseId, Decimal | None], paused: AbstractSet[EvseId]
) -> Summary:
    return {
        (
            evse,
            live.applied,
            live.in_flight,
            live.session is None,
            targets.get(evse),
            evse in paused,
        )
        for evse, live in state.evses.items()
    }


def _changed(loaded: Loaded, state: SiteState, round_: Plan) -> bool:
    """Whether the round changed a limit, a share, a pause or a session: worth announcing."""
    before = _summary(loaded.state, loaded.targets, loaded.paused)
    return before != _summary(state, round_.targets, round_.paused)


async def _announce(
    session: AsyncSession, loaded: Loaded, state: SiteState, round_: Plan, now: datetime
) -> None:
    """Emit `site.allocation_changed` in the round's transaction."""
    nodes, evses = view(state, round_.targets, round_.paused, now)
    event = SiteAllocationChanged(at=now, site_id=loaded.site_id, nodes=nodes, evses=evses)
    await emit(session, outbox, event)


async def reallocate(session: AsyncSession, settings: Settings, site_id: int) -> Plan | None:
    """A round of the site with nothing new but what its rows say (a limit changed, a station
    placed or taken off)."""
    at = datetime.now(UTC)
    return await run(session, settings, site_id, [], at)


async def release_station(session: AsyncSession, settings: Settings, cp_id: str, row: Any) -> None:
    """A station leaves its site: clear the limits the allocator installed on its EVSEs (their
    answers are not followed) and forget them. One whose version is not known never connected
    since it was placed, so it was sent no limit (`run` sends none without a version): nothing
    to clear."""
    versions = [OcppVersion(row.ocpp_version)] if row.ocpp_version else []
    for version, evse in ((v, e) for v in versions for e in range(1, row.evses + 1)):
        profile_id = settings.allocation_profile_id + evse
        clear: OcppModel
        if version is OcppVersion.V201:
            clear = v201.ClearChargingProfileRequest(charging_profile_id=profile_id)
        else:
            clear = v16.ClearChargingProfileRequest(id=profile_id)
        await queue_command(
            session, settings, cp_id, CLEAR_CHARGING_PROFILE, clear, allocation_request_id()
        )
    await session.execute(
        delete(evse_allocations).where(evse_allocations.c.charge_point_id == cp_id)
    )
