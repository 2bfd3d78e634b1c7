"""One network, two OCPP versions: each CP's version, stored and filtered on, and the device
model of 2.0.1 stations."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.integration.support import eventually

pytestmark = pytest.mark.integration


async def test_a_cp_shows_the_version_it_speaks_and_the_list_filters_on_it(
    api: httpx.AsyncClient, connect_cp: Any, cp_id: str
) -> None:
    cp = await connect_cp(cp_id, 0)
    await cp.call("BootNotification", {"chargePointVendor": "ACME", "chargePointModel": "X1"})
    tag = f"v-{uuid.uuid4().hex[:8]}"
    assert (await api.patch(f"/charge-points/{cp_id}", json={"tags": [tag]})).status_code == 200

    async def shown() -> dict[str, Any] | None:
        found: dict[str, Any] = (await api.get(f"/charge-points/{cp_id}")).json()
        return found if found["online"] else None

    assert (await eventually(shown))["ocppVersion"] == "1.6"
    v16 = (await api.get("/charge-points", params={"tag": tag, "ocppVersion": "1.6"})).json()
    assert [c["id"] for c in v16["items"]] == [cp_id]
    v201 = (await api.get("/charge-points", params={"tag": tag, "ocppVersion": "2.0.1"})).json()
    assert v201["total"] == 0
    wrong = await api.get("/charge-points", params={"ocppVersion": "2.0"})
    assert wrong.status_code == 422
    assert "ocppVersion" in wrong.text


async def test_a_1_6_cp_has_no_device_model_and_the_filters_are_bounded(
    api: httpx.AsyncClient, connect_cp: Any, cp_id: str
) -> None:
    cp = await connect_cp(cp_id, 0)
    await cp.call("BootNotification", {"chargePointVendor": "ACME", "chargePointModel": "X1"})
    page = (await api.get(f"/charge-points/{cp_id}/variables")).json()
    assert (page["items"], page["total"]) == ([], 0)
    too_long = await api.get(f"/charge-points/{cp_id}/variables", params={"component": "c" * 51})
    assert too_long.status_code == 422


async def test_a_cp_offering_both_versions_is_spoken_to_in_2_0_1_and_one_offering_1_6_in_1_6(
    api: httpx.AsyncClient, connect_cp: Any, cp_id: str
) -> None:
    both = await connect_cp(cp_id, 0, subprotocols=["ocpp1.6", "ocpp2.0.1"])
    assert both.ws.subprotocol == "ocpp2.0.1"  # the gateway's preference, not the CP's order
    answer = await both.call("Heartbeat", {})
    assert set(answer) == {"currentTime"}

    async def version() -> str | None:
        found: dict[str, Any] = (await api.get(f"/charge-points/{cp_id}")).json()
        return found.get("ocppVersion") if found.get("online") else None

    assert await eventually(version) == "2.0.1"
    other = f"{cp_id}-b"
    old = await connect_cp(other, 1, subprotocols=["ocpp1.6"])
    assert old.ws.subprotocol == "ocpp1.6"
    assert set(await old.call("Heartbeat", {})) == {"currentTime"}


@pytest.mark.parametrize(
    ("frame", "code", "says"),
    [
        ("not json", "RpcFrameworkError", "not valid JSON"),
        ('[7, "m1", "Heartbeat", {}]', "MessageTypeNotSupported", "message type"),
        ('[2, "m2", "Heartbeat", {"beat": 1}]', "FormatViolation", "beat"),
        (
            '[2, "m3", "BootNotification", {"reason": "PowerUp"}]',
            "OccurrenceConstraintViolation",
            "",
        ),
        ('[2, "m4", "Heartbeat", {"customData": {"vendorId": 7}}]', "TypeConstraintViolation", ""),
        ('[2, "m5", "StartTransaction", {}]', "NotImplemented", "it is an OCPP 1.6 action"),
        ('[2, "m6", "RequestStartTransaction", {}]', "NotSupported", "central system"),
    ],
)
async def test_a_2_0_1_cp_gets_2_0_1_error_codes(
    connect_cp: Any, cp_id: str, frame: str, code: str, says: str
) -> None:
    cp = await connect_cp(cp_id, 0, subprotocols=["ocpp2.0.1"])
    answer = await cp.send_raw(frame)
    assert answer[0] == 4 and answer[2] == code, answer
    assert says in answer[3]


async def test_a_1_6_cp_keeps_1_6_error_codes_for_the_same_faults(
    connect_cp: Any, cp_id: str
) -> None:
    cp = await connect_cp(cp_id, 0)
    assert (await cp.send_raw("not json"))[2] == "FormationViolation"
    assert (await cp.send_raw('[7, "m1", "Heartbeat", {}]'))[2] == "ProtocolError"
    answer = await cp.send_raw('[2, "m2", "TransactionEvent", {}]')
    assert answer[2] == "NotImplemented" and "it is an OCPP 2.0.1 action" in answer[3]


async def test_the_message_log_records_a_2_0_1_cps_frames_as_it_sent_them(
    api: httpx.AsyncClient, connect_cp: Any, cp_id: str
) -> None:
    cp = await connect_cp(cp_id, 0, subprotocols=["ocpp2.0.1"])
    await cp.call("Heartbeat", {})
    await cp.send_raw('[2, "bad-1", "Heartbeat", {"beat": 1}]')

    async def logged() -> list[dict[str, Any]] | None:
        response = await api.get(f"/charge-points/{cp_id}/messages", params={"limit": 100})
        items: list[dict[str, Any]] = response.json()["items"]
        return (
            items
            if any(r["messageId"] == "bad-1" and r["direction"] == "out" for r in items)
            else None
        )

    found = await eventually(logged)
    connected = next(r for r in found if r["kind"] == "connected")
    assert connected["payload"]["subprotocol"] == "ocpp2.0.1"
    error = next(r for r in found if r["messageId"] == "bad-1" and r["direction"] == "out")
    assert error["messageTypeId"] == 4 and error["payload"][0] == "FormatViolation"
    assert any(r["action"] == "Heartbeat" and r["direction"] == "in" for r in found)


async def test_the_newest_2_0_1_connection_wins_and_commands_follow_it_to_its_gateway(
    api: httpx.AsyncClient, connect_cp: Any, cp_id: str
) -> None:
    first = await connect_cp(cp_id, 0, subprotocols=["ocpp2.0.1"])
    await first.call("Heartbeat", {})
    second = await connect_cp(cp_id, 1, subprotocols=["ocpp2.0.1"])
    await second.call("Heartbeat", {})

    async def closed() -> bool:
        return first.ws.close_code == 4000

    await eventually(closed)

    async def online() -> bool:
        found: dict[str, Any] = (await api.get(f"/charge-points/{cp_id}")).json()
        return bool(found["online"] and found["ocppVersion"] == "2.0.1" and found["gateway"])

    await eventually(online)

    async def answer(action: str, payload: dict[str, Any]) -> dict[str, Any]:
        return {"status": "Accepted"}

    second.responder = answer
    reset = await api.post(f"/charge-points/{cp_id}/commands/Reset", json={"type": "OnIdle"})
    assert reset.status_code == 200, reset.text
    assert second.received_calls == [("Reset", {"type": "OnIdle"})]
    assert first.received_calls == []


async def test_a_registered_cp_has_no_version_until_it_connects(
    api: httpx.AsyncClient, connect_cp: Any, cp_id: str
) -> None:
    """A CP an admin registered shows no version (none assumed), is not listed under either,
    is refused a local list for want of one, and shows the version its connection agrees on."""
    registered = await api.put(f"/charge-points/{cp_id}", json={"securityProfile": 0})
    assert registered.status_code == 200, registered.text
    shown = (await api.get(f"/charge-points/{cp_id}")).json()
    assert "ocppVersion" not in shown, shown
    for version in ("1.6", "2.0.1"):
        listed = await api.get("/charge-points", params={"q": cp_id, "ocppVersion": version})
        assert listed.json()["total"] == 0, (version, listed.text)
    synced = await api.post(f"/charge-points/{cp_id}/local-list/sync", json={})
    assert synced.status_code == 409, synced.text
    assert synced.json()["type"].endswith("ocpp-version-unknown"), synced.text

    await connect_cp(cp_id, 0, subprotocols=["ocpp2.0.1"])

    async def connected() -> dict[str, Any] | None:
        found: dict[str, Any] = (await api.get(f"/charge-points/{cp_id}")).json()
        return found if found["online"] else None

    assert (await eventually(connected))["ocppVersion"] == "2.0.1"
