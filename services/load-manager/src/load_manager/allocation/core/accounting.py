"""What each EVSE counts for against its nodes' limits, and which EVSEs the allocator may move.

An EVSE counts at max(applied, in flight): a change on its way may or may not have landed.
It counts at its maximum while `unresponsive` (its limit is unknown), and when its station has
been offline longer than the grace; an offline station counts at its last allocation before
that. An idle EVSE is no exception: it counts at the limit it holds, because a car plugged in
draws that limit before the allocator hears of the session.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType

from .site import ZERO, Constraint, EvseId, Phase, PhaseAmps, Site, floor_step
from .state import SiteState


def counted(state: SiteState, evse: EvseId, now: datetime) -> Decimal:
    """The amps per phase an EVSE counts for now."""
    live = state.evses[evse]
    maximum = state.site.evses[evse].max_current
    since = state.offline_since.get(evse.station)
    if since is not None and now - since > state.settings.offline_grace:
        return maximum
    if live.unresponsive or live.applied is None:
        return maximum
    if live.in_flight is None:
        return live.applied
    return max(live.applied, live.in_flight)


def controllable(state: SiteState, evse: EvseId, now: datetime) -> bool:
    """Whether a limit may be sent to an EVSE now: its station is online, nothing is in flight
    to it, and its last failure (rejection or timeout) is older than the retry delay."""
    live = state.evses[evse]
    if evse.station in state.offline_since or live.in_flight is not None:
        return False
    return live.failed_at is None or now - live.failed_at >= state.settings.retry_after


def commitment(state: SiteState, evse: EvseId, now: datetime) -> Decimal:
    """What an EVSE the allocator cannot move now will hold once what is on its way lands: the
    limit in flight to an online station; otherwise what it counts for."""
    live = state.evses[evse]
    if live.in_flight is not None and evse.station not in state.offline_since:
        return live.in_flight
    return counted(state, evse, now)


def load(site: Site, limits: Mapping[EvseId, Decimal]) -> dict[Constraint, Decimal]:
    """The sum of the given per-EVSE limits on every node and phase."""
    sums = dict.fromkeys(site.all_constraints(), ZERO)
    for evse, limit in limits.items():
        for constraint in site.constraints[evse]:
            sums[constraint] += limit
    return sums


def node_loads(state: SiteState, now: datetime) -> Mapping[str, PhaseAmps]:
    """Per node, the amps per phase its EVSEs count for now (the allocated figure for metrics
    and `site.allocation_changed`)."""
    sums = load(state.site, {evse: counted(state, evse, now) for evse in state.site.evses})
    return MappingProxyType(
        {
            node: PhaseAmps(*(sums.get((node, phase), ZERO) for phase in Phase))
            for node in state.site.nodes
        }
    )


def failsafe_shares(site: Site) -> Mapping[EvseId, Decimal]:
    """The limit each EVSE can hold at once with every other EVSE at its own without any node
    going over: per node and phase its limit split evenly among the EVSEs drawing on it, the
    smallest such split on the EVSE's path, capped at the EVSE's maximum, zero when under its
    minimum. Idle EVSEs are given at most this standby limit, so a station that boots or
    loses the CSMS holds a TxDefault the site can afford however many cars arrive."""
    drawing: dict[Constraint, int] = dict.fromkeys(site.all_constraints(), 0)
    for constraints in site.constraints.values():
        for constraint in constraints:
            drawing[constraint] += 1
    shares: dict[EvseId, Decimal] = {}
    for evse, spec in site.evses.items():
        splits: Iterable[Decimal] = (site.limit(c) / drawing[c] for c in site.constraints[evse])
        share = min(spec.max_current, floor_step(max(ZERO, min(splits))))
        shares[evse] = share if share >= spec.min_current else ZERO
    return MappingProxyType(shares)
