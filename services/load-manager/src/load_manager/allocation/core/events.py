"""What happens to a site, as data, and `apply(state, event)`, the only way its state changes.

The caller feeds every event with its time; nothing here reads a clock. Each limit sent gets
exactly one answer: `Acknowledged`, `Rejected`, `Undelivered` (the station was not connected)
or `TimedOut` (the command path's timeout); an answer with nothing in flight is stale and
ignored. What a station reports is taken only as far as it can be true: a reading the EVSE
cannot draw is ignored (`plausible`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import ROUND_CEILING, Decimal
from types import MappingProxyType

from .site import STEP, ZERO, EvseId, PhaseAmps
from .state import EARLY_REPORT_WINDOW, AllocatorSettings, EvReport, EvseState, Session, SiteState

# What an answer does to the EVSE's state, besides closing the send in flight.
_Answer = Callable[[EvseState], EvseState]


@dataclass(frozen=True, slots=True)
class Sent:
    """A limit (A per phase) was sent to an EVSE."""

    evse: EvseId
    limit: Decimal
    at: datetime


@dataclass(frozen=True, slots=True)
class Acknowledged:
    """The station accepted the limit in flight to the EVSE."""

    evse: EvseId
    at: datetime


@dataclass(frozen=True, slots=True)
class Rejected:
    """The station refused the limit in flight; it keeps the one it had."""

    evse: EvseId
    at: datetime


@dataclass(frozen=True, slots=True)
class Undelivered:
    """The limit in flight never reached the station: it was not connected. Nothing was
    applied and nothing refused (no retry delay): the station counts as offline from `at`, so
    its next connection or boot sends its limit at once. `offline` False: a connection newer
    than the send is known, and the next round sends again."""

    evse: EvseId
    at: datetime
    offline: bool = True


@dataclass(frozen=True, slots=True)
class TimedOut:
    """No answer in time: the limit may or may not have landed."""

    evse: EvseId
    at: datetime


@dataclass(frozen=True, slots=True)
class SessionStarted:
    """A transaction started on the EVSE; `tag_priority` is its id tag's chargingPriority."""

    evse: EvseId
    at: datetime
    tag_priority: int = 0


@dataclass(frozen=True, slots=True)
class SessionStopped:
    """The EVSE's transaction ended."""

    evse: EvseId
    at: datetime


@dataclass(frozen=True, slots=True)
class StatusChanged:
    """The EVSE reported SuspendedEV (`suspended_by_ev`) or went back to Charging."""

    evse: EvseId
    suspended_by_ev: bool
    at: datetime


@dataclass(frozen=True, slots=True)
class StatusReported:
    """The EVSE's own status said SuspendedEV (`suspended_by_ev`) or Charging, not its
    transaction: kept for the session whose start is still on its way when none is known on
    the EVSE, and nothing once one is (its state comes as StatusChanged)."""

    evse: EvseId
    suspended_by_ev: bool
    at: datetime


@dataclass(frozen=True, slots=True)
class MeterRead:
    """A meter reading: the highest current on any phase the EVSE draws on."""

    evse: EvseId
    amps: Decimal
    at: datetime


@dataclass(frozen=True, slots=True)
class StationOffline:
    """The station's connection dropped."""

    station: str
    at: datetime


@dataclass(frozen=True, slots=True)
class StationOnline:
    """The station reconnected without rebooting; it still holds its profiles."""

    station: str
    at: datetime


@dataclass(frozen=True, slots=True)
class StationBooted:
    """The station (re)booted (BootNotification): the limits it holds are unknown."""

    station: str
    at: datetime


@dataclass(frozen=True, slots=True)
class LimitChanged:
    """A node's limit was changed (by an operator, over REST)."""

    node: str
    limit: PhaseAmps
    at: datetime


@dataclass(frozen=True, slots=True)
class Tick:
    """The timer: time passed (underuse caps fall due, offline stations age)."""

    at: datetime


Event = (
    Sent
    | Acknowledged
    | Rejected
    | Undelivered
    | TimedOut
    | SessionStarted
    | SessionStopped
    | StatusChanged
    | StatusReported
    | MeterRead
    | StationOffline
    | StationOnline
    | StationBooted
    | LimitChanged
    | Tick
)


def plausible(state: SiteState, evse: EvseId, amps: Decimal) -> bool:
    """Whether a reading is a current the EVSE can draw: not below 0, and at most
    `reading_factor` times its maximum (a car may draw somewhat over a limit it ignores, or a
    maximum set below its station's rating; never a multiple of it)."""
    return ZERO <= amps <= state.site.evses[evse].max_current * state.settings.reading_factor


def apply(state: SiteState, event: Event) -> SiteState:
    """The state after `event`."""
    match event:
        case Sent(evse, limit, at):
            return _sent(state, evse, limit, at)
        case Acknowledged(evse):
            return _answered(state, evse, _acknowledged)
        case Rejected(evse, at):
            return _answered(state, evse, lambda live: replace(live, failed_at=at))
        case Undelivered(evse, at, gone):
            if state.evse(evse).in_flight is None:
                return state
            closed = _answered(state, evse, lambda live: live)
            return apply(closed, StationOffline(evse.station, at)) if gone else closed
        case TimedOut(evse, at):
            return _answered(
                state, evse, lambda live: replace(live, unresponsive=True, failed_at=at)
            )
        case SessionStarted(evse, at, priority):
            live = state.evse(evse)
            report = live.ev_report
            # A difference, not `at - EARLY_REPORT_WINDOW`: a start time is the station's, and
            # one at the start of time must not overflow.
            suspended = (
                report is not None
                and report.suspended_by_ev
                and at - report.at <= EARLY_REPORT_WINDOW
            )
            session = Session(at, priority, suspended)
            return state.with_evse(evse, replace(live, session=session, ev_report=None))
        case SessionStopped(evse):
            return state.with_evse(evse, replace(state.evse(evse), session=None, ev_report=None))
        case StatusReported(evse) if state.evse(evse).session is not None:
            return state  # a known session's state is its transaction's (StatusChanged)
        case StatusChanged(evse, suspended_by_ev, at) | StatusReported(evse, suspended_by_ev, at):
            live = state.evse(evse)
            if live.session is None:
                # Kept for the session whose start is still on its way (or dropped by the next).
                return state.with_evse(evse, replace(live, ev_report=EvReport(suspended_by_ev, at)))
            session = Session(live.session.started_at, live.session.tag_priority, suspended_by_ev)
            return state.with_evse(evse, replace(live, session=session))
        case MeterRead(evse, amps, at):
            live = state.evse(evse)
            if not plausible(state, evse, amps):
                # Ignored, as if it never came: the last plausible reading stands (and goes stale).
                since = live.implausible_since or at
                return state.with_evse(evse, replace(live, implausible_since=since))
            # What the EVSE may draw: its limit, or its maximum while none is known.
            allowed = state.site.evses[evse].max_current if live.applied is None else live.applied
            read = replace(live, implausible_since=None)
            metered = _metered(read, amps.quantize(STEP), allowed, at, state.settings)
            return state.with_evse(evse, metered)
        case StationOffline(station, at):
            if station in state.offline_since:
                return state
            offline = {**state.offline_since, station: at}
            return replace(state, offline_since=MappingProxyType(offline))
        case StationOnline(station, at):
            return _online(state, station, at)
        case StationBooted(station):
            booted = _online(state, station, None)
            for evse in state.site.evses:
                if evse.station == station:
                    booted = booted.with_evse(evse, replace(booted.evse(evse), unresponsive=True))
            return booted
        case LimitChanged(node, limit):
            return replace(state, site=state.site.with_limit(node, limit))
        case Tick(at):
            return _ticked(state, at)
    raise TypeError(f"not an allocation event: {event!r}")


def _sent(state: SiteState, evse: EvseId, limit: Decimal, at: datetime) -> SiteState:
    live = state.evse(evse)
    if live.in_flight is not None:
        raise ValueError(f"EVSE {evse}: a limit is already in flight")
    if not ZERO <= limit <= state.site.evses[evse].max_current:
        raise ValueError(f"EVSE {evse}: {limit} A is outside 0..max_current")
    return state.with_evse(evse, replace(live, in_flight=limit, sent_at=at))


def _answered(state: SiteState, evse: EvseId, answer: _Answer) -> SiteState:
    """Close the send in flight to an EVSE with an answer; a stale answer changes nothing."""
    live = state.evse(evse)
    if live.in_flight is None:
        return state
    return state.with_evse(evse, replace(answer(live), in_flight=None, sent_at=None))


def _acknowledged(live: EvseState) -> EvseState:
    return replace(live, applied=live.in_flight, unresponsive=False, failed_at=None)


def _online(state: SiteState, station: str, at: datetime | None) -> SiteState:
    """The station back: after longer than the grace offline (or a boot, `at` None) its
    limits are unknown; before, it kept them. Either way a limit it needs goes at once: its
    return ends the retry delay of a failure before it (a rejection, a timeout)."""
    since = state.offline_since.get(station)
    back = state
    if since is not None:
        offline = {key: value for key, value in state.offline_since.items() if key != station}
        back = replace(state, offline_since=MappingProxyType(offline))
    lost = since is not None and (at is None or at - since > state.settings.offline_grace)
    for evse in state.site.evses:
        if evse.station != station:
            continue
        live = back.evse(evse)
        if live.failed_at is not None or (lost and not live.unresponsive):
            unresponsive = live.unresponsive or lost
            back = back.with_evse(evse, replace(live, failed_at=None, unresponsive=unresponsive))
    return back


def _metered(
    live: EvseState, amps: Decimal, allowed: Decimal, at: datetime, settings: AllocatorSettings
) -> EvseState:
    """Record a reading and follow the session's underuse: a draw more than the headroom under
    the allowance starts (or continues) an underuse; once it has lasted `underuse_after` the
    session is capped at draw + headroom; a draw that comes within half the headroom of the
    cap releases it."""
    live = replace(live, draw=amps, measured_at=at)
    session = live.session
    if session is None or session.suspended_by_ev:
        return live
    if session.demand_cap is not None:
        if amps >= session.demand_cap - settings.headroom / 2:
            session = replace(session, demand_cap=None, underuse_since=None)
    elif amps + settings.headroom < allowed:
        session = replace(session, underuse_since=session.underuse_since or at)
        session = _cap_if_due(session, amps, at, settings)
    else:
        session = replace(session, underuse_since=None)
    return replace(live, session=session)


def _cap_if_due(
    session: Session, draw: Decimal, now: datetime, settings: AllocatorSettings
) -> Session:
    since = session.underuse_since
    if since is None or now - since < settings.underuse_after:
        return session
    cap = (draw + settings.headroom).quantize(STEP, rounding=ROUND_CEILING)
    return replace(session, demand_cap=cap)


def _ticked(state: SiteState, now: datetime) -> SiteState:
    """Cap the sessions whose underuse has lasted long enough; release a cap whose readings
    stopped coming (the car may want more, and nothing would say so)."""
    settings = state.settings
    for evse, live in state.evses.items():
        session = live.session
        if session is None:
            continue
        stale = live.measured_at is None or now - live.measured_at >= settings.underuse_after
        if session.demand_cap is not None and stale:
            session = replace(session, demand_cap=None, underuse_since=None)
        elif session.demand_cap is None and live.draw is not None and not stale:
            session = _cap_if_due(session, live.draw, now, settings)
        if session != live.session:
            state = state.with_evse(evse, replace(live, session=session))
    return state
