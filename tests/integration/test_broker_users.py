"""One broker user per role, made by scripts/broker_users.py: the broker and the RPC servers
hold each role to what it needs, and a suite running as those users works end to end."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import aio_pika
import aiormq
import asyncpg
import httpx
import pytest

from csms_shared.bus.access import ROLES, named_users
from csms_shared.bus.client import BusClient
from csms_shared.bus.rpc import RpcClient, RpcError
from csms_shared.bus.topology import CALLS, COMMANDS, EVENTS, HEADER_CHARGE_POINT
from tests.integration.commands_fixtures import COMMANDS as GOLDEN
from tests.integration.conftest import ADMIN_KEY, Suite
from tests.integration.infra import Infra, isolated_database, isolated_vhost
from tests.integration.support import ChargePointClient, eventually

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "broker_users.py"
BOOT = {"chargePointVendor": "ACME", "chargePointModel": "X1"}
# Where each service reads its own broker URL.
URL_VARIABLE = {
    "station-registry": "REGISTRY_BROKER_URL",
    "session-service": "SESSION_BROKER_URL",
    "command-api": "API_BROKER_URL",
    "message-log": "MESSAGE_LOG_BROKER_URL",
}


class RoleSuite:
    """A suite whose processes log in as their own roles' users, in a vhost of its own."""

    def __init__(self, suite: Suite, urls: dict[str, str], users: dict[str, str]) -> None:
        self.suite = suite
        self.urls = urls
        self.users = users


def role_urls(vhost_url: str, users: dict[str, str], passwords: dict[str, str]) -> dict[str, str]:
    parts = urlsplit(vhost_url)
    host = f"{parts.hostname}:{parts.port or 5672}"
    return {
        role: f"amqp://{quote(users[role], safe='')}:{quote(passwords[role], safe='')}"
        f"@{host}{parts.path}"
        for role in users
    }


@pytest.fixture(scope="module")
def role_vhost(broker_and_db_base: tuple[str, str]) -> Iterator[str]:
    broker, _ = broker_and_db_base
    if shutil.which("rabbitmqctl") is None:
        pytest.skip("needs rabbitmqctl on this machine to create broker users")
    with isolated_vhost(broker) as url:
        yield url


@pytest.fixture(scope="module")
def role_users(role_vhost: str) -> Iterator[tuple[dict[str, str], dict[str, str]]]:
    """Every role's user in the vhost, made by the real script: (users, passwords)."""
    prefix = f"t{secrets.token_hex(3)}-"  # users are broker-wide: unique to this run
    users = named_users(prefix)
    passwords = {role: secrets.token_urlsafe(16) for role in ROLES}
    vhost = urlsplit(role_vhost).path.lstrip("/")
    env = os.environ | {
        f"CSMS_BROKER_PASSWORD_{role.upper().replace('-', '_')}": passwords[role] for role in ROLES
    }
    subprocess.run(
        [sys.executable, str(SCRIPT), "apply", "--vhost", vhost, "--prefix", prefix],
        env=env,
        check=True,
    )
    try:
        yield users, passwords
    finally:
        for user in users.values():
            subprocess.run(["rabbitmqctl", "delete_user", user], capture_output=True)


@pytest.fixture(scope="module")
async def role_suite(
    role_vhost: str,
    role_users: tuple[dict[str, str], dict[str, str]],
    broker_and_db_base: tuple[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[RoleSuite]:
    _, database = broker_and_db_base
    users, passwords = role_users
    urls = role_urls(role_vhost, users, passwords)
    async with isolated_database(database) as db_url:
        suite = Suite(Infra(role_vhost, db_url), tmp_path_factory.mktemp("role-logs"))
        common = {
            # Nothing runs as guest: a process that ignored its own URL would log in as
            # integrations and could not serve anything.
            "CSMS_BROKER_URL": urls["integrations"],
            "CSMS_BROKER_USERS": json.dumps(users),
        }
        for name, process in suite.services.items():
            process.env = process.env | common | {URL_VARIABLE[name]: urls[name]}
        for gateway in suite.gateways:
            gateway.env = gateway.env | common | {"GATEWAY_BROKER_URL": urls["gateway"]}
        try:
            suite.start()
            yield RoleSuite(suite, urls, users)
        finally:
            suite.stop()


@pytest.fixture
async def gateway_channel(role_suite: RoleSuite) -> AsyncIterator[aio_pika.abc.AbstractChannel]:
    connection = await aio_pika.connect(role_suite.urls["gateway"])
    async with connection:
        yield await connection.channel(publisher_confirms=True)


async def test_the_gateway_user_cannot_publish_commands(
    gateway_channel: aio_pika.abc.AbstractChannel,
) -> None:
    exchange = await gateway_channel.get_exchange(COMMANDS.name, ensure=False)
    with pytest.raises(aiormq.exceptions.ChannelAccessRefused, match="ACCESS_REFUSED"):
        await exchange.publish(aio_pika.Message(b"{}"), routing_key="CP-1")


async def test_the_gateway_user_cannot_publish_events_it_does_not_own(
    gateway_channel: aio_pika.abc.AbstractChannel,
) -> None:
    exchange = await gateway_channel.get_exchange(EVENTS.name, ensure=False)
    with pytest.raises(aiormq.exceptions.ChannelAccessRefused, match="ACCESS_REFUSED"):
        await exchange.publish(aio_pika.Message(b"{}"), routing_key="command.completed")


async def test_the_gateway_user_cannot_forge_another_users_id(
    role_suite: RoleSuite, gateway_channel: aio_pika.abc.AbstractChannel
) -> None:
    exchange = await gateway_channel.get_exchange(EVENTS.name, ensure=False)
    forged = aio_pika.Message(b"{}", user_id=role_suite.users["command-api"])
    with pytest.raises(aiormq.exceptions.ChannelPreconditionFailed, match="user_id"):
        await exchange.publish(forged, routing_key="station.seen")


async def rpc_as(role_suite: RoleSuite, role: str, method: str, params: dict[str, Any]) -> Any:
    bus = BusClient(role_suite.urls[role], name=f"test {role}")
    await bus.start()
    try:
        return await RpcClient(bus).call("station-registry", method, params)
    finally:
        await bus.close()


async def test_the_gateway_user_is_forbidden_the_registrys_admin_rpc(
    role_suite: RoleSuite,
) -> None:
    cp_id = f"CP-{secrets.token_hex(5)}"
    params = {"id": cp_id, "securityProfile": 0}
    with pytest.raises(RpcError) as refused:
        await rpc_as(role_suite, "gateway", "update_charge_point_settings", params)
    assert refused.value.code == "forbidden"
    conn = await asyncpg.connect(role_suite.suite.infra.asyncpg_dsn)
    try:
        # The handler never ran: no charge point was registered.
        assert (
            await conn.fetchval("SELECT count(*) FROM registry.charge_points WHERE id = $1", cp_id)
            == 0
        )
    finally:
        await conn.close()
    # The same call from the role it is meant for is answered.
    result = await rpc_as(role_suite, "command-api", "update_charge_point_settings", params)
    assert result["id"] == cp_id


async def test_a_suite_of_role_users_boots_a_cp_and_round_trips_a_command(
    role_suite: RoleSuite,
) -> None:
    suite = role_suite.suite
    cp_id = f"CP-{secrets.token_hex(5)}"
    cp = await ChargePointClient.connect(suite.gateway_url(0), cp_id)
    try:
        boot = await cp.call("BootNotification", BOOT)
        assert boot["status"] == "Accepted"
        body, answer = GOLDEN["Reset"]

        async def respond(action: str, payload: dict[str, Any]) -> dict[str, Any]:
            return GOLDEN[action][1]

        cp.responder = respond
        async with httpx.AsyncClient(
            base_url=suite.api_url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=30
        ) as api:
            response = await api.post(f"/charge-points/{cp_id}/commands/Reset", json=body)
            assert response.status_code == 200, response.text
            assert response.json()["response"] == answer
            # A read through the registry's RPC, which command-api alone may call.
            shown = await api.get(f"/charge-points/{cp_id}")
            assert shown.status_code == 200, shown.text
            assert shown.json()["online"] is True

            # The gateway's log bundles reach the writer, and its reads answer command-api.
            async def logged() -> bool:
                found = await api.get(
                    f"/charge-points/{cp_id}/messages", params={"action": "Reset"}
                )
                assert found.status_code == 200, found.text
                return len(found.json()["items"]) == 2

            await eventually(logged)
            level = await api.put(f"/charge-points/{cp_id}/message-log", json={"level": "off"})
            assert level.status_code == 200, level.text
    finally:
        await cp.close()


async def test_calls_pushed_around_the_gateway_are_refused(role_suite: RoleSuite) -> None:
    """A service's user could reach another service's call queue through the default exchange,
    or publish `v16.*` itself (it re-sends bundle items): neither is taken for a CP's call."""
    suite = role_suite.suite
    cp_id = f"CP-{secrets.token_hex(5)}"
    start = {
        "connectorId": 1,
        "idTag": "FORGED",
        "meterStart": 0,
        "timestamp": "2026-01-01T00:00:00Z",
    }
    log = suite.services["session-service"].log_path
    before = log.read_text(errors="replace").count("refused a delivery")
    connection = await aio_pika.connect(role_suite.urls["station-registry"])
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        message = aio_pika.Message(
            json.dumps(start).encode(),
            headers={HEADER_CHARGE_POINT: cp_id},
            content_type="application/json",
        )
        await channel.default_exchange.publish(message, routing_key="session-service.calls")
        calls = await channel.get_exchange(CALLS.name, ensure=False)
        await calls.publish(message, routing_key="v16.StartTransaction")

    async def both_refused() -> bool:
        return log.read_text(errors="replace").count("refused a delivery") >= before + 2

    await eventually(both_refused)
    conn = await asyncpg.connect(suite.infra.asyncpg_dsn)
    try:
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM sessions.transactions WHERE charge_point_id = $1", cp_id
            )
            == 0
        )
    finally:
        await conn.close()


async def test_command_api_user_lists_replays_and_discards_dead_letters(
    role_suite: RoleSuite, gateway_channel: aio_pika.abc.AbstractChannel
) -> None:
    """The dead-letter API, logged in as the command-api role: it may read the services'
    `.dead` queues and replay through ocpp.calls, and the registry takes the replay."""
    marker = f"gw-{secrets.token_hex(4)}"
    calls = await gateway_channel.get_exchange(CALLS.name, ensure=False)
    poison = aio_pika.Message(
        b"\xffno bundle",
        headers={"x-gateway-id": marker, "x-ocpp-bundle": 2},
        user_id=role_suite.users["gateway"],
    )
    await calls.publish(poison, routing_key="v16.StatusNotification")
    queue = "station-registry.calls"
    async with httpx.AsyncClient(
        base_url=role_suite.suite.api_url,
        headers={"Authorization": f"Bearer {ADMIN_KEY}"},
        timeout=30,
    ) as api:

        async def letters() -> list[dict[str, Any]]:
            response = await api.get(f"/dead-letters/{queue}")
            assert response.status_code == 200, response.text
            return [
                m for m in response.json()["items"] if m["headers"].get("x-gateway-id") == marker
            ]

        [letter] = await eventually(letters, timeout=30)
        replayed = await api.post(f"/dead-letters/{queue}/replay", json={"ids": [letter["id"]]})
        assert replayed.json() == {"done": [letter["id"]], "missing": []}, replayed.text
        # The replay took it out; it is back once the registry got it and refused it again (its
        # x-death count is 2 on RabbitMQ 3.x, 1 again on 4.x, which ignores a client's x-death).
        await eventually(letters, timeout=30)
        discarded = await api.post(f"/dead-letters/{queue}/discard", json={"ids": [letter["id"]]})
        assert discarded.json() == {"done": [letter["id"]], "missing": []}
