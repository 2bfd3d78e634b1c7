"""Commands to OCPP 2.0.1 stations: each checked against the version the station speaks, the
operator actions spelt in either version, and 2.0.1 secrets kept to admins and out of logs."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.integration.conftest import Suite
from tests.integration.support import ChargePointClient, eventually, metric
from tests.integration.test_command_intake import BackOffice

pytestmark = pytest.mark.integration

BOOT = {"chargePointVendor": "ACME", "chargePointModel": "X1"}
WRONG_VERSION = "https://csms.example/problems/wrong-ocpp-version"


def accepting(cp: ChargePointClient) -> None:
    """The station answers every command Accepted (and 1.6's boot-time GetConfiguration)."""

    async def answer(action: str, payload: dict[str, Any]) -> dict[str, Any]:
        if action == "GetConfiguration":
            return {"configurationKey": []}
        return {"status": "Accepted"}

    cp.responder = answer


async def speaks(api: httpx.AsyncClient, cp_id: str, version: str) -> None:
    """Wait until the registry records the version the station's connection agreed on."""

    async def recorded() -> bool:
        response = await api.get(f"/charge-points/{cp_id}")
        return response.status_code == 200 and response.json()["ocppVersion"] == version

    await eventually(recorded)


async def station(api: httpx.AsyncClient, connect_cp: Any, cp_id: str, version: str) -> Any:
    """A station connected with `version`: a 1.6 one boots, a 2.0.1 one need not."""
    if version == "2.0.1":
        cp = await connect_cp(cp_id, 0, subprotocols=["ocpp2.0.1"])
    else:
        cp = await connect_cp(cp_id, 0)
        await cp.call("BootNotification", BOOT)
    await speaks(api, cp_id, version)
    accepting(cp)
    return cp


def calls(cp: ChargePointClient, action: str) -> list[dict[str, Any]]:
    return [payload for name, payload in cp.received_calls if name == action]


async def test_a_2_0_1_command_round_trips_and_is_audited(
    api: httpx.AsyncClient, connect_cp: Any, cp_id: str
) -> None:
    cp = await station(api, connect_cp, cp_id, "2.0.1")
    result = {
        "getVariableResult": [
            {
                "attributeStatus": "Accepted",
                "attributeValue": "300",
                "component": {"name": "OCPPCommCtrlr"},
                "variable": {"name": "HeartbeatInterval"},
            }
        ]
    }

    async def answer(action: str, payload: dict[str, Any]) -> dict[str, Any]:
        assert action == "GetVariables"
        return result

    cp.responder = answer
    asked = {
        "getVariableData": [
            {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}
        ]
    }
    response = await api.post(f"/charge-points/{cp_id}/commands/GetVariables", json=asked)
    assert response.status_code == 200, response.text
    assert response.json()["response"] == result
    assert cp.received_calls == [("GetVariables", asked)]
    command = (await api.get(f"/commands/{response.json()['commandId']}")).json()
    assert (command["action"], command["status"], command["request"]) == (
        "GetVariables",
        "result",
        asked,
    )


async def test_a_1_6_action_for_a_2_0_1_station_names_the_2_0_1_action(
    api: httpx.AsyncClient, connect_cp: Any, cp_id: str
) -> None:
    cp = await station(api, connect_cp, cp_id, "2.0.1")
    response = await api.post(
        f"/charge-points/{cp_id}/commands/RemoteStartTransaction", json={"idTag": "TAG-1"}
    )
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["type"] == WRONG_VERSION
    assert (problem["ocppVersion"], problem["matchingActions"]) == (
        "2.0.1",
        ["RequestStartTransaction"],
    )
    assert "speaks OCPP 2.0.1" in problem["detail"]
    assert "RequestStartTransaction" in problem["detail"]
    # An action of both versions with a 1.6 payload: the 2.0.1 schema's field errors.
    reset = await api.post(f"/charge-points/{cp_id}/commands/Reset", json={"type": "Soft"})
    assert reset.status_code == 422, reset.text
    assert [e["loc"] for e in reset.json()["errors"]] == [["body", "type"]]
    assert cp.received_calls == []


async def test_a_2_0_1_action_for_a_1_6_station_is_refused(
    api: httpx.AsyncClient, connect_cp: Any, cp_id: str
) -> None:
    cp = await station(api, connect_cp, cp_id, "1.6")
    response = await api.post(
        f"/charge-points/{cp_id}/commands/RequestStartTransaction",
        json={"idToken": {"idToken": "TAG-1", "type": "ISO14443"}, "remoteStartId": 1},
    )
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["type"] == WRONG_VERSION
    assert (problem["ocppVersion"], problem["matchingActions"]) == (
        "1.6",
        ["RemoteStartTransaction"],
    )
    assert calls(cp, "RequestStartTransaction") == []


@pytest.mark.parametrize(
    ("version", "start", "stop", "reset"),
    [
        ("1.6", "RemoteStartTransaction", ("RemoteStopTransaction", 7), "Hard"),
        ("2.0.1", "RequestStartTransaction", ("RequestStopTransaction", "7"), "Immediate"),
    ],
)
async def test_operator_actions_are_spelt_in_the_station_s_version(
    api: httpx.AsyncClient,
    connect_cp: Any,
    cp_id: str,
    version: str,
    start: str,
    stop: tuple[str, Any],
    reset: str,
) -> None:
    cp = await station(api, connect_cp, cp_id, version)
    actions = f"/charge-points/{cp_id}/actions"

    started = await api.post(f"{actions}/start-session", json={"connectorId": 1, "idTag": "T-1"})
    assert started.status_code == 200, started.text
    assert (started.json()["action"], started.json()["ocppVersion"]) == (start, version)
    assert started.json()["response"] == {"status": "Accepted"}
    [sent] = calls(cp, start)
    if version == "1.6":
        assert sent == {"connectorId": 1, "idTag": "T-1"}
    else:
        assert sent["idToken"] == {"idToken": "T-1", "type": "ISO14443"}
        assert sent["evseId"] == 1 and isinstance(sent["remoteStartId"], int)

    # A 2.0.1 station's own transaction id is a string (our integer ids are looked up:
    # test_v201_operations.py).
    stopped = await api.post(f"{actions}/stop-transaction", json={"transactionId": stop[1]})
    assert stopped.status_code == 200, stopped.text
    assert calls(cp, stop[0]) == [{"transactionId": stop[1]}]

    restarted = await api.post(f"{actions}/reset", json={"type": "hard"})
    assert restarted.status_code == 200, restarted.text
    assert calls(cp, "Reset") == [{"type": reset}]
    # Audited as any command, by the action it became.
    command = (await api.get(f"/commands/{restarted.json()['commandId']}")).json()
    assert (command["action"], command["request"], command["status"]) == (
        "Reset",
        {"type": reset},
        "result",
    )


async def test_basic_auth_password_is_for_admins_and_redacted(
    api: httpx.AsyncClient, connect_cp: Any, cp_id: str
) -> None:
    cp = await station(api, connect_cp, cp_id, "2.0.1")
    secret = "pw-" + uuid.uuid4().hex
    body = {
        "setVariableData": [
            {
                "attributeValue": secret,
                "component": {"name": "SecurityCtrlr"},
                "variable": {"name": "BasicAuthPassword"},
            }
        ]
    }
    created = await api.post("/api-keys", json={"name": f"op-{cp_id}", "role": "operator"})
    assert created.status_code == 201, created.text
    async with httpx.AsyncClient(
        base_url=str(api.base_url), headers={"Authorization": f"Bearer {created.json()['key']}"}
    ) as operator:
        refused = await operator.post(f"/charge-points/{cp_id}/commands/SetVariables", json=body)
    assert refused.status_code == 403, refused.text
    assert cp.received_calls == []

    async def answer(action: str, payload: dict[str, Any]) -> dict[str, Any]:
        return {
            "setVariableResult": [
                {
                    "attributeStatus": "Accepted",
                    "component": {"name": "SecurityCtrlr"},
                    "variable": {"name": "BasicAuthPassword"},
                }
            ]
        }

    cp.responder = answer
    response = await api.post(f"/charge-points/{cp_id}/commands/SetVariables", json=body)
    assert response.status_code == 200, response.text
    # The station got the password; the audit log and the message log did not keep it.
    assert calls(cp, "SetVariables") == [body]
    command_id = response.json()["commandId"]
    command = (await api.get(f"/commands/{command_id}")).json()
    assert command["request"]["setVariableData"][0]["attributeValue"] == "<redacted>"
    assert secret not in str(command)

    async def logged() -> list[dict[str, Any]]:
        found = await api.get(f"/charge-points/{cp_id}/messages", params={"messageId": command_id})
        items: list[dict[str, Any]] = found.json()["items"]
        return items if len(items) == 2 else []

    records = await eventually(logged)
    call = next(r for r in records if r["messageTypeId"] == 2)
    assert call["payload"]["setVariableData"][0]["attributeValue"] == "<redacted>"
    assert secret not in str(records)


async def test_a_fleet_command_checks_each_station_against_its_version(
    api: httpx.AsyncClient, connect_cp: Any
) -> None:
    old_id, new_id = (f"CP-{uuid.uuid4().hex[:10]}" for _ in range(2))
    old = await station(api, connect_cp, old_id, "1.6")
    new = await station(api, connect_cp, new_id, "2.0.1")
    response = await api.post(
        "/commands/Reset", json={"chargePointIds": [old_id, new_id], "payload": {"type": "Soft"}}
    )
    assert response.status_code == 200, response.text
    items = {item["chargePointId"]: item for item in response.json()["items"]}
    assert items[old_id]["status"] == "result"
    assert items[new_id]["status"] == "refused"
    assert "speaks OCPP 2.0.1" in items[new_id]["reason"]
    assert calls(old, "Reset") == [{"type": "Soft"}]
    assert calls(new, "Reset") == []
    # A payload both versions read alike goes to both.
    cleared = await api.post("/commands/ClearCache", json={"chargePointIds": [old_id, new_id]})
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["summary"] == {"result": 2}
    assert calls(new, "ClearCache") == [{}]


async def test_a_back_office_request_is_checked_against_the_station_s_version(
    suite: Suite, api: httpx.AsyncClient, connect_cp: Any, cp_id: str
) -> None:
    cp = await station(api, connect_cp, cp_id, "2.0.1")
    wrong, right = (f"office-{uuid.uuid4().hex}" for _ in range(2))
    async with BackOffice(suite.infra.broker_url) as office:
        await office.send(
            {"requestId": wrong, "chargePointId": cp_id, "action": "RemoteStartTransaction",
             "payload": {"idTag": "TAG-1"}}
        )  # fmt: skip
        refused = await office.outcome(requestId=wrong)
        await office.send(
            {"requestId": right, "chargePointId": cp_id, "action": "RequestStartTransaction",
             "payload": {"idToken": {"idToken": "TAG-1", "type": "ISO14443"}, "remoteStartId": 9}}
        )  # fmt: skip
        sent = await office.outcome(requestId=right)
    assert refused["status"] == "refused"
    assert "speaks OCPP 2.0.1" in refused["reason"]
    assert "RequestStartTransaction" in refused["reason"]
    assert sent["status"] == "result"
    assert calls(cp, "RemoteStartTransaction") == []
    assert calls(cp, "RequestStartTransaction") == [
        {"idToken": {"idToken": "TAG-1", "type": "ISO14443"}, "remoteStartId": 9}
    ]


async def test_a_station_that_reconnects_speaking_the_other_version_is_checked_against_it(
    suite: Suite, api: httpx.AsyncClient, connect_cp: Any, cp_id: str
) -> None:
    """command-api keeps each station's version as it heard it on `station.connected`: no
    registry read per command. A reconnection with the other version is heard (or, for a
    command checked before it was, the gateway's rejection has the version read again): the
    old version's actions are refused, the new one's sent."""
    port = suite.internal_ports["command-api"]
    old = await station(api, connect_cp, cp_id, "1.6")
    kept = await metric(port, "csms_api_station_version_reads_total", source="kept")
    for _ in range(3):
        response = await api.post(f"/charge-points/{cp_id}/commands/GetConfiguration", json={})
        assert response.status_code == 200, response.text
    assert await metric(port, "csms_api_station_version_reads_total", source="kept") >= kept + 3
    await old.close()
    new = await connect_cp(cp_id, 0, subprotocols=["ocpp2.0.1"])
    accepting(new)
    await speaks(api, cp_id, "2.0.1")
    refused = await api.post(f"/charge-points/{cp_id}/commands/GetConfiguration", json={})
    assert refused.status_code == 422, refused.text
    assert (refused.json()["type"], refused.json()["ocppVersion"]) == (WRONG_VERSION, "2.0.1")
    cleared = await api.post(f"/charge-points/{cp_id}/commands/ClearCache", json={})
    assert cleared.status_code == 200, cleared.text
    assert [name for name, _ in new.received_calls] == ["ClearCache"]
    command = (await api.get(f"/commands/{cleared.json()['commandId']}")).json()
    assert command["ocppVersion"] == "2.0.1"
