"""Stations on nodes: at most one node each, settings replaced as a whole, moved by a PUT."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from csms_shared.bus.rpc import RpcError
from csms_shared.contracts.rpc_loads import (
    AssignStation,
    ListNodeStations,
    OfSite,
    OfStation,
)
from csms_shared.ocpp.version import OcppVersion
from load_manager.settings import Settings
from load_manager.sites.rpc_sites import get_site
from load_manager.sites.rpc_stations import (
    assign_station,
    get_station,
    list_node_stations,
    unassign_station,
)

from .conftest import Rpc, new_node, new_site
from .test_profiles import sent


@pytest.fixture
def cp_id() -> str:
    return f"CP-{uuid.uuid4().hex[:8]}"


async def test_a_station_lands_on_a_node_with_its_settings(rpc: Rpc, cp_id: str) -> None:
    site = await new_site(rpc)
    panel = await new_node(rpc, site.id, site.id)
    placed = await rpc(
        assign_station,
        AssignStation(
            charge_point_id=cp_id,
            node_id=panel.id,
            max_current=Decimal("32"),
            min_current=Decimal("6.5"),
            priority=5,
        ),
    )
    assert (placed.site_id, placed.node_id, placed.max_current, placed.min_current) == (
        site.id,
        panel.id,
        32,
        6.5,
    )
    assert placed.priority == 5
    assert await rpc(get_station, OfStation(charge_point_id=cp_id)) == placed
    tree = await rpc(get_site, OfSite(site_id=site.id))
    assert tree.stations == [] and tree.nodes[0].stations == [placed]


async def test_a_second_put_moves_it_and_replaces_its_settings(rpc: Rpc, cp_id: str) -> None:
    site = await new_site(rpc)
    panel = await new_node(rpc, site.id, site.id)
    first = await rpc(
        assign_station,
        AssignStation(charge_point_id=cp_id, node_id=panel.id, max_current=Decimal(16)),
    )
    other = await new_site(rpc)
    moved = await rpc(assign_station, AssignStation(charge_point_id=cp_id, node_id=other.id))
    assert (moved.site_id, moved.node_id, moved.max_current, moved.priority) == (
        other.id,
        other.id,
        None,
        0,
    )
    assert moved.assigned_at == first.assigned_at and moved.updated_at >= first.updated_at
    listed = await rpc(list_node_stations, ListNodeStations(site_id=site.id, node_id=panel.id))
    assert (listed.items, listed.total) == ([], 0)
    there = await rpc(list_node_stations, ListNodeStations(site_id=other.id, node_id=other.id))
    assert [s.charge_point_id for s in there.items] == [cp_id] and there.total == 1


async def test_a_nodes_stations_come_a_page_at_a_time_by_id(rpc: Rpc) -> None:
    site = await new_site(rpc)
    ids = sorted(f"CP-{uuid.uuid4().hex[:8]}" for _ in range(3))
    for cp_id in reversed(ids):
        await rpc(assign_station, AssignStation(charge_point_id=cp_id, node_id=site.id))
    page = await rpc(
        list_node_stations, ListNodeStations(site_id=site.id, node_id=site.id, limit=2, offset=1)
    )
    assert [s.charge_point_id for s in page.items] == ids[1:] and page.total == 3


async def test_an_unknown_node_and_an_unplaced_station_are_refused(rpc: Rpc, cp_id: str) -> None:
    with pytest.raises(RpcError, match="nodeId: node 1099511627776 does not exist") as caught:
        await rpc(assign_station, AssignStation(charge_point_id=cp_id, node_id=2**40))
    assert caught.value.code == "invalid"
    for handler in (get_station, unassign_station):
        with pytest.raises(RpcError, match=f"charge point {cp_id} is on no site") as caught:
            await rpc(handler, OfStation(charge_point_id=cp_id))  # type: ignore[arg-type]
        assert caught.value.code == "not_found"


async def test_unassigning_takes_it_off_its_site(rpc: Rpc, cp_id: str) -> None:
    site = await new_site(rpc)
    await rpc(assign_station, AssignStation(charge_point_id=cp_id, node_id=site.id))
    gone = await rpc(unassign_station, OfStation(charge_point_id=cp_id))
    assert (gone.charge_point_id, gone.unassigned) == (cp_id, True)
    assert (await rpc(get_site, OfSite(site_id=site.id))).stations == []


@pytest.mark.parametrize("version", [None, OcppVersion.V16, OcppVersion.V201])
async def test_unassigning_clears_the_allocators_limits_in_the_stations_version(
    rpc: Rpc, sessions: async_sessionmaker[AsyncSession], cp_id: str, version: OcppVersion | None
) -> None:
    """A station taken off its site has the allocator's profile cleared on each EVSE, spelled
    in its version; one never connected since it was placed (no version) was sent none, and
    nothing is sent to it (no 1.6 guess)."""
    site = await new_site(rpc)
    placing = AssignStation(charge_point_id=cp_id, node_id=site.id, evses=2, ocpp_version=version)
    await rpc(assign_station, placing)
    before = len(await sent(sessions, cp_id))
    await rpc(unassign_station, OfStation(charge_point_id=cp_id))
    clears = [
        r for r in (await sent(sessions, cp_id))[before:] if r.action == "ClearChargingProfile"
    ]
    if version is None:
        assert clears == []
        return
    key = "chargingProfileId" if version is OcppVersion.V201 else "id"
    assert [r.payload[key] for r in clears] == [
        Settings().allocation_profile_id + 1,
        Settings().allocation_profile_id + 2,
    ]
