"""Single-phase nodes against schema `loads`: each is fed from one grid phase of its parent,
and everything under it, nodes and stations, is on that phase; the allocator shares its one
limit there."""

from __future__ import annotations

import uuid
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from csms_shared.contracts.resources import Node
from csms_shared.contracts.rpc_loads import (
    AssignStation,
    CreateNode,
    NodeChange,
    OfNode,
    OfSite,
    OfStation,
    UpdateNode,
)
from csms_shared.ocpp.version import OcppVersion
from load_manager.allocation.rpc_allocation import get_allocation
from load_manager.settings import Settings
from load_manager.sites.rpc_sites import create_node, get_node, update_node
from load_manager.sites.rpc_stations import assign_station, get_station, unassign_station

from .conftest import Rpc, new_node, new_site
from .test_allocator_service import Site as Fleet
from .test_sites import refused


async def place(rpc: Rpc, node: int, **settings: object) -> str:
    cp_id = f"CP-{uuid.uuid4().hex[:8]}"
    placing = AssignStation.model_validate(
        {"charge_point_id": cp_id, "node_id": node, "ocpp_version": OcppVersion.V16, **settings}
    )
    await rpc(assign_station, placing)
    return cp_id


async def grid_phase_of(rpc: Rpc, cp_id: str) -> int | None:
    return (await rpc(get_station, OfStation(charge_point_id=cp_id))).grid_phase


async def moved(rpc: Rpc, node: Node, **change: object) -> Node:
    changing = UpdateNode(
        site_id=node.site_id, node_id=node.id, change=NodeChange.model_validate(change)
    )
    return await rpc(update_node, changing)


async def test_a_single_phase_node_and_what_is_under_it_share_one_grid_phase(rpc: Rpc) -> None:
    site = await new_site(rpc)
    panel = await new_node(rpc, site.id, site.id)
    assert panel.grid_phase is None
    assert (
        await new_node(rpc, site.id, site.id, "Kiosk", limit_amps=[10], phases=1)
    ).grid_phase == 1
    shed = await new_node(rpc, site.id, site.id, "Shed", limit_amps=[16], phases=1, grid_phase=2)
    assert (shed.phases, shed.grid_phase, shed.limit_amps) == (1, 2, [16])
    corner = await new_node(rpc, site.id, shed.id, "Corner", limit_amps=[10], phases=1)
    assert corner.grid_phase == 2  # its parent's
    other = CreateNode(
        site_id=site.id, parent_id=shed.id, name="X", limit_amps=[10], phases=1, grid_phase=3
    )
    await refused(
        rpc, create_node, other, "invalid", rf"gridPhase: node {shed.id} \('Shed'\) is fed from L2"
    )
    # Stations under it: single-phase, on L2.
    first = await place(rpc, shed.id, phases=1)
    assert await grid_phase_of(rpc, first) == 2
    second = await place(rpc, corner.id, phases=1, grid_phase=2)
    three_phase = AssignStation(charge_point_id="CP-3P", node_id=shed.id)
    await refused(
        rpc, assign_station, three_phase, "invalid", rf"phases: node {shed.id} \('Shed'\) is single"
    )
    on_l1 = AssignStation(charge_point_id="CP-L1", node_id=corner.id, phases=1, grid_phase=1)
    await refused(rpc, assign_station, on_l1, "invalid", rf"gridPhase: node {corner.id} .* not L1")
    # Rewired to L3, the shed takes the corner and both stations along.
    assert (await moved(rpc, shed, grid_phase=3)).grid_phase == 3
    assert (await rpc(get_node, OfNode(site_id=site.id, node_id=corner.id))).grid_phase == 3
    assert [await grid_phase_of(rpc, cp) for cp in (first, second)] == [3, 3]
    await refused(
        rpc,
        update_node,
        UpdateNode(site_id=site.id, node_id=corner.id, change=NodeChange(grid_phase=1)),
        "invalid",
        rf"gridPhase: node {shed.id} \('Shed'\) is fed from L3; .* not L1",
    )
    # Moved under the site, the corner may go onto L1; back under the shed, only onto L3.
    corner = await moved(rpc, corner, parent_id=site.id)
    assert (await moved(rpc, corner, grid_phase=1)).grid_phase == 1
    assert await grid_phase_of(rpc, second) == 1
    back = UpdateNode(site_id=site.id, node_id=corner.id, change=NodeChange(parent_id=shed.id))
    await refused(rpc, update_node, back, "invalid", "is fed from L3; .* not L1")
    corner = await moved(rpc, corner, parent_id=shed.id, grid_phase=3)
    assert (corner.parent_id, corner.grid_phase, await grid_phase_of(rpc, second)) == (
        shed.id,
        3,
        3,
    )
    # A three-phase node has none.
    await refused(
        rpc,
        update_node,
        UpdateNode(site_id=site.id, node_id=panel.id, change=NodeChange(grid_phase=2)),
        "invalid",
        "gridPhase is for a single-phase node",
    )


async def test_a_node_turned_single_phase_brings_its_stations_onto_its_phase(rpc: Rpc) -> None:
    site = await new_site(rpc)
    panel = await new_node(rpc, site.id, site.id)
    three_phase = await place(rpc, panel.id)
    on_l3 = await place(rpc, panel.id, phases=1, grid_phase=3)
    down = UpdateNode(
        site_id=site.id, node_id=panel.id, change=NodeChange(phases=1, limit_amps=[32])
    )
    await refused(
        rpc, update_node, down, "invalid", rf"phases: three-phase stations under node {panel.id} "
    )
    assert await grid_phase_of(rpc, on_l3) == 3  # nothing changed
    await rpc(unassign_station, OfStation(charge_point_id=three_phase))
    single = await moved(rpc, panel, phases=1, limit_amps=[32], grid_phase=2)
    assert (single.phases, single.grid_phase, await grid_phase_of(rpc, on_l3)) == (1, 2, 2)
    # Back to three phases, it has no grid phase; its station keeps L2.
    again = await moved(rpc, single, phases=3, limit_amps=[32, 32, 32])
    assert (again.phases, again.grid_phase, await grid_phase_of(rpc, on_l3)) == (3, None, 2)


async def test_two_stations_under_a_16_a_shed_on_l2_share_16_a_there(
    rpc: Rpc, sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    fleet = Fleet(rpc, sessions, settings)
    await fleet.create(100)
    shed = await new_node(
        rpc, fleet.site_id, fleet.site_id, "Shed", limit_amps=[16], phases=1, grid_phase=2
    )
    stations = [await place(rpc, shed.id, phases=1, max_current=32) for _ in range(2)]
    await fleet.settle(*stations)
    assert [(await fleet.sent(cp))[-1][1] for cp in stations] == [Decimal(8), Decimal(8)]
    allocation = await rpc(get_allocation, OfSite(site_id=fleet.site_id))
    nodes = {node.node_id: node for node in allocation.nodes}
    assert (nodes[shed.id].limit_amps, nodes[shed.id].allocated_amps) == ([0, 16, 0], [0, 16, 0])
    assert (nodes[fleet.site_id].limit_amps, nodes[fleet.site_id].allocated_amps) == (
        [100, 100, 100],
        [0, 16, 0],
    )
    assert [evse.counted for evse in allocation.evses] == [8, 8]
