"""A site's wiring: nodes with limits per phase, stations on nodes, EVSEs on stations."""

from __future__ import annotations

import enum
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal
from types import MappingProxyType
from typing import TypeVar

# OCPP limits carry one decimal (2.0.1 ChargingSchedulePeriodType.limit); every limit the
# allocator hands out is a multiple of this.
STEP = Decimal("0.1")
ZERO = Decimal(0)


def floor_step(value: Decimal) -> Decimal:
    """`value` rounded down to a multiple of 0.1 A: rounding down never breaks a limit."""
    return value.quantize(STEP, rounding=ROUND_FLOOR)


class Phase(enum.Enum):
    """A phase of the grid connection (after any rotation in the wiring)."""

    L1 = 1
    L2 = 2
    L3 = 3


THREE_PHASE = frozenset(Phase)


@dataclass(frozen=True, slots=True)
class PhaseAmps:
    """Amps on each grid phase: a node's limit, or a sum of allocations."""

    l1: Decimal
    l2: Decimal
    l3: Decimal

    def on(self, phase: Phase) -> Decimal:
        """The amps on one phase."""
        return (self.l1, self.l2, self.l3)[phase.value - 1]


def amps(
    l1: Decimal | int, l2: Decimal | int | None = None, l3: Decimal | int | None = None
) -> PhaseAmps:
    """A limit in amps per phase; one value means the same on all three."""
    first = Decimal(l1)
    return PhaseAmps(
        first,
        first if l2 is None else Decimal(l2),
        first if l3 is None else Decimal(l3),
    )


def watts(
    power: Decimal | int, voltage: Decimal | int = 230, phase: Phase | None = None
) -> PhaseAmps:
    """A limit in watts as amps per phase, at `voltage` phase to neutral (230 V in Europe).

    Three-phase (`phase` None): W / V / 3 on each phase, which keeps the total at or under W
    however the load is spread; it leaves unused what an unbalanced load (1-phase EVSEs
    crowding one phase) could have taken on the others. Single-phase (`phase` given): W / V on
    that phase, nothing on the others. Rounded down to 0.1 A.
    """
    per_phase = Decimal(power) / Decimal(voltage)
    if phase is None:
        share = floor_step(per_phase / 3)
        return PhaseAmps(share, share, share)
    whole = floor_step(per_phase)
    return PhaseAmps(*(whole if p is phase else ZERO for p in Phase))


@dataclass(frozen=True, slots=True)
class Node:
    """A point of the site's tree with a limit: the grid connection, a circuit, a panel.

    `phases` are the grid phases it carries: all three, or the one a single-phase circuit is
    fed from (`{Phase.L2}`). A single-phase node's limit holds on that phase alone (its
    other phases are ignored), and everything under it draws on that phase, whatever its
    EVSEs declare: one conductor feeds them all, and its parent sees their draw there.
    """

    id: str
    parent: str | None
    limit: PhaseAmps
    phases: frozenset[Phase] = THREE_PHASE

    def __post_init__(self) -> None:
        if len(self.phases) not in (1, 3):
            raise ValueError(f"node {self.id}: carries all three phases or one")


@dataclass(frozen=True, slots=True)
class Station:
    """A charging station wired to a node; its `priority` (higher is served first) plus a
    session's id tag priority is the session's (`SiteState.priority`)."""

    id: str
    node: str
    priority: int = 0


@dataclass(frozen=True, slots=True, order=True)
class EvseId:
    """An EVSE (a 1.6 connector) of a station."""

    station: str
    evse: int

    def __str__(self) -> str:
        return f"{self.station}/{self.evse}"


@dataclass(frozen=True, slots=True)
class Evse:
    """An EVSE as wired: the grid phases it draws on and the current it can take.

    `phases` are grid phases, rotation applied: a 1-phase EVSE whose L1 terminal is wired to
    the grid's L3 has `{Phase.L3}`. A limit is amps per phase, drawn on each phase in
    `phases`; a 3-phase EVSE is counted on all three even when its car charges on one. Under a
    single-phase node it is counted on that node's phase instead (`Node`).
    `min_current` is the least a session may be given without being paused (OCPP's 6 A for
    most EVs); both bounds are multiples of 0.1 A.
    """

    id: EvseId
    max_current: Decimal
    min_current: Decimal = Decimal(6)
    phases: frozenset[Phase] = THREE_PHASE

    def __post_init__(self) -> None:
        if not self.phases:
            raise ValueError(f"EVSE {self.id} draws on no phase")
        if not ZERO <= self.min_current <= self.max_current:
            raise ValueError(f"EVSE {self.id}: need 0 <= min_current <= max_current")
        for bound in (self.min_current, self.max_current):
            if bound != floor_step(bound):
                raise ValueError(f"EVSE {self.id}: {bound} A is not a multiple of 0.1 A")


T = TypeVar("T")
K = TypeVar("K", bound=Hashable)

# A limit checked by the allocator: one phase of one node.
Constraint = tuple[str, Phase]


@dataclass(frozen=True, slots=True)
class Site:
    """The tree of nodes with its stations and EVSEs, checked once when built."""

    nodes: Mapping[str, Node]
    stations: Mapping[str, Station]
    evses: Mapping[EvseId, Evse]
    # Derived: the constraints each EVSE's limit counts against, its node's and every ancestor's.
    constraints: Mapping[EvseId, tuple[Constraint, ...]] = field(repr=False)

    @classmethod
    def build(
        cls, nodes: Iterable[Node], stations: Iterable[Station], evses: Iterable[Evse]
    ) -> Site:
        """A site from its parts; ValueError on a dangling reference, a cycle or two roots."""
        by_id = _index(nodes, lambda n: n.id, "node")
        roots = [n.id for n in by_id.values() if n.parent is None]
        if len(roots) != 1:
            raise ValueError(f"a site has one root node, got {roots}")
        for node in by_id.values():
            if node.parent is None:
                continue
            if node.parent not in by_id:
                raise ValueError(f"node {node.id}: unknown parent {node.parent}")
            if not node.phases <= by_id[node.parent].phases:
                raise ValueError(f"node {node.id}: on a phase its parent {node.parent} lacks")
        paths = {node: _path(by_id, node) for node in by_id}
        station_by_id = _index(stations, lambda s: s.id, "station")
        for station in station_by_id.values():
            if station.node not in by_id:
                raise ValueError(f"station {station.id}: unknown node {station.node}")
        evse_by_id = _index(evses, lambda e: e.id, "EVSE")
        constraints: dict[EvseId, tuple[Constraint, ...]] = {}
        for evse in evse_by_id.values():
            if evse.id.station not in station_by_id:
                raise ValueError(f"EVSE {evse.id}: unknown station")
            path = paths[station_by_id[evse.id.station].node]
            # A node carries no phase its parent lacks: the one under a single-phase node
            # carries that node's, and so the EVSEs on it draw there.
            fed = by_id[path[0]].phases
            drawn = evse.phases if fed == THREE_PHASE else fed
            constraints[evse.id] = tuple(
                (node, phase) for node in path for phase in Phase if phase in drawn
            )
        return cls(
            MappingProxyType(by_id),
            MappingProxyType(station_by_id),
            MappingProxyType(evse_by_id),
            MappingProxyType(constraints),
        )

    def station_of(self, evse: EvseId) -> Station:
        """The station an EVSE belongs to."""
        return self.stations[evse.station]

    def limit(self, constraint: Constraint) -> Decimal:
        """A node's limit on one phase."""
        node, phase = constraint
        return self.nodes[node].limit.on(phase)

    def with_limit(self, node: str, limit: PhaseAmps) -> Site:
        """The same site with one node's limit changed."""
        if node not in self.nodes:
            raise ValueError(f"unknown node {node}")
        old = self.nodes[node]
        changed = {**self.nodes, node: Node(node, old.parent, limit, old.phases)}
        return Site(MappingProxyType(changed), self.stations, self.evses, self.constraints)

    def all_constraints(self) -> tuple[Constraint, ...]:
        """Every node on every phase it carries."""
        return tuple(
            (node.id, phase)
            for node in self.nodes.values()
            for phase in Phase
            if phase in node.phases
        )


def _index(items: Iterable[T], key: Callable[[T], K], what: str) -> dict[K, T]:
    """Items by id; ValueError on an id given twice."""
    indexed: dict[K, T] = {}
    for item in items:
        if key(item) in indexed:
            raise ValueError(f"{what} {key(item)} given twice")
        indexed[key(item)] = item
    return indexed


def _path(nodes: Mapping[str, Node], start: str) -> tuple[str, ...]:
    """The node and its ancestors up to the root; ValueError on a cycle."""
    path: list[str] = []
    current: str | None = start
    while current is not None:
        if current in path:
            raise ValueError(f"nodes form a cycle through {current}")
        path.append(current)
        current = nodes[current].parent
    return tuple(path)
