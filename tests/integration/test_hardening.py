"""Attacks on charge point identity through the real gateways: hijack, stale credentials, lockout,
ids and frames a CP chooses to hurt us with."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from typing import Any

import aio_pika
import asyncpg
import httpx
import orjson
import pytest
from argon2 import PasswordHasher
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.integration.support import ChargePointClient, eventually

pytestmark = pytest.mark.integration

BOOT = {"chargePointVendor": "ACME", "chargePointModel": "X1"}
KEY = "0123456789abcdef0123"
OTHER_KEY = "fedcba9876543210fedcba98"
REGISTRY = "station-registry"


async def status_of(coro: Any) -> int:
    """The HTTP status a refused handshake got."""
    with pytest.raises(InvalidStatus) as exc:
        await coro
    return int(exc.value.response.status_code)


async def closed_with(cp: ChargePointClient, code: int) -> None:
    await asyncio.wait_for(cp.ws.wait_closed(), 15)
    assert cp.ws.close_code == code, (cp.ws.close_code, cp.ws.close_reason)


async def register(api: httpx.AsyncClient, cp_id: str, **body: Any) -> None:
    response = await api.put(f"/charge-points/{cp_id}", json=body)
    assert response.status_code == 200, response.text


@pytest.fixture
def minimum_profile_1(suite: Any) -> Iterator[None]:
    """The registry as deployments run it: every CP authenticates, unknown ids refused."""
    suite.restart_service(
        REGISTRY, REGISTRY_MIN_SECURITY_PROFILE="1", REGISTRY_UNKNOWN_CHARGE_POINTS="reject"
    )
    yield
    suite.restart_service(
        REGISTRY, REGISTRY_MIN_SECURITY_PROFILE="0", REGISTRY_UNKNOWN_CHARGE_POINTS="accept"
    )


# -- 1. hijack -------------------------------------------------------------------------------


async def test_minimum_profile_refuses_a_profile_0_cp_without_credentials(
    minimum_profile_1: None, suite: Any, api: httpx.AsyncClient, cp_id: str
) -> None:
    await register(api, cp_id, securityProfile=0)
    url = suite.gateway_url(0)
    assert await status_of(ChargePointClient.connect(url, cp_id)) == 401
    assert await status_of(ChargePointClient.connect(f"{url}", f"{cp_id}-NEW")) == 404
    # Given a key, the same CP gets in: the suite-wide minimum raised its profile to 1.
    await register(api, cp_id, authorizationKey=KEY)
    cp = await ChargePointClient.connect(url, cp_id, password=KEY)
    assert (await cp.call("BootNotification", BOOT))["status"] == "Accepted"
    await cp.close()
    # Started with profile 1, the registry did not warn (its earlier starts, at 0, did).
    log = suite.services[REGISTRY].log_path.read_text(errors="replace")
    assert "INSECURE" not in log.rsplit("station-registry consuming:", 1)[-1]


async def test_the_suite_says_loudly_that_profile_0_is_for_development(suite: Any) -> None:
    log = suite.services[REGISTRY].log_path.read_text(errors="replace")
    assert "INSECURE: REGISTRY_MIN_SECURITY_PROFILE=0" in log


async def test_a_stranger_without_the_key_cannot_take_over_a_connected_cp(
    suite: Any, api: httpx.AsyncClient, cp_id: str
) -> None:
    await register(api, cp_id, securityProfile=1, authorizationKey=KEY)
    holder = await ChargePointClient.connect(suite.gateway_url(0), cp_id, password=KEY)

    async def answer(action: str, payload: dict[str, Any]) -> dict[str, Any]:
        return {"status": "Accepted"}

    holder.responder = answer
    for gateway in (0, 1):
        url = suite.gateway_url(gateway)
        assert await status_of(ChargePointClient.connect(url, cp_id)) == 401
        assert await status_of(ChargePointClient.connect(url, cp_id, password=OTHER_KEY)) == 401
    # The holder still has the connection, and its commands.
    sent = await api.post(f"/charge-points/{cp_id}/commands/Reset", json={"type": "Soft"})
    assert sent.status_code == 200, sent.text
    assert ("Reset", {"type": "Soft"}) in holder.received_calls
    assert holder.ws.close_code is None
    await holder.close()


# -- 2. credentials changed, connection kept ---------------------------------------------


async def test_a_new_key_closes_the_connections_made_with_the_old_one(
    suite: Any, api: httpx.AsyncClient, cp_id: str
) -> None:
    await register(api, cp_id, securityProfile=1, authorizationKey=KEY)
    cp = await ChargePointClient.connect(suite.gateway_url(1), cp_id, password=KEY)
    await register(api, cp_id, authorizationKey=OTHER_KEY)
    await closed_with(cp, 4001)
    assert (
        await status_of(ChargePointClient.connect(suite.gateway_url(1), cp_id, password=KEY)) == 401
    )
    again = await ChargePointClient.connect(suite.gateway_url(1), cp_id, password=OTHER_KEY)
    await again.close()


async def test_raising_the_profile_or_revoking_the_key_closes_the_connection(
    suite: Any, api: httpx.AsyncClient, cp_id: str
) -> None:
    await register(api, cp_id, securityProfile=0)
    cp = await ChargePointClient.connect(suite.gateway_url(0), cp_id)
    await register(api, cp_id, securityProfile=1, authorizationKey=KEY)
    await closed_with(cp, 4001)
    cp = await ChargePointClient.connect(suite.gateway_url(0), cp_id, password=KEY)
    revoked = await api.delete(f"/charge-points/{cp_id}/authorization-key")
    assert revoked.status_code == 200 and revoked.json()["authorizationKeySet"] is False
    await closed_with(cp, 4001)
    assert (
        await status_of(ChargePointClient.connect(suite.gateway_url(0), cp_id, password=KEY)) == 401
    )


def _broker_connections() -> list[tuple[str, str]]:
    out = subprocess.run(
        ["rabbitmqctl", "-q", "list_connections", "pid", "client_properties"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    rows = []
    for line in out.splitlines():
        pid, _, props = line.partition("\t")
        rows.append((pid.strip(), props))
    return rows


async def test_a_gateway_forgets_its_cached_decisions_when_its_broker_connection_comes_back(
    suite: Any, api: httpx.AsyncClient, db: asyncpg.Connection, cp_id: str
) -> None:
    await register(api, cp_id, securityProfile=1, authorizationKey=KEY)
    url = suite.gateway_url(0)
    cp = await ChargePointClient.connect(url, cp_id, password=KEY)  # the gateway caches a yes
    await cp.close()
    # The key changes while the gateway cannot hear of it (its event is lost to it).
    await db.execute(
        "UPDATE registry.charge_points SET auth_key_hash = $2 WHERE id = $1",
        cp_id,
        PasswordHasher().hash(OTHER_KEY),
    )
    gateway_id = suite.gateways[0].env["GATEWAY_INSTANCE_ID"]
    connections = await asyncio.to_thread(_broker_connections)
    [pid] = [pid for pid, props in connections if f"ws-gateway {gateway_id}" in props]
    log_before = suite.gateways[0].log_path.read_text(errors="replace").count("re-established")
    await asyncio.to_thread(
        subprocess.run,
        ["rabbitmqctl", "-q", "close_connection", pid, "test: broker connection lost"],
        check=True,
        timeout=60,
    )

    async def reconnected() -> bool:
        text = suite.gateways[0].log_path.read_text(errors="replace")
        return text.count("re-established") > log_before

    await eventually(reconnected, timeout=30)
    assert await status_of(ChargePointClient.connect(url, cp_id, password=KEY)) == 401
    cp = await ChargePointClient.connect(url, cp_id, password=OTHER_KEY)
    await cp.close()


# -- 3. key rotation as OCPP intends it ------------------------------------------------------


async def test_rotating_the_key_over_ocpp_stores_it_only_when_the_cp_accepts(
    suite: Any, api: httpx.AsyncClient, cp_id: str
) -> None:
    await register(api, cp_id, securityProfile=1, authorizationKey=KEY)
    url = suite.gateway_url(0)
    cp = await ChargePointClient.connect(url, cp_id, password=KEY)
    refused: list[str] = []

    async def refuse(action: str, payload: dict[str, Any]) -> dict[str, Any]:
        refused.append(payload["value"])
        return {"status": "Rejected"}

    cp.responder = refuse
    answer = await api.post(f"/charge-points/{cp_id}/authorization-key")
    assert answer.status_code == 409, answer.text
    assert answer.json()["keyStored"] is False
    # Refused: the old key still works, the new one does not.
    assert await status_of(ChargePointClient.connect(url, cp_id, password=refused[0])) == 401
    await cp.close()
    cp = await ChargePointClient.connect(suite.gateway_url(1), cp_id, password=KEY)

    applied: list[str] = []

    async def accept(action: str, payload: dict[str, Any]) -> dict[str, Any]:
        assert action == "ChangeConfiguration" and payload["key"] == "AuthorizationKey"
        applied.append(payload["value"])
        return {"status": "Accepted"}

    cp.responder = accept
    answer = await api.post(f"/charge-points/{cp_id}/authorization-key")
    assert answer.status_code == 200, answer.text
    assert answer.json()["keyStored"] is True
    [new_key] = applied
    assert len(new_key) == 40 and new_key != KEY and new_key not in answer.text
    await closed_with(cp, 4001)  # the CP comes back with its new key
    assert await status_of(ChargePointClient.connect(url, cp_id, password=KEY)) == 401
    cp = await ChargePointClient.connect(url, cp_id, password=new_key)
    await cp.close()
    # The audit log keeps the command, never the key.
    command = (await api.get(f"/commands/{answer.json()['commandId']}")).json()
    assert command["request"] == {"key": "AuthorizationKey", "value": "<redacted>"}


async def test_a_cp_connecting_with_its_staged_key_makes_it_its_key(
    suite: Any, api: httpx.AsyncClient, cp_id: str
) -> None:
    await register(api, cp_id, securityProfile=1, authorizationKey=KEY)
    cp = await ChargePointClient.connect(suite.gateway_url(0), cp_id, password=KEY)
    applied: list[str] = []

    async def reboot_required(action: str, payload: dict[str, Any]) -> dict[str, Any]:
        applied.append(payload["value"])
        return {"status": "RebootRequired"}

    cp.responder = reboot_required
    chosen = "my-own-key-0123456789"
    answer = await api.post(
        f"/charge-points/{cp_id}/authorization-key", json={"authorizationKey": chosen}
    )
    assert answer.status_code == 200 and answer.json()["status"] == "RebootRequired"
    assert applied == [chosen]
    await cp.close()
    # Until the CP comes back with the new key, both work; after that, only the new one.
    old = await ChargePointClient.connect(suite.gateway_url(0), cp_id, password=KEY)
    await old.close()
    new = await ChargePointClient.connect(suite.gateway_url(1), cp_id, password=chosen)
    await new.close()

    async def old_refused() -> bool:
        try:
            client = await ChargePointClient.connect(suite.gateway_url(1), cp_id, password=KEY)
        except InvalidStatus as exc:
            return exc.response.status_code == 401
        await client.close()
        return False

    await eventually(old_refused)


# -- 4. no lockout without credentials -------------------------------------------------------


async def test_failures_from_another_address_never_keep_the_real_cp_out(
    suite: Any, api: httpx.AsyncClient, cp_id: str
) -> None:
    await register(api, cp_id, securityProfile=1, authorizationKey=KEY)
    # The real CP has been connected (through the other gateway: nothing cached here).
    cp = await ChargePointClient.connect(suite.gateway_url(0), cp_id, password=KEY)
    await cp.close()
    url = suite.gateway_url(1)
    statuses = [
        await status_of(
            ChargePointClient.connect(url, cp_id, password=OTHER_KEY, local_address="127.0.0.2")
        )
        for _ in range(15)
    ]
    assert statuses[0] == 401 and statuses[-1] == 429, statuses
    # The stranger is throttled, by this gateway (its address) and by the registry (the id);
    # the real CP, at its own address and with its key, is not.
    for _ in range(3):
        cp = await ChargePointClient.connect(url, cp_id, password=KEY, local_address="127.0.0.1")
        await cp.close()


# -- 6, 7. ids and frames ---------------------------------------------------------------------


@pytest.mark.parametrize("path", ["CP1%0A", "CP1%0D%0AX", "CP1%00", "CP%201"])
async def test_an_id_with_a_line_break_or_space_is_refused(suite: Any, path: str) -> None:
    with pytest.raises(InvalidStatus) as exc:
        await connect(f"{suite.gateway_url(0)}/ocpp/{path}", subprotocols=["ocpp1.6"])  # type: ignore[list-item]
    assert exc.value.response.status_code == 400


async def test_cp_chosen_strings_are_escaped_in_text_logs(suite: Any, cp_id: str) -> None:
    cp = await ChargePointClient.connect(suite.gateway_url(0), cp_id)
    # An answer to no pending call is logged with its message id (36 characters at most).
    await cp.ws.send(orjson.dumps([3, "f\nERROR ws-gateway fake: line", {}]).decode())
    await cp.call("Heartbeat", {})  # the gateway has read the frame before it answers this
    await cp.close()

    async def logged() -> bool:
        text = suite.gateways[0].log_path.read_text(errors="replace")
        return "f\\x0aERROR ws-gateway fake: line" in text

    await eventually(logged)
    text = suite.gateways[0].log_path.read_text(errors="replace")
    assert "\nERROR ws-gateway fake: line" not in text


async def test_a_frame_nested_a_thousand_levels_deep_gets_formation_violation(
    suite: Any, cp_id: str
) -> None:
    cp = await ChargePointClient.connect(suite.gateway_url(0), cp_id)
    deep = '{"a":' * 1000 + '"\\u0000"' + "}" * 1000
    answer = await cp.send_raw(f'[2,"deep","DataTransfer",{{"vendorId":"x","data":{deep}}}]')
    assert answer[:3] == [4, "deep", "FormationViolation"], answer
    answer = await cp.send_raw("[" * 1000 + "]" * 1000)
    assert answer[0] == 4 and answer[2] == "FormationViolation", answer
    assert (await cp.call("Heartbeat", {}))["currentTime"]  # the connection is still open
    await cp.close()


# -- 8. secrets ---------------------------------------------------------------------------------

SECRET = "sup3r-s3cret-auth-key-42"


async def test_the_authorization_key_is_never_stored_shown_published_or_logged(
    suite: Any, api: httpx.AsyncClient, db: asyncpg.Connection, cp_id: str
) -> None:
    connection = await aio_pika.connect(suite.infra.broker_url)
    channel = await connection.channel()
    events = await channel.declare_queue(exclusive=True)
    await events.bind(await channel.get_exchange("ocpp.events"), "command.completed")
    cp = await ChargePointClient.connect(suite.gateway_url(0), cp_id)
    assert (await cp.call("BootNotification", BOOT))["status"] == "Accepted"
    received: list[dict[str, Any]] = []

    async def answer(action: str, payload: dict[str, Any]) -> dict[str, Any]:
        received.append(payload)
        if action == "GetConfiguration":
            return {
                "configurationKey": [
                    {"key": "AuthorizationKey", "readonly": False, "value": SECRET},
                    {"key": "HeartbeatInterval", "readonly": False, "value": "300"},
                ]
            }
        return {"status": "Accepted"}

    cp.responder = answer
    change = {"key": "AuthorizationKey", "value": SECRET}
    sent = await api.post(f"/charge-points/{cp_id}/commands/ChangeConfiguration", json=change)
    assert sent.status_code == 200, sent.text
    assert received[-1] == change  # the CP gets the real value...
    got = await api.post(f"/charge-points/{cp_id}/commands/GetConfiguration", json={})
    assert got.status_code == 200, got.text
    keys = {k["key"]: k.get("value") for k in got.json()["response"]["configurationKey"]}
    assert keys == {"AuthorizationKey": "<redacted>", "HeartbeatInterval": "300"}
    # ...and nothing else ever holds it: the audit log, the events, the registry's snapshot.
    log = (await api.get("/commands", params={"chargePointId": cp_id})).text
    assert SECRET not in log and "<redacted>" in log

    async def two_events() -> list[bytes] | None:
        bodies = []
        while (message := await events.get(fail=False)) is not None:
            bodies.append(message.body)
        return bodies or None

    bodies = [b for b in await eventually(two_events) if cp_id.encode() in b]
    assert bodies and all(SECRET.encode() not in b for b in bodies)

    async def snapshot() -> dict[str, str] | None:
        rows = await db.fetch(
            "SELECT key, value FROM registry.configuration WHERE charge_point_id = $1", cp_id
        )
        found = {r["key"]: r["value"] for r in rows}
        return found if "HeartbeatInterval" in found else None

    assert (await eventually(snapshot))["AuthorizationKey"] == "<redacted>"
    for process in [*suite.gateways, *suite.services.values()]:
        assert SECRET not in process.log_path.read_text(errors="replace"), process.name
    await cp.close()
    await connection.close()


async def test_commands_that_change_a_cps_security_need_an_admin(
    suite: Any, api: httpx.AsyncClient, cp_id: str
) -> None:
    created = await api.post("/api-keys", json={"name": f"op-{cp_id}", "role": "operator"})
    operator = {"Authorization": f"Bearer {created.json()['key']}"}
    cp = await ChargePointClient.connect(suite.gateway_url(1), cp_id)

    async def accept(action: str, payload: dict[str, Any]) -> dict[str, Any]:
        return {"status": "Accepted"}

    cp.responder = accept
    base = f"/charge-points/{cp_id}/commands"
    refused = [
        ("ChangeConfiguration", {"key": "AuthorizationKey", "value": SECRET}),
        ("ChangeConfiguration", {"key": "SecurityProfile", "value": "0"}),
        (
            "InstallCertificate",
            {"certificateType": "CentralSystemRootCertificate", "certificate": "x"},
        ),
        (
            "DeleteCertificate",
            {
                "certificateHashData": {
                    "hashAlgorithm": "SHA256",
                    "issuerNameHash": "a",
                    "issuerKeyHash": "b",
                    "serialNumber": "1",
                }
            },
        ),
        (
            "UpdateFirmware",
            {"location": "https://fw.example/x.bin", "retrieveDate": "2026-01-01T00:00:00Z"},
        ),
    ]
    for action, body in refused:
        response = await api.post(f"{base}/{action}", json=body, headers=operator)
        assert response.status_code == 403, (action, response.text)
    assert cp.received_calls == []
    allowed = await api.post(
        f"{base}/ChangeConfiguration",
        json={"key": "HeartbeatInterval", "value": "60"},
        headers=operator,
    )
    assert allowed.status_code == 200, allowed.text
    await cp.close()


# -- 9. the bootstrap admin key ---------------------------------------------------------------


async def test_no_part_of_the_bootstrap_key_is_stored_in_clear(
    suite: Any, db: asyncpg.Connection
) -> None:
    admin_key = suite.env["CSMS_ADMIN_API_KEY"]
    rows = await db.fetch("SELECT * FROM commands.api_keys WHERE created_by = 'environment'")
    assert [r["prefix"] for r in rows] == ["bootstrap"]
    stored = " ".join(str(value) for row in rows for value in row.values())
    assert admin_key[:8] not in stored
