"""A site's tree in memory: where a node may go (no cycles, not too deep, phases that fit), the
grid phase of what is under a single-phase node, and the tree as the API shows it.

A node's limit may exceed its parent's: nothing here refuses it, since what the stations under a
node may draw is held to the tightest limit on the way up to the site anyway (a 63 A panel on a
50 A connection is a common, safe installation)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, Protocol, TypedDict, TypeVar

from csms_shared.bus.rpc import RpcError
from csms_shared.contracts.resources import Node, StationAssignment

N = TypeVar("N", bound=Node)


class NodeRow(Protocol):
    """What the rules read of a node (a row of `loads.nodes`)."""

    @property
    def id(self) -> int: ...
    @property
    def parent_id(self) -> int | None: ...
    @property
    def phases(self) -> int: ...
    @property
    def grid_phase(self) -> int | None: ...
    @property
    def name(self) -> str: ...


class SiteTree:
    """The nodes of one site, by id, and who is under whom."""

    def __init__(self, rows: Iterable[NodeRow]) -> None:
        self.rows: dict[int, Any] = {}
        self.children: dict[int, list[int]] = defaultdict(list)
        for row in sorted(rows, key=lambda r: r.id):
            self.rows[row.id] = row
            if row.parent_id is not None:
                self.children[row.parent_id].append(row.id)

    def __contains__(self, node_id: object) -> bool:
        return node_id in self.rows

    def __len__(self) -> int:
        return len(self.rows)

    def depth(self, node_id: int) -> int:
        """Levels from the site down to the node, both counted (the site is 1)."""
        levels = 1
        parent = self.rows[node_id].parent_id
        while parent is not None:
            levels += 1
            parent = self.rows[parent].parent_id
        return levels

    def below(self, node_id: int) -> list[int]:
        """The node and every node under it, top down."""
        found = [node_id]
        for current in found:
            found.extend(self.children.get(current, ()))
        return found

    def height(self, node_id: int) -> int:
        """Levels of the node's subtree, the node counted."""
        children = self.children.get(node_id, ())
        return 1 + max((self.height(child) for child in children), default=0)


def check_move(tree: SiteTree, parent_id: int, *, node_id: int | None, max_depth: int) -> None:
    """RpcError invalid unless a node (`node_id`, or a new one) may go under `parent_id`, a
    node of `tree`: not under itself or a node below it, and no deeper than `max_depth` levels
    with what is under it."""
    if node_id is not None and parent_id in tree.below(node_id):
        raise RpcError(
            "invalid",
            f"parentId: node {parent_id} is node {node_id} or under it; a node cannot move "
            "under itself",
        )
    levels = tree.depth(parent_id) + (1 if node_id is None else tree.height(node_id))
    if levels > max_depth:
        raise RpcError(
            "invalid",
            f"parentId: under node {parent_id} the site would be {levels} levels deep; at most "
            f"{max_depth}, the site counted (LOADS_MAX_TREE_DEPTH)",
        )


def check_phases(tree: SiteTree, parent_id: int, phases: int) -> None:
    """RpcError invalid for a three-phase node under a single-phase one."""
    parent = tree.rows[parent_id]
    if phases > parent.phases:
        raise RpcError(
            "invalid",
            f"phases: a {phases}-phase node cannot be under node {parent_id} "
            f"({parent.name!r}), which is {parent.phases}-phase",
        )


def check_children_phases(tree: SiteTree, node_id: int, phases: int) -> None:
    """RpcError invalid if a node directly under `node_id` has more phases than `phases`."""
    for child in tree.children.get(node_id, ()):
        row = tree.rows[child]
        if row.phases > phases:
            raise RpcError(
                "invalid",
                f"phases: node {child} ({row.name!r}) under it is {row.phases}-phase; change "
                "or move it first",
            )


def grid_phase_under(
    tree: SiteTree, parent_id: int | None, phases: int, given: int | None
) -> int | None:
    """The grid phase of a node of `phases` under `parent_id` (None: a site): none for a
    three-phase node; for a single-phase one `given`, else its single-phase parent's, else 1.
    RpcError invalid for one given other than its single-phase parent's: one conductor feeds
    everything under a single-phase node."""
    if phases == 3:
        return None
    if parent_id is None or tree.rows[parent_id].phases == 3:
        return given or 1
    parent = tree.rows[parent_id]
    if given is not None and given != parent.grid_phase:
        raise RpcError(
            "invalid",
            f"gridPhase: node {parent_id} ({parent.name!r}) is fed from L{parent.grid_phase}; a "
            f"single-phase node under it is on L{parent.grid_phase} too, not L{given}",
        )
    return int(parent.grid_phase)


def station_grid_phase(node: NodeRow, phases: int, given: int | None) -> int | None:
    """The grid phase of a station of `phases` on `node`: none for a three-phase station; for
    a single-phase one `given`, else 1, or on a single-phase node the node's. RpcError
    invalid for a three-phase station on a single-phase node, or a grid phase given other
    than the node's."""
    if node.phases == 3:
        return None if phases == 3 else given or 1
    fed = node.grid_phase
    if phases == 3:
        raise RpcError(
            "invalid",
            f"phases: node {node.id} ({node.name!r}) is single-phase, fed from L{fed}; a "
            "station under it draws on that phase alone (phases 1)",
        )
    if given is not None and given != fed:
        raise RpcError(
            "invalid",
            f"gridPhase: node {node.id} ({node.name!r}) is fed from L{fed}; a station under it "
            f"is on L{fed} too, not L{given}",
        )
    return fed


def number(value: Decimal | int | None) -> int | float | None:
    """A Decimal as a JSON number: an int when whole."""
    if value is None:
        return None
    if isinstance(value, int) or value == value.to_integral_value():
        return int(value)
    return float(value)


class LimitColumns(TypedDict):
    """A node's limit as `loads.nodes` stores it: A per phase, or W (the other form null)."""

    limit_l1: Decimal | None
    limit_l2: Decimal | None
    limit_l3: Decimal | None
    limit_watts: int | None


def limit_columns(amps: Sequence[Decimal] | None, watts: int | None) -> LimitColumns:
    """The limit columns of a node for a limit in A per phase or in W (the other form null)."""
    per_phase = list(amps or [])
    return LimitColumns(
        limit_l1=per_phase[0] if per_phase else None,
        limit_l2=per_phase[1] if len(per_phase) > 1 else None,
        limit_l3=per_phase[2] if len(per_phase) > 2 else None,
        limit_watts=watts,
    )


def limit_of(row: Any) -> tuple[list[Decimal] | None, int | None]:
    """A node row's limit: (A per phase, None) or (None, W)."""
    if row.limit_l1 is None:
        return None, int(row.limit_watts)
    return [a for a in (row.limit_l1, row.limit_l2, row.limit_l3) if a is not None], None


def assignment(row: Any) -> StationAssignment:
    """A row of `loads.stations` as the API shows it."""
    return StationAssignment(
        charge_point_id=row.charge_point_id,
        site_id=row.site_id,
        node_id=row.node_id,
        max_current=number(row.max_current),
        min_current=number(row.min_current),
        priority=row.priority,
        evses=row.evses,
        phases=row.phases,
        grid_phase=row.grid_phase,
        assigned_at=row.assigned_at,
        updated_at=row.updated_at,
    )


def resource(
    tree: SiteTree,
    node_id: int,
    stations: Mapping[int, Sequence[Any]],
    model: type[N],
) -> N:
    """The node `node_id` as `model`, with its stations and, recursively, the nodes under it."""
    row = tree.rows[node_id]
    amps, watts = limit_of(row)
    return model(
        id=row.id,
        site_id=row.site_id,
        parent_id=row.parent_id,
        name=row.name,
        limit_amps=None if amps is None else [int(a) if a % 1 == 0 else float(a) for a in amps],
        limit_watts=watts,
        voltage=row.voltage,
        phases=row.phases,
        grid_phase=row.grid_phase,
        stations=[assignment(s) for s in stations.get(node_id, ())],
        nodes=[resource(tree, child, stations, Node) for child in tree.children.get(node_id, ())],
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
