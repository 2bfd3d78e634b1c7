"""Sites and their nodes as the RPC methods keep them in schema `loads`."""

from __future__ import annotations

import uuid

import pytest

from csms_shared.bus.rpc import RpcError
from csms_shared.contracts.rpc_base import Paged
from csms_shared.contracts.rpc_loads import (
    AssignStation,
    CreateNode,
    NodeChange,
    NodeSettings,
    OfNode,
    OfSite,
    OfStation,
    SiteChange,
    UpdateNode,
    UpdateSite,
)
from load_manager.sites.rpc_sites import (
    create_node,
    create_site,
    delete_node,
    delete_site,
    get_node,
    get_site,
    list_sites,
    update_node,
    update_site,
)
from load_manager.sites.rpc_stations import assign_station, unassign_station

from .conftest import Rpc, new_node, new_site, unique


async def refused(rpc: Rpc, handler: object, params: object, code: str, match: str) -> None:
    with pytest.raises(RpcError, match=match) as caught:
        await rpc(handler, params)  # type: ignore[arg-type]
    assert caught.value.code == code


async def test_a_site_with_a_panel_reads_back_as_a_tree(rpc: Rpc) -> None:
    site = await new_site(rpc, limit_amps=[100, 100, 80.5])
    assert site.parent_id is None and site.site_id == site.id
    assert (site.limit_amps, site.limit_watts, site.voltage, site.phases) == (
        [100, 100, 80.5],
        None,
        230,
        3,
    )
    panel = await new_node(rpc, site.id, site.id, "Panel A", limit_watts=22000, phases=3)
    shed = await new_node(rpc, site.id, panel.id, "Shed", limit_amps=[16], phases=1)
    assert (panel.parent_id, panel.site_id, panel.limit_watts, panel.limit_amps) == (
        site.id,
        site.id,
        22000,
        None,
    )
    read = await rpc(get_site, OfSite(site_id=site.id))
    assert [n.id for n in read.nodes] == [panel.id]
    assert [n.id for n in read.nodes[0].nodes] == [shed.id]
    assert read.nodes[0].nodes[0].limit_amps == [16]
    assert read.model_dump(by_alias=True, exclude_unset=True)["nodes"][0]["nodes"][0][
        "parentId"
    ] == (panel.id)
    node = await rpc(get_node, OfNode(site_id=site.id, node_id=panel.id))
    assert node.name == "Panel A" and [n.name for n in node.nodes] == ["Shed"]


async def test_sites_list_by_id_each_whole(rpc: Rpc) -> None:
    first = await new_site(rpc)
    await new_node(rpc, first.id, first.id)
    second = await new_site(rpc, limit_watts=50_000)
    page = await rpc(list_sites, Paged(limit=1000))
    listed = {site.id: site for site in page.items}
    assert page.total >= 2 and {first.id, second.id} <= set(listed)
    assert len(listed[first.id].nodes) == 1 and listed[second.id].limit_watts == 50_000


async def test_an_unknown_site_or_node_is_not_found(rpc: Rpc) -> None:
    site = await new_site(rpc)
    panel = await new_node(rpc, site.id, site.id)
    other = await new_site(rpc)
    await refused(rpc, get_site, OfSite(site_id=2**40), "not_found", "site 1099511627776 does")
    await refused(rpc, get_site, OfSite(site_id=panel.id), "not_found", f"is of site {site.id}")
    await refused(
        rpc,
        get_node,
        OfNode(site_id=other.id, node_id=panel.id),
        "not_found",
        f"site {other.id} has no node {panel.id}",
    )


async def test_a_parent_that_is_not_of_the_site_is_invalid(rpc: Rpc) -> None:
    site, other = await new_site(rpc), await new_site(rpc)
    elsewhere = await new_node(rpc, other.id, other.id)
    creating = CreateNode(site_id=site.id, parent_id=elsewhere.id, name="X", limit_watts=10)
    await refused(rpc, create_node, creating, "invalid", f"is of site {other.id}, not of site")
    creating = CreateNode(site_id=site.id, parent_id=2**40, name="X", limit_watts=10)
    await refused(rpc, create_node, creating, "invalid", "node 1099511627776 does not exist")


async def test_a_node_moves_within_its_site_but_never_under_itself(rpc: Rpc) -> None:
    site = await new_site(rpc)
    a = await new_node(rpc, site.id, site.id, "A")
    b = await new_node(rpc, site.id, a.id, "B")
    c = await new_node(rpc, site.id, site.id, "C")
    cycle = UpdateNode(site_id=site.id, node_id=a.id, change=NodeChange(parent_id=b.id))
    await refused(rpc, update_node, cycle, "invalid", f"node {b.id} is node {a.id} or under it")
    moved = await rpc(
        update_node, UpdateNode(site_id=site.id, node_id=a.id, change=NodeChange(parent_id=c.id))
    )
    assert moved.parent_id == c.id and [n.id for n in moved.nodes] == [b.id]
    tree = await rpc(get_site, OfSite(site_id=site.id))
    assert [n.id for n in tree.nodes] == [c.id]
    assert [n.id for n in tree.nodes[0].nodes] == [a.id]
    other = await new_site(rpc)
    away = UpdateNode(site_id=site.id, node_id=a.id, change=NodeChange(parent_id=other.id))
    await refused(rpc, update_node, away, "invalid", "nodes stay in their site")
    root = UpdateNode(site_id=site.id, node_id=site.id, change=NodeChange(parent_id=c.id))
    await refused(rpc, update_node, root, "invalid", "a site has no parent")


async def test_depth_and_size_are_bounded_by_the_settings(rpc: Rpc) -> None:
    # conftest: at most 4 levels and 6 nodes a site.
    site = await new_site(rpc)
    a = await new_node(rpc, site.id, site.id, "A")
    b = await new_node(rpc, site.id, a.id, "B")
    c = await new_node(rpc, site.id, b.id, "C")
    deeper = CreateNode(site_id=site.id, parent_id=c.id, name="D", limit_watts=10)
    await refused(rpc, create_node, deeper, "invalid", "would be 5 levels deep; at most 4")
    await new_node(rpc, site.id, site.id, "E")
    await new_node(rpc, site.id, site.id, "F")
    full = CreateNode(site_id=site.id, parent_id=site.id, name="G", limit_watts=10)
    await refused(rpc, create_node, full, "conflict", "has 6 nodes, the most a site may have")


async def test_names_are_unique_among_siblings_in_any_case(rpc: Rpc) -> None:
    site = await new_site(rpc)
    await new_node(rpc, site.id, site.id, "Panel A")
    twin = CreateNode(site_id=site.id, parent_id=site.id, name="PANEL a", limit_watts=10)
    await refused(rpc, create_node, twin, "conflict", f"node {site.id} has a node named 'PANEL a'")
    taken = NodeSettings(name=site.name.upper(), limit_watts=10)
    await refused(rpc, create_site, taken, "conflict", "a site named")
    other = await new_site(rpc)
    await new_node(rpc, other.id, other.id, "Panel A")  # another site's panel may share it


async def test_a_change_merges_with_what_is_stored_and_is_checked_whole(rpc: Rpc) -> None:
    site = await new_site(rpc, limit_amps=[50, 50, 50])
    changed = await rpc(
        update_site, UpdateSite(site_id=site.id, change=SiteChange(limit_watts=30_000))
    )
    assert (changed.limit_watts, changed.limit_amps, changed.phases) == (30_000, None, 3)
    assert changed.name == site.name and changed.updated_at >= site.updated_at
    to_one_phase = UpdateSite(
        site_id=site.id, change=SiteChange(phases=1, limit_amps=[40], name=unique("Shed"))
    )
    one = await rpc(update_site, to_one_phase)
    assert (one.phases, one.limit_amps, one.limit_watts) == (1, [40], None)
    mismatched = UpdateSite(site_id=site.id, change=SiteChange(phases=3))
    await refused(rpc, update_site, mismatched, "invalid", "3 for a 3-phase node, not 1")


async def test_phases_fit_from_the_site_down(rpc: Rpc) -> None:
    site = await new_site(rpc)
    panel = await new_node(rpc, site.id, site.id)
    down = UpdateSite(site_id=site.id, change=SiteChange(phases=1, limit_amps=[80]))
    await refused(rpc, update_site, down, "invalid", f"node {panel.id} .'Panel'. under it")
    shed = await new_node(rpc, site.id, panel.id, "Shed", limit_amps=[16], phases=1)
    up = UpdateNode(site_id=site.id, node_id=shed.id, change=NodeChange(name="Shed 2"))
    assert (await rpc(update_node, up)).name == "Shed 2"
    under_shed = CreateNode(site_id=site.id, parent_id=shed.id, name="X", limit_watts=10)
    await refused(rpc, create_node, under_shed, "invalid", "a 3-phase node cannot be under")


async def test_a_node_goes_only_when_nothing_is_under_it_or_on_it(rpc: Rpc) -> None:
    site = await new_site(rpc)
    panel = await new_node(rpc, site.id, site.id)
    await refused(
        rpc, delete_site, OfSite(site_id=site.id), "conflict", f"under it \\({panel.id}\\)"
    )
    cp_id = f"CP-{uuid.uuid4().hex[:8]}"
    await rpc(assign_station, AssignStation(charge_point_id=cp_id, node_id=panel.id))
    busy = OfNode(site_id=site.id, node_id=panel.id)
    await refused(rpc, delete_node, busy, "conflict", f"has stations \\({cp_id}\\)")
    await rpc(unassign_station, OfStation(charge_point_id=cp_id))
    gone = await rpc(delete_node, busy)
    assert (gone.site_id, gone.node_id, gone.deleted) == (site.id, panel.id, True)
    assert (await rpc(delete_site, OfSite(site_id=site.id))).deleted
    await refused(rpc, get_site, OfSite(site_id=site.id), "not_found", "does not exist")
