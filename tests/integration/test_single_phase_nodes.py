"""A single-phase node over REST through the real suite: fed from one grid phase, it takes
only single-phase stations on that phase, and its one limit is shared there (two 1.6 stations
under a 16 A shed on L2 hold 8 A each; the site's L2 carries them)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.integration.support import eventually
from tests.integration.test_charging_profiles import station
from tests.integration.test_load_management import held
from tests.integration.test_sites import created, problem, registered, unique

pytestmark = pytest.mark.integration


async def test_a_16_a_shed_on_l2_is_shared_on_l2(api: httpx.AsyncClient, connect_cp: Any) -> None:
    site = await created(api, "/sites", {"name": unique("Depot"), "limitAmps": [100, 100, 100]})
    nodes = f"/sites/{site['id']}/nodes"
    shed = await created(
        api,
        nodes,
        {"name": "Shed", "parentId": site["id"], "limitAmps": [16], "phases": 1, "gridPhase": 2},
    )
    assert (shed["phases"], shed["gridPhase"], shed["limitAmps"]) == (1, 2, [16])
    # Under it: single-phase, on L2 (its phase when none is given).
    corner = {"name": "Corner", "parentId": shed["id"], "limitAmps": [10], "phases": 1}
    problem(await api.post(nodes, json={**corner, "gridPhase": 3}), 422, "gridPhase: node")
    assert (await created(api, nodes, corner))["gridPhase"] == 2
    three_phase = {"name": "Panel", "parentId": site["id"], "limitAmps": [63] * 3, "gridPhase": 2}
    problem(await api.post(nodes, json=three_phase), 422, "gridPhase is for a single-phase node")
    spare = await registered(api)
    placing = f"/charge-points/{spare}/site"
    problem(await api.put(placing, json={"nodeId": shed["id"]}), 422, "phases: node")
    problem(
        await api.put(placing, json={"nodeId": shed["id"], "phases": 1, "gridPhase": 1}),
        422,
        "gridPhase: node",
    )

    stations = []
    for _ in range(2):
        cp_id = unique("SP").replace(" ", "-")
        stations.append(await station(api, connect_cp, cp_id, "1.6"))
        placed = await api.put(
            f"/charge-points/{cp_id}/site",
            json={"nodeId": shed["id"], "phases": 1, "maxCurrent": 32, "minCurrent": 6},
        )
        assert placed.status_code == 200, placed.text
        assert placed.json()["gridPhase"] == 2

    async def shared() -> dict[int, dict[str, Any]] | None:
        if [held(cp, "1.6") for cp in stations] != [8, 8]:
            return None
        shown = await api.get(f"/sites/{site['id']}/allocation")
        assert shown.status_code == 200, shown.text
        by_node = {node["nodeId"]: node for node in shown.json()["nodes"]}
        return by_node if by_node[site["id"]]["allocatedAmps"] == [0, 16, 0] else None

    # 8 A each: the shed's 16 A on L2, not 16 A on each phase; the site sees them on L2.
    by_node = await eventually(shared, timeout=30)
    assert (by_node[shed["id"]]["limitAmps"], by_node[shed["id"]]["allocatedAmps"]) == (
        [0, 16, 0],
        [0, 16, 0],
    )
    assert by_node[site["id"]]["limitAmps"] == [100, 100, 100]

    # Rewired to L3, the shed takes its stations along.
    moved = await api.patch(f"{nodes}/{shed['id']}", json={"gridPhase": 3})
    assert moved.status_code == 200, moved.text
    assert [n["gridPhase"] for n in moved.json()["nodes"]] == [3]
    assert [s["gridPhase"] for s in moved.json()["stations"]] == [3, 3]

    async def on_l3() -> bool:
        shown = (await api.get(f"/sites/{site['id']}/allocation")).json()
        return any(
            node["nodeId"] == site["id"] and node["allocatedAmps"] == [0, 0, 16]
            for node in shown["nodes"]
        )

    await eventually(on_l3, timeout=30)
