"""What operators type: stop whatever charges on connector n, find transactions by connector."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from csms_shared.ocpp._base import format_datetime, utcnow
from tests.integration.support import eventually

pytestmark = pytest.mark.integration

BOOT = {"chargePointVendor": "ACME", "chargePointModel": "X1"}


async def test_stop_by_connector_finds_the_active_transaction(
    api: httpx.AsyncClient, connect_cp: Any, cp_id: str
) -> None:
    tag = f"T{cp_id[-8:]}"
    assert (await api.post("/id-tags", json={"idTag": tag})).status_code == 201
    cp = await connect_cp(cp_id, 1)
    assert (await cp.call("BootNotification", BOOT))["status"] == "Accepted"
    started = await cp.call(
        "StartTransaction",
        {"connectorId": 2, "idTag": tag, "meterStart": 100, "timestamp": format_datetime(utcnow())},
    )
    tx_id = started["transactionId"]

    async def accept(action: str, payload: dict[str, Any]) -> dict[str, Any]:
        return {"status": "Accepted"}

    cp.responder = accept
    listed = await api.get(
        "/transactions", params={"chargePointId": cp_id, "connectorId": 2, "active": "true"}
    )
    assert [t["transactionId"] for t in listed.json()["items"]] == [tx_id]
    stopped = await api.post(f"/charge-points/{cp_id}/connectors/2/stop")
    assert stopped.status_code == 200, stopped.text
    assert stopped.json()["transactionId"] == tx_id
    assert stopped.json()["response"] == {"status": "Accepted"}
    assert ("RemoteStopTransaction", {"transactionId": tx_id}) in cp.received_calls
    # Nothing charges on connector 1: a problem, and nothing is sent.
    idle = await api.post(f"/charge-points/{cp_id}/connectors/1/stop")
    assert idle.status_code == 404
    assert idle.headers["content-type"].startswith("application/problem+json")
    assert "connector 1" in idle.json()["detail"]
    assert len([c for c in cp.received_calls if c[0] == "RemoteStopTransaction"]) == 1


async def test_an_admin_closes_a_transaction_with_the_reading_off_the_meter(
    api: httpx.AsyncClient, connect_cp: Any, cp_id: str
) -> None:
    tag = f"T{cp_id[-8:]}"
    assert (await api.post("/id-tags", json={"idTag": tag})).status_code == 201
    cp = await connect_cp(cp_id, 0)
    started = await cp.call(
        "StartTransaction",
        {
            "connectorId": 1,
            "idTag": tag,
            "meterStart": 1000,
            "timestamp": format_datetime(utcnow()),
        },
    )
    close = f"/transactions/{started['transactionId']}/close"
    body = {"reason": "CP lost its memory; read on site", "force": True, "meterStop": 7400}
    created = await api.post("/api-keys", json={"name": f"op-{cp_id}", "role": "operator"})
    operator = {"Authorization": f"Bearer {created.json()['key']}"}
    assert (await api.post(close, json=body, headers=operator)).status_code == 403
    below = await api.post(close, json=body | {"meterStop": 999})
    assert below.status_code == 422 and "below" in below.json()["detail"]
    closed = await api.post(close, json=body)
    assert closed.status_code == 200, closed.text
    doc = closed.json()
    assert doc["meterStop"] == 7400 and doc["energyWh"] == 6400 and doc["active"] is False
    assert doc["audit"][-1]["details"]["basis"] == "given by the operator"


async def test_connectors_are_listed_per_charge_point(
    api: httpx.AsyncClient, connect_cp: Any, cp_id: str
) -> None:
    cp = await connect_cp(cp_id, 1)
    for n, state in ((1, "Available"), (2, "Faulted")):
        error = "NoError" if state == "Available" else "GroundFailure"
        await cp.call("StatusNotification", {"connectorId": n, "errorCode": error, "status": state})

    async def listed() -> list[Any] | None:
        items = (await api.get("/connectors", params={"chargePointId": cp_id})).json()["items"]
        return items if len(items) == 2 else None

    items = await eventually(listed)
    assert [(c["chargePointId"], c["connectorId"], c["status"]) for c in items] == [
        (cp_id, 1, "Available"),
        (cp_id, 2, "Faulted"),
    ]
    assert items[1]["errorCode"] == "GroundFailure" and items[1]["availability"] == "Operative"
    assert (await api.get("/connectors", params={"chargePointID": cp_id})).status_code == 422
