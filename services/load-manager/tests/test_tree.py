"""Where a node may go in its site's tree: never under itself, never too deep, never a
three-phase node under a single-phase one; and the grid phase of what is under a single-phase
node: its own."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from csms_shared.bus.rpc import RpcError
from load_manager.sites.tree import (
    SiteTree,
    check_children_phases,
    check_move,
    check_phases,
    grid_phase_under,
    station_grid_phase,
)


@dataclass(frozen=True)
class Row:
    id: int
    parent_id: int | None
    phases: int = 3
    name: str = ""
    grid_phase: int | None = None


# 1 (site) -> 2 -> 3 -> 4, and 1 -> 5 (single-phase, on L2) -> 6 (single-phase, on L2)
SHED, CORNER = Row(5, 1, 1, "shed", 2), Row(6, 5, 1, "", 2)
TREE = SiteTree([Row(1, None), Row(2, 1), Row(3, 2), Row(4, 3), SHED, CORNER])


def test_depth_height_and_what_is_below() -> None:
    assert [TREE.depth(i) for i in (1, 2, 3, 4, 5, 6)] == [1, 2, 3, 4, 2, 3]
    assert [TREE.height(i) for i in (1, 2, 4, 5)] == [4, 3, 1, 2]
    assert TREE.below(2) == [2, 3, 4]
    assert TREE.below(1) == [1, 2, 5, 3, 6, 4]
    assert len(TREE) == 6 and 6 in TREE and 7 not in TREE


@pytest.mark.parametrize("parent", [2, 3, 4])
def test_a_node_cannot_move_under_itself_or_a_node_below_it(parent: int) -> None:
    with pytest.raises(RpcError, match=f"parentId: node {parent} is node 2 or under it"):
        check_move(TREE, parent, node_id=2, max_depth=10)


def test_a_move_elsewhere_is_fine() -> None:
    check_move(TREE, 5, node_id=3, max_depth=10)
    check_move(TREE, 1, node_id=4, max_depth=10)


def test_a_tree_stays_as_shallow_as_the_setting_says() -> None:
    check_move(TREE, 3, node_id=None, max_depth=4)  # a new node at level 4
    with pytest.raises(RpcError, match="would be 5 levels deep; at most 4") as refused:
        check_move(TREE, 4, node_id=None, max_depth=4)
    assert refused.value.code == "invalid"
    # Node 2 brings two levels under it: under node 5 that is 5 levels.
    with pytest.raises(RpcError, match="under node 5 the site would be 5 levels deep"):
        check_move(TREE, 5, node_id=2, max_depth=4)


def test_a_three_phase_node_cannot_hang_under_a_single_phase_one() -> None:
    check_phases(TREE, 5, 1)
    check_phases(TREE, 1, 1)
    with pytest.raises(RpcError, match=r"a 3-phase node cannot be under node 5 \('shed'\)"):
        check_phases(TREE, 5, 3)


def test_a_node_cannot_drop_to_one_phase_over_three_phase_children() -> None:
    check_children_phases(TREE, 5, 1)
    check_children_phases(TREE, 4, 1)  # nothing under it
    with pytest.raises(RpcError, match=r"node 3 \(''\) under it is 3-phase"):
        check_children_phases(TREE, 2, 1)


def test_a_single_phase_node_is_on_its_single_phase_parents_grid_phase() -> None:
    # Under a three-phase node (or as a site): the phase given, else L1.
    assert grid_phase_under(TREE, 1, 1, 3) == 3
    assert grid_phase_under(TREE, 1, 1, None) == 1
    assert grid_phase_under(TREE, None, 1, None) == 1
    # Under a single-phase node: its phase, given or not; no other.
    assert grid_phase_under(TREE, 5, 1, None) == 2
    assert grid_phase_under(TREE, 6, 1, 2) == 2
    with pytest.raises(RpcError, match=r"gridPhase: node 5 \('shed'\) is fed from L2; .* not L3"):
        grid_phase_under(TREE, 5, 1, 3)
    # A three-phase node has none.
    assert grid_phase_under(TREE, 2, 3, None) is None


def test_a_station_under_a_single_phase_node_is_single_phase_on_its_phase() -> None:
    assert station_grid_phase(SHED, 1, None) == 2
    assert station_grid_phase(CORNER, 1, 2) == 2
    with pytest.raises(RpcError, match=r"gridPhase: node 5 \('shed'\) is fed from L2; .* not L1"):
        station_grid_phase(SHED, 1, 1)
    with pytest.raises(RpcError, match=r"phases: node 5 \('shed'\) is single-phase, fed from L2"):
        station_grid_phase(SHED, 3, None)
    # On a three-phase node: as the station says (L1 if it does not).
    panel = TREE.rows[2]
    assert station_grid_phase(panel, 1, 3) == 3
    assert station_grid_phase(panel, 1, None) == 1
    assert station_grid_phase(panel, 3, None) is None
