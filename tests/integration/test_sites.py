"""Sites over REST: command-api answers from the load-manager's schema `loads`, through the
real suite (docs/load-management.md's worked example, then every refusal the routes document)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.integration.conftest import Suite

pytestmark = pytest.mark.integration


def unique(name: str) -> str:
    return f"{name} {uuid.uuid4().hex[:8]}"


def problem(response: httpx.Response, status: int, detail: str = "") -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status and detail in body["detail"], body
    return body


async def registered(api: httpx.AsyncClient) -> str:
    """A CP the registry knows (registered by an admin, never connected)."""
    cp_id = f"CP-{uuid.uuid4().hex[:10]}"
    response = await api.put(f"/charge-points/{cp_id}", json={"securityProfile": 0})
    assert response.status_code == 200, response.text
    return cp_id


async def created(api: httpx.AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await api.post(path, json=body)
    assert response.status_code == 201, response.text
    answer: dict[str, Any] = response.json()
    return answer


@pytest.fixture
async def viewer(api: httpx.AsyncClient, suite: Suite) -> AsyncIterator[httpx.AsyncClient]:
    key = await api.post("/api-keys", json={"name": unique("sites-viewer"), "role": "viewer"})
    assert key.status_code == 201, key.text
    async with httpx.AsyncClient(
        base_url=suite.api_url, headers={"Authorization": f"Bearer {key.json()['key']}"}
    ) as client:
        yield client


async def test_a_site_with_a_panel_and_two_stations_reads_back(api: httpx.AsyncClient) -> None:
    name = unique("Depot")
    site = await created(api, "/sites", {"name": name, "limitAmps": [100, 100, 100]})
    assert site["name"] == name and site["limitAmps"] == [100, 100, 100]
    assert (site["voltage"], site["phases"], site["nodes"], site["stations"]) == (230, 3, [], [])
    assert "parentId" not in site and "limitWatts" not in site
    panel = await created(
        api,
        f"/sites/{site['id']}/nodes",
        {"name": "Panel A", "parentId": site["id"], "limitAmps": [63, 63, 63]},
    )
    assert (panel["siteId"], panel["parentId"]) == (site["id"], site["id"])
    first, second = await registered(api), await registered(api)
    placed = await api.put(
        f"/charge-points/{first}/site",
        json={"nodeId": panel["id"], "maxCurrent": 32, "minCurrent": 6, "priority": 1},
    )
    assert placed.status_code == 200, placed.text
    assert placed.json()["siteId"] == site["id"] and placed.json()["maxCurrent"] == 32
    on_site = await api.put(f"/charge-points/{second}/site", json={"nodeId": site["id"]})
    assert on_site.status_code == 200, on_site.text
    assert "maxCurrent" not in on_site.json() and on_site.json()["priority"] == 0

    read = (await api.get(f"/sites/{site['id']}")).json()
    assert [s["chargePointId"] for s in read["stations"]] == [second]
    [node] = read["nodes"]
    assert (node["id"], node["name"], node["limitAmps"]) == (panel["id"], "Panel A", [63, 63, 63])
    assert [(s["chargePointId"], s["minCurrent"]) for s in node["stations"]] == [(first, 6)]
    assert (await api.get(f"/charge-points/{first}/site")).json()["nodeId"] == panel["id"]
    # The charge point read alone names its site and node.
    cp = (await api.get(f"/charge-points/{first}")).json()
    assert cp["id"] == first and cp["site"] == {"siteId": site["id"], "nodeId": panel["id"]}
    listed = (await api.get(f"/sites/{site['id']}/nodes/{panel['id']}/stations")).json()
    assert [s["chargePointId"] for s in listed["items"]] == [first] and listed["total"] == 1
    page = (await api.get("/sites", params={"limit": 1000})).json()
    assert site["id"] in [s["id"] for s in page["items"]]


async def test_changes_moves_and_deletes_of_a_site(api: httpx.AsyncClient) -> None:
    site = await created(api, "/sites", {"name": unique("Car park"), "limitWatts": 44000})
    nodes = f"/sites/{site['id']}/nodes"
    a = await created(api, nodes, {"name": "A", "parentId": site["id"], "limitWatts": 22000})
    b = await created(api, nodes, {"name": "B", "parentId": a["id"], "limitWatts": 11000})
    c = await created(
        api, nodes, {"name": "C", "parentId": site["id"], "limitAmps": [16], "phases": 1}
    )
    # A limit in A per phase replaces the one in W.
    changed = await api.patch(f"/sites/{site['id']}", json={"limitAmps": [63, 63, 63]})
    assert changed.status_code == 200, changed.text
    assert changed.json()["limitAmps"] == [63, 63, 63] and "limitWatts" not in changed.json()
    moved = await api.patch(f"{nodes}/{b['id']}", json={"parentId": site["id"]})
    assert moved.status_code == 200, moved.text
    assert moved.json()["parentId"] == site["id"]
    tree = (await api.get(f"/sites/{site['id']}")).json()
    assert [n["name"] for n in tree["nodes"]] == ["A", "B", "C"]
    assert (await api.delete(f"{nodes}/{b['id']}")).status_code == 204
    problem(await api.get(f"{nodes}/{b['id']}"), 404, "has no node")
    for node in (a, c):
        assert (await api.delete(f"{nodes}/{node['id']}")).status_code == 204
    assert (await api.delete(f"/sites/{site['id']}")).status_code == 204
    problem(await api.get(f"/sites/{site['id']}"), 404, "does not exist")


async def test_refusals_are_precise_problems(
    api: httpx.AsyncClient, viewer: httpx.AsyncClient
) -> None:
    site = await created(api, "/sites", {"name": unique("Depot"), "limitAmps": [80, 80, 80]})
    other = await created(api, "/sites", {"name": unique("Depot"), "limitAmps": [80, 80, 80]})
    nodes = f"/sites/{site['id']}/nodes"
    panel = await created(api, nodes, {"name": "Panel", "parentId": site["id"], "limitWatts": 9})
    sub = await created(api, nodes, {"name": "Sub", "parentId": panel["id"], "limitWatts": 5})

    # A parent that does not exist, or is another site's, is a 422 naming it.
    body = {"name": "X", "limitWatts": 5}
    problem(await api.post(nodes, json={**body, "parentId": 2**40}), 422, "does not exist")
    problem(
        await api.post(nodes, json={**body, "parentId": other["id"]}),
        422,
        f"is of site {other['id']}, not of site {site['id']}",
    )
    problem(await api.post(f"/sites/{2**40}/nodes", json={**body, "parentId": 1}), 404)
    # A node never goes under itself or a node below it.
    problem(
        await api.patch(f"{nodes}/{panel['id']}", json={"parentId": sub["id"]}),
        422,
        "cannot move under itself",
    )
    # A body that cannot be a node, and a name its siblings have.
    problem(await api.post("/sites", json={"name": "Y"}), 422, "a node needs a limit")
    problem(
        await api.post("/sites", json={"name": "Y", "limitAmps": [10], "limitWatts": 5}),
        422,
        "not both",
    )
    problem(await api.post(nodes, json={**body, "name": "PANEL", "parentId": site["id"]}), 409)
    problem(await api.patch(f"/sites/{site['id']}", json={"parentId": panel["id"]}), 422)

    # Stations: the CP must be known, the node must exist.
    cp_id = await registered(api)
    problem(await api.put("/charge-points/CP-NEVER-SEEN/site", json={"nodeId": sub["id"]}), 404)
    problem(await api.put(f"/charge-points/{cp_id}/site", json={"nodeId": 2**40}), 422)
    problem(await api.get(f"/charge-points/{cp_id}/site"), 404, "is on no site")
    assert "site" not in (await api.get(f"/charge-points/{cp_id}")).json()
    assert (
        await api.put(f"/charge-points/{cp_id}/site", json={"nodeId": sub["id"]})
    ).status_code == 200

    # What is not empty stays.
    problem(await api.delete(f"/sites/{site['id']}"), 409, "has nodes under it")
    problem(await api.delete(f"{nodes}/{sub['id']}"), 409, f"has stations ({cp_id})")

    # A viewer reads and changes nothing.
    assert (await viewer.get(f"/sites/{site['id']}")).status_code == 200
    problem(await viewer.post("/sites", json={"name": unique("V"), "limitWatts": 5}), 403)
    problem(await viewer.patch(f"/sites/{site['id']}", json={"name": "V"}), 403)
    problem(await viewer.put(f"/charge-points/{cp_id}/site", json={"nodeId": site["id"]}), 403)
    problem(await viewer.delete(f"/charge-points/{cp_id}/site"), 403)
    assert (await api.get(f"/charge-points/{cp_id}/site")).json()["nodeId"] == sub["id"]

    assert (await api.delete(f"/charge-points/{cp_id}/site")).status_code == 204
    problem(await api.delete(f"/charge-points/{cp_id}/site"), 404, "is on no site")
    assert (await api.delete(f"{nodes}/{sub['id']}")).status_code == 204
