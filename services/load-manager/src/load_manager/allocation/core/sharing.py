"""Equal shares under nested per-phase limits: admission by minimum, then water-filling.

Pure arithmetic over claims and the room left on each node and phase, exact (fractions)
until the end: each share is then rounded down to 0.1 A and what rounding left on a phase is
handed out 0.1 A at a time in claim order, so the shares fit and use the room.

1. Admission: sessions in order (priority, highest first, then arrival, earliest first) are
   given their minimum where it fits beside the minimums already given; a session whose
   minimum does not fit is paused (0 A). Pausing thus falls on the lowest priority, then the
   latest arrival, and only on the nodes and phases that are short.
2. Filling, one priority at a time from the highest: the admitted sessions of that priority
   rise together from their minimum (max-min fairness: the lowest rise first) until a node's
   phase they draw through is full or they reach what they want (their cap). A higher
   priority is thus served up to its cap before a lower one gets more than its minimum;
   sessions of one priority get equal shares wherever they compete.
3. Standby: idle EVSEs keep the limit they hold where it still fits (up to their failsafe
   share; an EVSE with no valid standby limit, as at boot or after its session, starts from
   that share). Where what is left is short, the fewest give back: on each short node phase
   the idle EVSE holding most gives back what is missing, down to its minimum, then 0, and the
   next one after it. What is left after that raises idle EVSEs, in a fixed order, towards
   their failsafe share. A session that starts at a full site thus lowers as many idle EVSEs
   as its share needs (four at 12 A for a 32 A session), not every idle EVSE by a little: each
   lowering is a profile sent to a station, and the session's raise waits for them all.

Why admission and a fixed order rather than zeroing what falls under a minimum and rounding
each share alone: a round holds the EVSEs with a limit in flight at it and recomputes the
others. Done this way, the others get what a round over all of them would give, so rounds
do not make limits flip back and forth (0 and 6 A, 5.9 and 6 A) while answers trickle in.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from itertools import groupby

from .site import STEP, ZERO, Constraint, EvseId


@dataclass(frozen=True, slots=True)
class Claim:
    """An EVSE's claim: the node phases it draws through, its minimum and what it wants."""

    evse: EvseId
    uses: tuple[Constraint, ...]
    minimum: Decimal
    cap: Decimal
    priority: int = 0
    # An idle EVSE's standby limit now (what it counts for); None where unknown.
    held: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Shares:
    """Each claim's limit (A per phase, a multiple of 0.1 A) and the sessions paused."""

    limits: Mapping[EvseId, Decimal]
    paused: frozenset[EvseId]


def share(
    room: Mapping[Constraint, Decimal], sessions: Sequence[Claim], standby: Sequence[Claim]
) -> Shares:
    """Share `room` (per node and phase, what the EVSEs not claiming leave; may be negative)
    among `sessions`, given in admission order, then among `standby` EVSEs, given in order."""
    left = {constraint: Fraction(amps) for constraint, amps in room.items()}
    level: dict[EvseId, Fraction] = {}
    admitted = _admit(sessions, level, left)
    by_priority = sorted(admitted, key=lambda claim: -claim.priority)
    for _, tier in groupby(by_priority, key=lambda claim: claim.priority):
        _fill(list(tier), level, left)
    idle = _standby(standby, left)
    # The sessions' shares are rounded in what the idle EVSEs leave.
    session_room = dict(room)
    for claim in standby:
        for c in claim.uses:
            session_room[c] -= idle[claim.evse]
    limits = _round_down(session_room, admitted, level) | idle
    for claim in (*sessions, *standby):
        limits.setdefault(claim.evse, ZERO)
    admitted_evses = {claim.evse for claim in admitted}
    paused = frozenset(claim.evse for claim in sessions if claim.evse not in admitted_evses)
    return Shares(limits, paused)


def _admit(
    claims: Sequence[Claim], level: dict[EvseId, Fraction], left: dict[Constraint, Fraction]
) -> list[Claim]:
    """Give each claim, in order, its minimum where that fits beside those given before it
    and under its cap; the others get 0."""
    admitted: list[Claim] = []
    for claim in claims:
        need = Fraction(claim.minimum)
        if claim.minimum <= claim.cap and all(left[c] >= need for c in claim.uses):
            level[claim.evse] = need
            for c in claim.uses:
                left[c] -= need
            admitted.append(claim)
        else:
            level[claim.evse] = Fraction(0)
    return admitted


def _fill(
    claims: Sequence[Claim], level: dict[EvseId, Fraction], left: dict[Constraint, Fraction]
) -> None:
    """Raise the lowest claims together until each is capped or draws through a full phase."""

    def can_rise(claim: Claim) -> bool:
        return level[claim.evse] < claim.cap and all(left[c] > 0 for c in claim.uses)

    rising_pool = [claim for claim in claims if can_rise(claim)]
    while rising_pool:
        low = min(level[claim.evse] for claim in rising_pool)
        rising = [claim for claim in rising_pool if level[claim.evse] == low]
        steps = [Fraction(claim.cap) - low for claim in rising]
        higher = [level[claim.evse] for claim in rising_pool if level[claim.evse] > low]
        if higher:
            steps.append(min(higher) - low)
        users = Counter(c for claim in rising for c in claim.uses)
        steps.extend(left[c] / count for c, count in users.items())
        step = min(steps)
        for claim in rising:
            level[claim.evse] += step
            for c in claim.uses:
                left[c] -= step
        rising_pool = [claim for claim in rising_pool if can_rise(claim)]


def _standby(claims: Sequence[Claim], left: dict[Constraint, Fraction]) -> dict[EvseId, Decimal]:
    """The idle EVSEs' standby limits in what the sessions left (module doc, 3); `left` is
    updated. Every limit is a multiple of 0.1 A: 0, or between the minimum and the cap."""
    limits: dict[EvseId, Decimal] = {}
    for claim in claims:
        held = claim.held
        if held is not None and held <= claim.cap and (held == 0 or held >= claim.minimum):
            limits[claim.evse] = held
        else:
            limits[claim.evse] = claim.cap if claim.minimum <= claim.cap else ZERO
        for c in claim.uses:
            left[c] -= Fraction(limits[claim.evse])
    order = {claim.evse: index for index, claim in enumerate(claims)}
    users = Counter(c for claim in claims for c in claim.uses)
    # The node phases with the fewest EVSEs first: a short branch is mended with its own
    # EVSEs, which gives back on every node above it too.
    for constraint in sorted(users, key=lambda c: (users[c], str(c))):
        while left[constraint] < 0:
            holding = [
                claim for claim in claims if constraint in claim.uses and limits[claim.evse] > 0
            ]
            if not holding:
                break  # what the others hold is over the limit: every idle EVSE here is at 0
            giver = max(holding, key=lambda claim: (limits[claim.evse], order[claim.evse]))
            held = limits[giver.evse]
            missing = Decimal(math.ceil(-left[constraint] * 10)) / 10
            lowered = held - missing
            if lowered < giver.minimum:
                lowered = giver.minimum if held > giver.minimum else ZERO
            limits[giver.evse] = lowered
            for c in giver.uses:
                left[c] += Fraction(held - lowered)
    for claim in claims:
        held = limits[claim.evse]
        if held >= claim.cap:
            continue
        spare = min(left[c] for c in claim.uses)
        raised = min(claim.cap, Decimal(math.floor((Fraction(held) + spare) * 10)) / 10)
        if raised > held and raised >= claim.minimum:
            limits[claim.evse] = raised
            for c in claim.uses:
                left[c] -= Fraction(raised - held)
    return limits


def _round_down(
    room: Mapping[Constraint, Decimal], admitted: Sequence[Claim], level: dict[EvseId, Fraction]
) -> dict[EvseId, Decimal]:
    """The levels as limits in steps of 0.1 A: each rounded down, then what the rounding left
    on every phase handed out 0.1 A at a time in claim order, where it fits and stays under
    the cap. Handing it out in a fixed order makes a round that holds some EVSEs at their
    limits give the others the limits a round over all of them would have."""
    limits = {claim.evse: Decimal(math.floor(level[claim.evse] * 10)) / 10 for claim in admitted}
    spare = dict(room)
    for claim in admitted:
        for c in claim.uses:
            spare[c] -= limits[claim.evse]
    for claim in admitted:
        if limits[claim.evse] + STEP <= claim.cap and all(spare[c] >= STEP for c in claim.uses):
            limits[claim.evse] += STEP
            for c in claim.uses:
                spare[c] -= STEP
    return limits
