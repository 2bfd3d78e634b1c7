"""The network as data: CP metadata (PATCH, reads, ?tag=, ?q=) and decommissioning."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from websockets.exceptions import InvalidStatus

from tests.integration.support import ChargePointClient, eventually

pytestmark = pytest.mark.integration

BOOT = {"chargePointVendor": "ACME", "chargePointModel": "X1"}


async def _booted(connect_cp: Any, cp_id: str) -> ChargePointClient:
    cp: ChargePointClient = await connect_cp(cp_id, 0)
    await cp.call("BootNotification", BOOT)
    return cp


async def test_an_admin_describes_a_cp_and_finds_it_by_tag_and_search(
    api: httpx.AsyncClient, connect_cp: Any, cp_id: str
) -> None:
    await _booted(connect_cp, cp_id)
    site = f"site-{uuid.uuid4().hex[:8]}"
    body = {
        "name": f"Depot {site}",
        "description": "Behind the bakery",
        "address": {
            "street": "Hauptstr. 1",
            "postalCode": "10115",
            "city": "Berlin",
            "country": "DE",
        },
        "coordinates": {"latitude": 52.53, "longitude": 13.38},
        "timezone": "Europe/Berlin",
        "tags": [site, "fleet-east"],
        "connectors": [{"connectorId": 1, "connectorType": "CCS2", "maxPowerKw": 150}],
    }
    response = await api.patch(f"/charge-points/{cp_id}", json=body)
    assert response.status_code == 200, response.text
    cp = (await api.get(f"/charge-points/{cp_id}")).json()
    assert cp["name"] == f"Depot {site}"
    assert cp["address"]["city"] == "Berlin"
    assert cp["coordinates"] == {"latitude": 52.53, "longitude": 13.38}
    assert cp["timezone"] == "Europe/Berlin"
    assert sorted(cp["tags"]) == sorted([site, "fleet-east"])
    assert cp["connectors"][0]["connectorType"] == "CCS2"
    assert cp["connectors"][0]["maxPowerKw"] == 150
    assert cp["chargePointVendor"] == "ACME"  # what the CP reported stays

    by_tag = (await api.get("/charge-points", params={"tag": site})).json()
    assert [c["id"] for c in by_tag["items"]] == [cp_id]
    by_search = (await api.get("/charge-points", params={"q": site.upper()})).json()
    assert [c["id"] for c in by_search["items"]] == [cp_id]
    assert (await api.get("/charge-points", params={"q": "no-such-" + site})).json()["total"] == 0

    # A field left out stays; null clears one.
    response = await api.patch(f"/charge-points/{cp_id}", json={"description": None})
    cp = response.json()
    assert "description" not in cp and cp["name"] == f"Depot {site}"


@pytest.mark.parametrize(
    "body",
    [
        {"coordinates": {"latitude": 91, "longitude": 0}},
        {"timezone": "Mars/Olympus"},
        {"tags": ["has space"]},
        {"connectors": [{"connectorId": 1, "connectorType": "Plug9"}]},
        {"connectors": [{"connectorId": 0, "maxPowerKw": 22}]},
        {"address": {"country": "Germany"}},
        {"color": "red"},
        {"name": "x" * 101},
    ],
)
async def test_bad_metadata_is_a_problem_422_and_changes_nothing(
    api: httpx.AsyncClient, connect_cp: Any, cp_id: str, body: dict[str, Any]
) -> None:
    await _booted(connect_cp, cp_id)
    response = await api.patch(f"/charge-points/{cp_id}", json={"name": "kept", **body})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["status"] == 422
    assert "name" not in (await api.get(f"/charge-points/{cp_id}")).json()


async def test_metadata_of_a_cp_never_seen_is_404(api: httpx.AsyncClient) -> None:
    response = await api.patch(f"/charge-points/NEVER-{uuid.uuid4().hex[:8]}", json={"name": "x"})
    assert response.status_code == 404


async def test_only_admins_describe_or_decommission_a_cp(
    api: httpx.AsyncClient, connect_cp: Any, cp_id: str
) -> None:
    await _booted(connect_cp, cp_id)
    created = await api.post(
        "/api-keys", json={"name": f"op-{uuid.uuid4().hex[:8]}", "role": "operator"}
    )
    assert created.status_code == 201, created.text
    operator = {"Authorization": f"Bearer {created.json()['key']}"}
    path = f"/charge-points/{cp_id}"
    described = await api.patch(path, json={"name": "by an operator"}, headers=operator)
    assert described.status_code == 403
    assert described.headers["content-type"].startswith("application/problem+json")
    for force in ("false", "true"):
        gone = await api.delete(path, params={"force": force}, headers=operator)
        assert gone.status_code == 403
    cp = (await api.get(path, headers=operator)).json()
    assert "name" not in cp and not cp.get("decommissionedAt")


async def test_decommissioning_is_refused_while_connected_unless_forced(
    suite: Any, api: httpx.AsyncClient, connect_cp: Any, cp_id: str
) -> None:
    cp = await _booted(connect_cp, cp_id)
    await cp.call(
        "StatusNotification", {"connectorId": 1, "status": "Available", "errorCode": "NoError"}
    )
    refused = await api.delete(f"/charge-points/{cp_id}")
    assert refused.status_code == 409
    assert "force=true" in refused.json()["detail"]

    forced = await api.delete(f"/charge-points/{cp_id}", params={"force": "true"})
    assert forced.status_code == 200, forced.text
    assert forced.json()["decommissionedAt"]
    await eventually(lambda: _closed(cp))

    listed = (await api.get("/charge-points", params={"q": cp_id})).json()
    assert listed["total"] == 0
    gone = (await api.get("/charge-points", params={"q": cp_id, "decommissioned": "true"})).json()
    assert [c["id"] for c in gone["items"]] == [cp_id]
    # Its history stays.
    history = (await api.get(f"/charge-points/{cp_id}/status-history")).json()
    assert history["total"] >= 1

    with pytest.raises(InvalidStatus) as refused_handshake:
        await ChargePointClient.connect(suite.gateway_url(1), cp_id)
    assert refused_handshake.value.response.status_code == 404

    # Registering it again puts it back in service.
    assert (await api.put(f"/charge-points/{cp_id}", json={})).status_code == 200
    back = await connect_cp(cp_id, 1)
    assert (await back.call("BootNotification", BOOT))["status"] == "Accepted"


async def _closed(cp: ChargePointClient) -> bool:
    return cp.ws.close_code is not None
