"""One allocation round: the limit each EVSE should hold and the order to send changes in.

`plan(state, now)` shares what the site allows among the EVSEs it may move (see
`accounting.controllable`); every other EVSE is a fixed load at its commitment. Then:

- Threshold: a raise smaller than `settings.threshold` is not made (the EVSE keeps less than
  its share, which is always safe). A reduction smaller than the threshold is skipped while
  the targets still fit without it (smallest first); one they need is a reduction safety
  needs, and is made however small. Pauses (to 0) and resumptions (from 0, or from under
  the minimum) are always made. Whatever the setting, a change of one step (0.1 A) is never
  made for itself (`SMALLEST_CHANGE`): which EVSEs a round holds at a limit in flight moves
  where rounding leaves its last 0.1 A, so with a threshold under 0.2 A two EVSEs could hand
  0.1 A back and forth for ever (a property test found two idle EVSEs doing it).
- Lower before raise: reductions are sent at once, and so is the target of an EVSE whose
  limit is unknown (it counts at its maximum: sending it that, or less, is never a raise).
  A raise is ready only if it fits now, with every EVSE counted at max(applied, in flight);
  ready raises are taken in order (priority, arrival) and each counts against the next. Any
  other raise is deferred, naming the EVSEs whose reductions it waits for; it becomes ready
  in a later round once they are acknowledged (or time out, and the EVSE then counts at its
  maximum and shares shrink).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType

from .accounting import commitment, controllable, counted, failsafe_shares, load
from .sharing import Claim, share
from .site import STEP, Constraint, EvseId
from .state import SiteState

# The smallest change the threshold lets through: rounding moves a share by one step.
SMALLEST_CHANGE = 2 * STEP


@dataclass(frozen=True, slots=True)
class Change:
    """A limit (A per phase) to send to an EVSE, which now counts at `counted`."""

    evse: EvseId
    limit: Decimal
    counted: Decimal


@dataclass(frozen=True, slots=True)
class Deferred:
    """A raise that fits only once the reductions of `blocked_by` have landed."""

    change: Change
    blocked_by: frozenset[EvseId]


@dataclass(frozen=True, slots=True)
class Plan:
    """The outcome of one round at `at`.

    `targets`: the limit every EVSE of the site is committed to, once every change sent and
    planned has landed (for an EVSE the round could not move: what is in flight to it, or
    what it counts for). `counted`: what each EVSE counts for now. `reductions` and `raises`
    are to be sent now, reductions first; `deferred` raises wait for a later round.
    `paused`: the sessions this round could move that get 0 A, their minimum not fitting.
    """

    at: datetime
    targets: Mapping[EvseId, Decimal]
    counted: Mapping[EvseId, Decimal]
    reductions: tuple[Change, ...]
    raises: tuple[Change, ...]
    deferred: tuple[Deferred, ...]
    paused: frozenset[EvseId]

    @property
    def to_send(self) -> tuple[Change, ...]:
        """Everything to send now, reductions first."""
        return self.reductions + self.raises


def plan(state: SiteState, now: datetime) -> Plan:
    """The allocation round for `state` at `now`."""
    site = state.site
    now_counted = {evse: counted(state, evse, now) for evse in site.evses}
    # The EVSEs this round may move, in admission and raise order; the others are fixed.
    ordered = sorted(
        (evse for evse in site.evses if controllable(state, evse, now)),
        key=lambda evse: _rank(state, evse),
    )
    movable = set(ordered)
    fixed = {evse: commitment(state, evse, now) for evse in site.evses if evse not in movable}
    fixed_load = load(site, fixed)
    room = {c: site.limit(c) - fixed_load[c] for c in site.all_constraints()}
    sessions = [_session_claim(state, evse) for evse in ordered if _has_session(state, evse)]
    standby_cap = failsafe_shares(site)
    standby = [
        Claim(
            evse,
            site.constraints[evse],
            site.evses[evse].min_current,
            standby_cap[evse],
            held=now_counted[evse],
        )
        for evse in ordered
        if not _has_session(state, evse)
    ]
    shares = share(room, sessions, standby)
    targets = _apply_threshold(state, shares.limits, now_counted, fixed)

    # An EVSE whose limit is unknown is sent its target even when that is what it counts for
    # (its maximum): a station that boots or lost its answer gets its limit, never none.
    reductions = tuple(
        Change(evse, targets[evse], now_counted[evse])
        for evse in ordered
        if targets[evse] < now_counted[evse]
        or (targets[evse] == now_counted[evse] and state.evses[evse].unresponsive)
    )
    raises: list[Change] = []
    deferred: list[Deferred] = []
    sums = load(site, now_counted)
    for evse in ordered:
        extra = targets[evse] - now_counted[evse]
        if extra <= 0:
            continue
        change = Change(evse, targets[evse], now_counted[evse])
        short = [c for c in site.constraints[evse] if sums[c] + extra > site.limit(c)]
        if short:
            deferred.append(Deferred(change, _blockers(state, short, targets, now_counted)))
            continue
        raises.append(change)
        for c in site.constraints[evse]:
            sums[c] += extra
    return Plan(
        at=now,
        targets=MappingProxyType(targets),
        counted=MappingProxyType(now_counted),
        reductions=reductions,
        raises=tuple(raises),
        deferred=tuple(deferred),
        paused=shares.paused,
    )


def _has_session(state: SiteState, evse: EvseId) -> bool:
    return state.evses[evse].session is not None


def _rank(state: SiteState, evse: EvseId) -> tuple[int, int, datetime | None, EvseId]:
    """Admission and raise order: sessions before idle EVSEs, higher priority first, then
    the earliest arrival."""
    session = state.evses[evse].session
    if session is None:
        return (1, 0, None, evse)
    return (0, -state.priority(evse), session.started_at, evse)


def _session_claim(state: SiteState, evse: EvseId) -> Claim:
    """A session wants its maximum; a car that suspended itself (SuspendedEV) only its
    minimum, kept so it can resume; a session capped for drawing less, its cap."""
    spec = state.site.evses[evse]
    session = state.evses[evse].session
    assert session is not None
    cap = spec.max_current
    if session.suspended_by_ev:
        cap = spec.min_current
    elif session.demand_cap is not None:
        cap = min(cap, max(spec.min_current, session.demand_cap))
    return Claim(evse, state.site.constraints[evse], spec.min_current, cap, state.priority(evse))


def _apply_threshold(
    state: SiteState,
    shares: Mapping[EvseId, Decimal],
    now_counted: Mapping[EvseId, Decimal],
    fixed: Mapping[EvseId, Decimal],
) -> dict[EvseId, Decimal]:
    """The targets after leaving out the changes too small to send (see the module doc)."""
    site = state.site
    threshold = max(state.settings.threshold, SMALLEST_CHANGE)
    targets = dict(fixed)
    small_cuts: list[EvseId] = []
    for evse, share_ in shares.items():
        held = now_counted[evse]
        minimum = site.evses[evse].min_current
        if held < share_ < held + threshold and held > 0 and held >= minimum:
            targets[evse] = held
        else:
            targets[evse] = share_
        if 0 < share_ < held < share_ + threshold:
            small_cuts.append(evse)
    sums = load(site, targets)
    for evse in sorted(small_cuts, key=lambda e: (now_counted[e] - targets[e], e)):
        uses = site.constraints[evse]
        extra = now_counted[evse] - targets[evse]
        if all(sums[c] + extra <= site.limit(c) for c in uses):
            targets[evse] = now_counted[evse]
            for c in uses:
                sums[c] += extra
    return targets


def _blockers(
    state: SiteState,
    short: list[Constraint],
    targets: Mapping[EvseId, Decimal],
    now_counted: Mapping[EvseId, Decimal],
) -> frozenset[EvseId]:
    """The EVSEs on the short node phases that count for more than their target: those whose
    reductions (planned or in flight) the raise waits for."""
    short_set = set(short)
    return frozenset(
        evse
        for evse, uses in state.site.constraints.items()
        if now_counted[evse] > targets[evse] and short_set.intersection(uses)
    )
