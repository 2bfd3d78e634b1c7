"""What operators type: stop whatever charges on connector n, find transactions by connector."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from csms_shared.ocpp._base import format_datetime, utcnow

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
