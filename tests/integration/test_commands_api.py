"""Operators' commands over REST to a CP on either gateway, and the audit log."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson
import pytest
from aio_pika import connect

from tests.integration.commands_fixtures import COMMANDS
from tests.integration.support import CallErrorReply, eventually

pytestmark = pytest.mark.integration

BOOT = {"chargePointVendor": "ACME", "chargePointModel": "X1"}


async def booted_cp(connect_cp: Any, cp_id: str, gateway: int) -> Any:
    cp = await connect_cp(cp_id, gateway)
    await cp.call("BootNotification", BOOT)

    async def answer(action: str, payload: dict[str, Any]) -> dict[str, Any]:
        return COMMANDS[action][1]

    cp.responder = answer
    return cp


@pytest.mark.parametrize("action", sorted(COMMANDS))
async def test_every_action_round_trips_to_a_cp_on_gateway_9001(
    api: httpx.AsyncClient, connect_cp: Any, cp_id: str, action: str
) -> None:
    cp = await booted_cp(connect_cp, cp_id, gateway=1)
    body, answer = COMMANDS[action]
    response = await api.post(f"/charge-points/{cp_id}/commands/{action}", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["response"] == answer
    assert cp.received_calls[-1][0] == action
    # What the CP received is the operator's body, as the spec spells it.
    sent = cp.received_calls[-1][1]
    assert {k: v for k, v in sent.items() if k in body} == _normalised(body)
    command = (await api.get(f"/commands/{response.json()['commandId']}")).json()
    assert command["status"] == "result"
    assert command["action"] == action
    assert command["chargePointId"] == cp_id
    assert command["requestedBy"] == "bootstrap-admin"


def _normalised(body: dict[str, Any]) -> dict[str, Any]:
    # Floats and times come back canonical (16 -> 16.0, times with Z): compare by JSON value.
    return orjson.loads(orjson.dumps(body))


async def test_command_to_a_cp_on_gateway_9000_too(
    api: httpx.AsyncClient, connect_cp: Any, cp_id: str
) -> None:
    await booted_cp(connect_cp, cp_id, gateway=0)
    response = await api.post(f"/charge-points/{cp_id}/commands/Reset", json={"type": "Hard"})
    assert response.status_code == 200
    assert response.json()["response"] == {"status": "Accepted"}


async def test_offline_cp_gets_409_without_waiting_for_the_timeout(
    api: httpx.AsyncClient, connect_cp: Any, cp_id: str
) -> None:
    cp = await booted_cp(connect_cp, cp_id, gateway=0)
    await cp.close()

    async def offline() -> bool:
        r = await api.get(f"/charge-points/{cp_id}")
        return r.json()["online"] is False

    await eventually(offline)
    # timeout=120 and a 10 s client timeout: only the broker's unroutable return can answer.
    response = await api.post(
        f"/charge-points/{cp_id}/commands/Reset",
        json={"type": "Soft"},
        params={"timeout": 120},
        timeout=10,
    )
    assert response.status_code == 409
    assert response.json()["outcome"] == "offline"


async def test_never_seen_cp_gets_404(api: httpx.AsyncClient) -> None:
    response = await api.post("/charge-points/NEVER-SEEN/commands/Reset", json={"type": "Soft"})
    assert response.status_code == 404
    assert (await api.get("/charge-points/NEVER-SEEN")).status_code == 404


async def test_silent_cp_gets_504(api: httpx.AsyncClient, connect_cp: Any, cp_id: str) -> None:
    cp = await booted_cp(connect_cp, cp_id, gateway=1)

    async def silent(action: str, payload: dict[str, Any]) -> None:
        return None

    cp.responder = silent
    response = await api.post(
        f"/charge-points/{cp_id}/commands/Reset", json={"type": "Soft"}, params={"timeout": 1}
    )
    assert response.status_code == 504
    command = (await api.get(f"/commands/{response.json()['commandId']}")).json()
    assert command["status"] == "timeout"


async def test_cp_callerror_gets_502_with_its_code(
    api: httpx.AsyncClient, connect_cp: Any, cp_id: str
) -> None:
    cp = await booted_cp(connect_cp, cp_id, gateway=1)

    async def refuse(action: str, payload: dict[str, Any]) -> None:
        raise CallErrorReply("NotSupported", "no resets here", {"why": "policy"})

    cp.responder = refuse
    response = await api.post(f"/charge-points/{cp_id}/commands/Reset", json={"type": "Soft"})
    assert response.status_code == 502
    body = response.json()
    assert (body["errorCode"], body["errorDescription"]) == ("NotSupported", "no resets here")
    assert body["errorDetails"] == {"why": "policy"}


async def test_cp_answer_that_breaks_the_schema_gets_502(
    api: httpx.AsyncClient, connect_cp: Any, cp_id: str
) -> None:
    cp = await booted_cp(connect_cp, cp_id, gateway=0)

    async def nonsense(action: str, payload: dict[str, Any]) -> dict[str, Any]:
        return {"status": "Maybe"}

    cp.responder = nonsense
    response = await api.post(f"/charge-points/{cp_id}/commands/Reset", json={"type": "Soft"})
    assert response.status_code == 502
    assert response.json()["outcome"] == "invalid"


async def test_two_commands_at_once_reach_the_cp_one_after_the_other(
    api: httpx.AsyncClient, connect_cp: Any, cp_id: str
) -> None:
    cp = await booted_cp(connect_cp, cp_id, gateway=1)
    log: list[str] = []

    async def slow(action: str, payload: dict[str, Any]) -> dict[str, Any]:
        log.append(f"recv {payload['key']}")
        await asyncio.sleep(0.3)
        log.append(f"answer {payload['key']}")
        return {"status": "Accepted"}

    cp.responder = slow
    url = f"/charge-points/{cp_id}/commands/ChangeConfiguration"
    first, second = await asyncio.gather(
        api.post(url, json={"key": "A", "value": "1"}),
        api.post(url, json={"key": "B", "value": "2"}),
    )
    assert first.status_code == second.status_code == 200
    assert len(log) == 4
    assert log[0].startswith("recv") and log[1] == "answer " + log[0].split()[1]
    assert log[2].startswith("recv") and log[3] == "answer " + log[2].split()[1]


@pytest.mark.parametrize(
    ("action", "body"),
    [
        ("Reset", {"type": "Sometimes"}),
        ("Reset", {}),
        ("Reset", {"type": "Soft", "extra": 1}),
        ("ChangeAvailability", {"connectorId": "one", "type": "Operative"}),
        ("Teleport", {}),
        ("BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}),
    ],
)
async def test_bad_bodies_and_unknown_actions_get_422(
    api: httpx.AsyncClient, connect_cp: Any, cp_id: str, action: str, body: dict[str, Any]
) -> None:
    cp = await booted_cp(connect_cp, cp_id, gateway=0)
    response = await api.post(f"/charge-points/{cp_id}/commands/{action}", json=body)
    assert response.status_code == 422, response.text
    assert cp.received_calls == []


async def test_non_json_body_gets_422(api: httpx.AsyncClient, cp_id: str) -> None:
    response = await api.post(
        f"/charge-points/{cp_id}/commands/Reset",
        content=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 422


async def test_async_mode_answers_202_and_the_outcome_lands_on_the_resource_and_as_event(
    api: httpx.AsyncClient, connect_cp: Any, cp_id: str, suite: Any
) -> None:
    connection = await connect(suite.infra.broker_url)
    channel = await connection.channel()
    queue = await channel.declare_queue(exclusive=True)
    exchange = await channel.get_exchange("ocpp.events")
    await queue.bind(exchange, "command.completed")
    try:
        await booted_cp(connect_cp, cp_id, gateway=1)
        response = await api.post(
            f"/charge-points/{cp_id}/commands/UnlockConnector",
            json={"connectorId": 1},
            params={"wait": "false"},
        )
        assert response.status_code == 202
        command_id = response.json()["commandId"]

        async def done() -> dict[str, Any] | None:
            command = (await api.get(f"/commands/{command_id}")).json()
            return command if command["status"] != "pending" else None

        command = await eventually(done)
        assert command["status"] == "result"
        assert command["response"] == {"status": "Unlocked"}

        async def event() -> dict[str, Any] | None:
            message = await queue.get(fail=False)
            if message is None:
                return None
            await message.ack()
            body = orjson.loads(message.body)
            return body if body["commandId"] == command_id else None

        body = await eventually(event)
        assert body["event"] == "command.completed"
        assert body["action"] == "UnlockConnector"
        assert body["response"] == {"status": "Unlocked"}
        assert body["request"] == {"connectorId": 1}
    finally:
        await connection.close()


async def test_roles_and_keys(
    api: httpx.AsyncClient, suite: Any, connect_cp: Any, cp_id: str
) -> None:
    await booted_cp(connect_cp, cp_id, gateway=0)
    anonymous = httpx.AsyncClient(base_url=suite.api_url)
    assert (await anonymous.get("/charge-points")).status_code == 401
    bad = httpx.AsyncClient(base_url=suite.api_url, headers={"Authorization": "Bearer nope"})
    assert (await bad.get("/charge-points")).status_code == 401

    created = await api.post("/api-keys", json={"name": "ops-viewer", "role": "viewer"})
    assert created.status_code == 201
    viewer_key = created.json()["key"]
    viewer = httpx.AsyncClient(
        base_url=suite.api_url, headers={"Authorization": f"Bearer {viewer_key}"}
    )
    assert (await viewer.get("/charge-points")).status_code == 200
    reset = await viewer.post(f"/charge-points/{cp_id}/commands/Reset", json={"type": "Soft"})
    assert reset.status_code == 403
    assert (await viewer.post("/api-keys", json={"name": "x", "role": "admin"})).status_code == 403

    created = await api.post("/api-keys", json={"name": "ops-operator", "role": "operator"})
    operator = httpx.AsyncClient(
        base_url=suite.api_url, headers={"Authorization": f"Bearer {created.json()['key']}"}
    )
    reset = await operator.post(f"/charge-points/{cp_id}/commands/Reset", json={"type": "Soft"})
    assert reset.status_code == 200
    command = (await api.get(f"/commands/{reset.json()['commandId']}")).json()
    assert command["requestedBy"] == "ops-operator"
    assert (await operator.get("/api-keys")).status_code == 403

    listed = (await api.get("/api-keys")).json()["items"]
    assert all("key" not in item and "keyHash" not in item for item in listed)
    assert (await api.delete(f"/api-keys/{created.json()['id']}")).status_code == 204
    revoked = await operator.post(f"/charge-points/{cp_id}/commands/Reset", json={"type": "Soft"})
    assert revoked.status_code == 401
    for client in (anonymous, bad, viewer, operator):
        await client.aclose()


async def test_audit_log_lists_commands_newest_first(
    api: httpx.AsyncClient, connect_cp: Any, cp_id: str
) -> None:
    await booted_cp(connect_cp, cp_id, gateway=1)
    for kind in ("Soft", "Hard"):
        await api.post(f"/charge-points/{cp_id}/commands/Reset", json={"type": kind})
    log = (await api.get("/commands", params={"chargePointId": cp_id})).json()
    assert log["total"] == 2
    assert [c["request"]["type"] for c in log["items"]] == ["Hard", "Soft"]
    assert {"items", "total", "limit", "offset"} <= set(log)


async def test_charge_point_reads_and_status(
    api: httpx.AsyncClient, connect_cp: Any, cp_id: str, suite: Any
) -> None:
    cp = await booted_cp(connect_cp, cp_id, gateway=1)
    await cp.call(
        "StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Available"}
    )

    async def read() -> dict[str, Any] | None:
        doc = (await api.get(f"/charge-points/{cp_id}")).json()
        return doc if doc.get("online") and doc["connectors"] else None

    doc = await eventually(read)
    assert doc["chargePointVendor"] == "ACME"
    assert doc["gateway"] == suite.gateways[1].env["GATEWAY_INSTANCE_ID"]
    assert doc["connectors"][0]["status"] == "Available"
    listing = (await api.get("/charge-points", params={"limit": 1000})).json()
    assert cp_id in [item["id"] for item in listing["items"]]
    history = (await api.get(f"/charge-points/{cp_id}/status-history")).json()
    assert [(h["connectorId"], h["status"]) for h in history["items"]] == [(1, "Available")]
    assert history["items"][0]["connectorStatus"] == "Available"
    assert history["total"] == 1
    status = (await api.get("/status")).json()
    assert status["chargePointsConnected"] >= 1
    assert any(g["connected"] >= 1 for g in status["gateways"])


async def test_openapi_shows_every_action_body(suite: Any) -> None:
    async with httpx.AsyncClient() as client:
        spec = (await client.get(suite.api_url.removesuffix("/api/v1") + "/openapi.json")).json()
    for action in COMMANDS:
        operation = spec["paths"][f"/api/v1/charge-points/{{id}}/commands/{action}"]["post"]
        assert "requestBody" in operation, action


async def test_confirmed_commands_update_the_registry(
    api: httpx.AsyncClient, connect_cp: Any, cp_id: str
) -> None:
    cp = await booted_cp(connect_cp, cp_id, gateway=0)
    await cp.call(
        "StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Available"}
    )
    await cp.call(
        "StatusNotification", {"connectorId": 2, "errorCode": "NoError", "status": "Available"}
    )

    async def answer(action: str, payload: dict[str, Any]) -> dict[str, Any]:
        if action == "GetConfiguration":
            return {
                "configurationKey": [
                    {"key": "HeartbeatInterval", "readonly": False, "value": "300"},
                    {"key": "NumberOfConnectors", "readonly": True, "value": "2"},
                ]
            }
        return {"status": "Accepted"}

    cp.responder = answer
    url = f"/charge-points/{cp_id}/commands"
    assert (await api.post(f"{url}/GetConfiguration", json={})).status_code == 200
    changed = await api.post(
        f"{url}/ChangeConfiguration", json={"key": "HeartbeatInterval", "value": "60"}
    )
    assert changed.status_code == 200
    available = await api.post(
        f"{url}/ChangeAvailability", json={"connectorId": 0, "type": "Inoperative"}
    )
    assert available.status_code == 200

    async def snapshot() -> dict[str, Any] | None:
        doc = (await api.get(f"/charge-points/{cp_id}")).json()
        config = {c["key"]: c["value"] for c in doc.get("configuration", [])}
        availability = {c["connectorId"]: c["availability"] for c in doc["connectors"]}
        if config.get("HeartbeatInterval") == "60" and set(availability.values()) == {
            "Inoperative"
        }:
            return {"config": config, "availability": availability}
        return None

    state = await eventually(snapshot)
    assert state["config"] == {"HeartbeatInterval": "60", "NumberOfConnectors": "2"}
    assert state["availability"] == {0: "Inoperative", 1: "Inoperative", 2: "Inoperative"}


async def test_local_list_version_follows_the_cps_answers(
    api: httpx.AsyncClient, connect_cp: Any, cp_id: str
) -> None:
    cp = await booted_cp(connect_cp, cp_id, gateway=1)
    assert (await api.get(f"/charge-points/{cp_id}/local-list")).status_code == 404
    sent = await api.post(
        f"/charge-points/{cp_id}/commands/SendLocalList",
        json={"listVersion": 12, "updateType": "Full", "localAuthorizationList": []},
    )
    assert sent.status_code == 200

    async def version() -> int | None:
        response = await api.get(f"/charge-points/{cp_id}/local-list")
        return response.json()["listVersion"] if response.status_code == 200 else None

    assert await eventually(version) == 12

    async def answer(action: str, payload: dict[str, Any]) -> dict[str, Any]:
        return {"listVersion": 13}

    cp.responder = answer
    assert (
        await api.post(f"/charge-points/{cp_id}/commands/GetLocalListVersion", json={})
    ).status_code == 200

    async def updated() -> bool:
        return await version() == 13

    await eventually(updated)


async def test_late_cp_answer_is_dropped_and_the_next_command_works(
    api: httpx.AsyncClient, connect_cp: Any, cp_id: str
) -> None:
    cp = await booted_cp(connect_cp, cp_id, gateway=0)
    gave_up = asyncio.Event()

    async def late_then_at_once(action: str, payload: dict[str, Any]) -> dict[str, Any]:
        if payload.get("type") == "Hard":
            await gave_up.wait()
        return {"status": "Accepted"}

    cp.responder = late_then_at_once
    url = f"/charge-points/{cp_id}/commands/Reset"
    timed_out = await api.post(url, json={"type": "Hard"}, params={"timeout": 1})
    # The 504 is the gateway's `timeout` outcome (the API waits longer): only now is the CP's
    # answer late. It goes out before the CP reads the next command.
    assert timed_out.status_code == 504
    gave_up.set()
    after = await api.post(url, json={"type": "Soft"})
    assert after.status_code == 200
    assert after.json()["response"] == {"status": "Accepted"}
    first = (await api.get(f"/commands/{timed_out.json()['commandId']}")).json()
    assert first["status"] == "timeout"
