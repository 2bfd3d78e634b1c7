"""An operator's day over REST: id tags, a remote charging session, its meter values, reports."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.integration.support import eventually

pytestmark = pytest.mark.integration

BOOT = {"chargePointVendor": "ACME", "chargePointModel": "X1"}


async def test_remote_start_and_stop_with_meter_values_and_audit_log(
    api: httpx.AsyncClient, connect_cp: Any, cp_id: str
) -> None:
    tag = cp_id[-10:].upper()
    created = await api.post("/id-tags", json={"idTag": tag, "maxConcurrentTx": 1})
    assert created.status_code == 201, created.text
    assert (await api.post("/id-tags", json={"idTag": tag})).status_code == 409

    cp = await connect_cp(cp_id, 1)
    await cp.call("BootNotification", BOOT)

    async def accept(action: str, payload: dict[str, Any]) -> dict[str, Any]:
        return {"status": "Accepted"}

    cp.responder = accept
    started = await api.post(
        f"/charge-points/{cp_id}/commands/RemoteStartTransaction",
        json={"idTag": tag, "connectorId": 1},
    )
    assert started.status_code == 200 and started.json()["response"] == {"status": "Accepted"}
    # What a CP does after accepting RemoteStartTransaction.
    assert (await cp.call("Authorize", {"idTag": tag}))["idTagInfo"]["status"] == "Accepted"
    start = await cp.call(
        "StartTransaction",
        {"connectorId": 1, "idTag": tag, "meterStart": 1000, "timestamp": "2026-11-22T10:00:00Z"},
    )
    assert start["idTagInfo"]["status"] == "Accepted"
    transaction_id = start["transactionId"]
    await cp.call(
        "MeterValues",
        {
            "connectorId": 1,
            "transactionId": transaction_id,
            "meterValue": [
                {
                    "timestamp": "2026-11-22T10:15:00Z",
                    "sampledValue": [
                        {
                            "value": "3.5",
                            "measurand": "Energy.Active.Import.Register",
                            "unit": "kWh",
                        }
                    ],
                }
            ],
        },
    )
    stopped = await api.post(
        f"/charge-points/{cp_id}/commands/RemoteStopTransaction",
        json={"transactionId": transaction_id},
    )
    assert stopped.status_code == 200
    await cp.call(
        "StopTransaction",
        {"transactionId": transaction_id, "meterStop": 6000, "timestamp": "2026-11-22T10:30:00Z"},
    )

    async def finished() -> dict[str, Any] | None:
        doc = (await api.get(f"/transactions/{transaction_id}")).json()
        return doc if doc.get("active") is False and doc.get("meterValues") else None

    transaction = await eventually(finished)
    assert transaction["chargePointId"] == cp_id
    assert transaction["idTag"] == tag
    assert transaction["energyWh"] == 5000
    assert transaction["meterValues"][0]["value"] == "3.5"
    listed = (await api.get("/transactions", params={"chargePointId": cp_id})).json()
    assert [t["transactionId"] for t in listed["items"]] == [transaction_id]
    assert (
        await api.get("/transactions", params={"chargePointId": cp_id, "active": "true"})
    ).json()["total"] == 0
    audit = (await api.get("/commands", params={"chargePointId": cp_id})).json()
    assert [c["action"] for c in audit["items"]] == [
        "RemoteStopTransaction",
        "RemoteStartTransaction",
    ]
    report = (
        await api.get(
            "/reports/energy",
            params={
                "chargePointId": cp_id,
                "from": "2026-11-22T00:00:00Z",
                "to": "2026-11-23T00:00:00Z",
            },
        )
    ).json()
    day = report["items"]
    assert [(r["chargePointId"], r["day"], r["energyWh"]) for r in day] == [
        (cp_id, "2026-11-22", 5000)
    ]
    assert day[0]["energyKWh"] == 5.0
    # The default tariff: 0.30 EUR per kWh, no session fee.
    assert (day[0]["currency"], day[0]["cost"]) == ("EUR", 1.5)


async def test_id_tag_lifecycle_and_roles(
    api: httpx.AsyncClient, connect_cp: Any, cp_id: str, suite: Any
) -> None:
    tag = "L" + cp_id[-9:].upper()
    assert (await api.post("/id-tags", json={"idTag": tag})).status_code == 201
    cp = await connect_cp(cp_id, 0)
    await cp.call("BootNotification", BOOT)
    assert (await api.post(f"/id-tags/{tag}/block")).json()["status"] == "Blocked"
    assert (await cp.call("Authorize", {"idTag": tag}))["idTagInfo"]["status"] == "Blocked"
    assert (await api.post(f"/id-tags/{tag}/unblock")).json()["status"] == "Accepted"
    assert (await cp.call("Authorize", {"idTag": tag}))["idTagInfo"]["status"] == "Accepted"
    patched = await api.patch(f"/id-tags/{tag}", json={"expiryDate": "2020-01-01T00:00:00Z"})
    assert patched.status_code == 200, patched.text
    assert (await cp.call("Authorize", {"idTag": tag}))["idTagInfo"]["status"] == "Expired"
    assert (await api.get(f"/id-tags/{tag}")).json()["idTag"] == tag
    assert (await api.patch(f"/id-tags/{tag}", json={"status": "Sleepy"})).status_code == 422
    assert (await api.delete(f"/id-tags/{tag}")).status_code == 204
    assert (await api.get(f"/id-tags/{tag}")).status_code == 404

    created = await api.post("/api-keys", json={"name": "viewer-2", "role": "viewer"})
    async with httpx.AsyncClient(
        base_url=suite.api_url, headers={"Authorization": f"Bearer {created.json()['key']}"}
    ) as viewer:
        assert (await viewer.get("/id-tags")).status_code == 200
        assert (await viewer.post("/id-tags", json={"idTag": "NOPE"})).status_code == 403


async def test_accepted_reserve_now_becomes_a_reservation(
    api: httpx.AsyncClient, connect_cp: Any, cp_id: str
) -> None:
    cp = await connect_cp(cp_id, 1)
    await cp.call("BootNotification", BOOT)

    async def accept(action: str, payload: dict[str, Any]) -> dict[str, Any]:
        return {"status": "Accepted"}

    cp.responder = accept
    reserved = await api.post(
        f"/charge-points/{cp_id}/commands/ReserveNow",
        json={
            "connectorId": 1,
            "expiryDate": "2099-01-01T00:00:00Z",
            "idTag": "RESERVER",
            "reservationId": 4242,
        },
    )
    assert reserved.status_code == 200

    async def listed() -> list[dict[str, Any]]:
        return (await api.get("/reservations", params={"chargePointId": cp_id})).json()["items"]

    reservation = (await eventually(listed))[0]
    assert reservation["reservationId"] == 4242
    assert reservation["idTag"] == "RESERVER"
