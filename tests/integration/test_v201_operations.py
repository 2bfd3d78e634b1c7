"""What an operator does to a 2.0.1 station besides sending a raw command: rotate its key
(SetVariables SecurityCtrlr.BasicAuthPassword), stop what charges on an EVSE or a transaction by
our id, and see what GetVariables, SetVariables and ChangeAvailability answers showed."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from csms_shared.ocpp._base import format_datetime, utcnow
from tests.integration.support import ChargePointClient, eventually
from tests.integration.test_v201_commands import calls, station

pytestmark = pytest.mark.integration

KEY = "0123456789abcdef0123"
NEW_KEY = "fedcba9876543210fedcba98"


async def test_a_2_0_1_stations_key_is_rotated_with_set_variables(
    api: httpx.AsyncClient, suite: Any, cp_id: str
) -> None:
    put = await api.put(
        f"/charge-points/{cp_id}", json={"securityProfile": 1, "authorizationKey": KEY}
    )
    assert put.status_code == 200, put.text
    cp = await ChargePointClient.connect(suite.gateway_url(0), cp_id, ["ocpp2.0.1"], password=KEY)

    async def answer(action: str, payload: dict[str, Any]) -> dict[str, Any]:
        [data] = payload["setVariableData"]
        return {
            "setVariableResult": [
                {
                    "attributeStatus": "Accepted",
                    "component": data["component"],
                    "variable": data["variable"],
                }
            ]
        }

    cp.responder = answer
    rotated = await api.post(
        f"/charge-points/{cp_id}/authorization-key", json={"authorizationKey": NEW_KEY}
    )
    assert rotated.status_code == 200, rotated.text
    assert (rotated.json()["status"], rotated.json()["keyStored"]) == ("Accepted", True)
    [sent] = calls(cp, "SetVariables")
    assert sent["setVariableData"] == [
        {
            "attributeValue": NEW_KEY,
            "component": {"name": "SecurityCtrlr"},
            "variable": {"name": "BasicAuthPassword"},
        }
    ]
    await cp.close()
    # The new key lets it in; the audit log never shows it.
    again = await ChargePointClient.connect(
        suite.gateway_url(1), cp_id, ["ocpp2.0.1"], password=NEW_KEY
    )
    await again.close()
    command = (await api.get(f"/commands/{rotated.json()['commandId']}")).json()
    assert NEW_KEY not in str(command)


async def test_stopping_what_charges_on_an_evse_sends_the_stations_own_transaction_id(
    api: httpx.AsyncClient, connect_cp: Any, cp_id: str
) -> None:
    cp = await station(api, connect_cp, cp_id, "2.0.1")
    at = format_datetime(utcnow().replace(microsecond=0) - timedelta(minutes=5))
    started = {
        "eventType": "Started",
        "timestamp": at,
        "triggerReason": "CablePluggedIn",
        "seqNo": 0,
        "transactionInfo": {"transactionId": "EVSE2-TX"},
        "evse": {"id": 2, "connectorId": 1},
    }
    assert await cp.call("TransactionEvent", started) == {}

    async def ours() -> int | None:
        found = (await api.get("/transactions", params={"chargePointId": cp_id})).json()
        return found["items"][0]["transactionId"] if found["items"] else None

    transaction_id = await eventually(ours)
    stopped = await api.post(f"/charge-points/{cp_id}/connectors/2/stop")
    assert stopped.status_code == 200, stopped.text
    assert stopped.json()["transactionId"] == transaction_id
    by_ours = await api.post(
        f"/charge-points/{cp_id}/actions/stop-transaction",
        json={"transactionId": transaction_id},
    )
    assert by_ours.status_code == 200, by_ours.text
    assert by_ours.json()["action"] == "RequestStopTransaction"
    assert calls(cp, "RequestStopTransaction") == [{"transactionId": "EVSE2-TX"}] * 2
    missing = await api.post(
        f"/charge-points/{cp_id}/actions/stop-transaction", json={"transactionId": 2**40}
    )
    assert missing.status_code == 404
    # Nothing charges on EVSE 1.
    assert (await api.post(f"/charge-points/{cp_id}/connectors/1/stop")).status_code == 404


async def test_variables_and_availability_follow_what_the_station_answered(
    api: httpx.AsyncClient, connect_cp: Any, cp_id: str
) -> None:
    cp = await station(api, connect_cp, cp_id, "2.0.1")
    component, variable = {"name": "OCPPCommCtrlr"}, {"name": "HeartbeatInterval"}

    async def answer(action: str, payload: dict[str, Any]) -> dict[str, Any]:
        if action == "GetVariables":
            return {
                "getVariableResult": [
                    {
                        "attributeStatus": "Accepted",
                        "attributeValue": "300",
                        "component": component,
                        "variable": variable,
                    }
                ]
            }
        if action == "SetVariables":
            return {
                "setVariableResult": [
                    {"attributeStatus": "Accepted", "component": component, "variable": variable}
                ]
            }
        return {"status": "Accepted"}

    cp.responder = answer
    asked = {"getVariableData": [{"component": component, "variable": variable}]}
    got = await api.post(f"/charge-points/{cp_id}/commands/GetVariables", json=asked)
    assert got.status_code == 200, got.text

    async def value() -> str | None:
        page = (await api.get(f"/charge-points/{cp_id}/variables")).json()
        found = [v for v in page["items"] if v["variable"] == "HeartbeatInterval"]
        return found[0].get("value") if found else None

    assert await eventually(value) == "300"
    setting = {
        "setVariableData": [{"attributeValue": "120", "component": component, "variable": variable}]
    }
    done = await api.post(f"/charge-points/{cp_id}/commands/SetVariables", json=setting)
    assert done.status_code == 200, done.text
    await eventually(lambda: _is(value, "120"))

    off = {"operationalStatus": "Inoperative", "evse": {"id": 1}}
    changed = await api.post(f"/charge-points/{cp_id}/commands/ChangeAvailability", json=off)
    assert changed.status_code == 200, changed.text

    async def availability() -> str | None:
        page = (await api.get("/connectors", params={"chargePointId": cp_id})).json()
        found = [c for c in page["items"] if c["connectorId"] == 1]
        return found[0].get("availability") if found else None

    assert await eventually(lambda: _is(availability, "Inoperative"))


async def _is(read: Any, expected: str) -> bool:
    return bool(await read() == expected)


async def test_a_2_0_1_reservation_is_kept_and_ended_by_the_station(
    api: httpx.AsyncClient, connect_cp: Any, cp_id: str
) -> None:
    cp = await station(api, connect_cp, cp_id, "2.0.1")
    until = format_datetime(utcnow().replace(microsecond=0) + timedelta(hours=1))
    body = {"reservationId": 41, "evseId": 2, "idTag": "RES-201", "expiryDate": until}
    reserved = await api.post(f"/charge-points/{cp_id}/actions/reserve", json=body)
    assert reserved.status_code == 200, reserved.text
    [sent] = calls(cp, "ReserveNow")
    assert (sent["id"], sent["evseId"], sent["idToken"]) == (
        41,
        2,
        {"idToken": "RES-201", "type": "ISO14443"},
    )

    async def reservation() -> dict[str, Any] | None:
        page = (await api.get("/reservations", params={"chargePointId": cp_id})).json()
        return page["items"][0] if page["items"] else None

    held = await eventually(reservation)
    assert (held["reservationId"], held["connectorId"], held["idTag"], held["status"]) == (
        41,
        2,
        "RES-201",
        "Active",
    )
    update = {"reservationId": 41, "reservationUpdateStatus": "Expired"}
    assert await cp.call("ReservationStatusUpdate", update) == {}

    async def ended() -> bool:
        found = await reservation()
        return found is not None and found["status"] == "Expired"

    await eventually(ended)


async def test_a_2_0_1_firmware_update_and_log_upload_follow_their_request_ids(
    api: httpx.AsyncClient, connect_cp: Any, cp_id: str
) -> None:
    cp = await station(api, connect_cp, cp_id, "2.0.1")

    async def answer(action: str, payload: dict[str, Any]) -> dict[str, Any]:
        if action == "GetLog":
            return {"status": "Accepted", "filename": "station.log"}
        return {"status": "Accepted"}

    cp.responder = answer
    firmware = {
        "requestId": 11,
        "firmware": {
            "location": "https://fw.example.com/201.bin",
            "retrieveDateTime": "2026-11-25T10:00:00Z",
        },
    }
    updated = await api.post(f"/charge-points/{cp_id}/commands/UpdateFirmware", json=firmware)
    assert updated.status_code == 200, updated.text
    upload = {
        "logType": "DiagnosticsLog",
        "requestId": 12,
        "log": {"remoteLocation": "https://logs.example.com/up"},
    }
    logged = await api.post(f"/charge-points/{cp_id}/commands/GetLog", json=upload)
    assert logged.status_code == 200, logged.text

    async def both_requested() -> bool:
        page = (await api.get(f"/charge-points/{cp_id}/operations")).json()
        return page["total"] == 2

    await eventually(both_requested)
    for status in ("Downloading", "Installed"):
        report = {"status": status, "requestId": 11}
        assert await cp.call("FirmwareStatusNotification", report) == {}
    assert await cp.call("LogStatusNotification", {"status": "Uploaded", "requestId": 12}) == {}

    async def finished() -> dict[str, dict[str, Any]] | None:
        items = (await api.get(f"/charge-points/{cp_id}/operations")).json()["items"]
        kinds = {item["kind"]: item for item in items}
        done = (
            kinds.get("firmware", {}).get("status") == "Installed"
            and len(kinds["firmware"]["reports"]) == 2
            and kinds.get("log", {}).get("status") == "Uploaded"
        )
        return kinds if done else None

    kinds = await eventually(finished)
    assert kinds["firmware"]["detail"] == "https://fw.example.com/201.bin"
    assert kinds["firmware"]["commandId"] == updated.json()["commandId"]
    assert kinds["log"]["detail"] == "station.log"


async def test_a_stations_reports_without_a_resource_of_their_own_are_listed_as_sent(
    api: httpx.AsyncClient, connect_cp: Any, cp_id: str
) -> None:
    cp = await station(api, connect_cp, cp_id, "2.0.1")
    at = format_datetime(utcnow().replace(microsecond=0))
    event = {
        "generatedAt": at,
        "seqNo": 0,
        "eventData": [
            {
                "eventId": 1,
                "timestamp": at,
                "trigger": "Alerting",
                "actualValue": "Faulted",
                "eventNotificationType": "HardWiredNotification",
                "component": {"name": "EVSE", "evse": {"id": 1}},
                "variable": {"name": "Problem"},
            }
        ],
    }
    assert await cp.call("NotifyEvent", event) == {}
    limit = {"chargingLimit": {"chargingLimitSource": "EMS"}, "evseId": 1}
    assert await cp.call("NotifyChargingLimit", limit) == {}

    async def listed() -> list[dict[str, Any]] | None:
        page = (await api.get(f"/charge-points/{cp_id}/station-messages")).json()
        return page["items"] if page["total"] == 2 else None

    items = await eventually(listed)
    assert [i["action"] for i in items] == ["NotifyChargingLimit", "NotifyEvent"]
    assert items[1]["payload"] == event and items[1]["seqNo"] == 0
    only = await api.get(
        f"/charge-points/{cp_id}/station-messages", params={"action": "NotifyEvent"}
    )
    assert [i["action"] for i in only.json()["items"]] == ["NotifyEvent"]
    bad = await api.get(
        f"/charge-points/{cp_id}/station-messages", params={"action": "Notify Event"}
    )
    assert bad.status_code == 422
