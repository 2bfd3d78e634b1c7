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
from aiormq.exceptions import ChannelLockedResource

from csms_shared.bus.access import ROLES, named_users
from csms_shared.bus.client import BusClient
from csms_shared.bus.rpc import RpcClient, RpcError
from csms_shared.bus.topology import (
    CALLS,
    COMMANDS,
    DECISIONS,
    EVENTS,
    HEADER_CHARGE_POINT,
    OWNERS,
    gateway_queue,
)
from csms_shared.contracts.envelopes import OwnerBeacon
from csms_shared.contracts.rpc import RegistryRpc, RpcMethod, UpdateChargePointSettings
from csms_shared.contracts.rpc_base import P, R
from station_registry.sweeper import connection_lives
from tests.integration.commands_fixtures import COMMANDS as GOLDEN
from tests.integration.conftest import ADMIN_KEY, Suite
from tests.integration.infra import Infra, isolated_database, isolated_vhost
from tests.integration.support import ChargePointClient, eventually, metric

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
    "load-manager": "LOADS_BROKER_URL",
    "roaming": "ROAMING_BROKER_URL",
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


# Back offices with broker users of their own (API_BACK_OFFICES): name suffix -> role.
BACK_OFFICES = {"billing": "operator", "fleet": "operator", "reports": "viewer", "noc": "admin"}


@pytest.fixture(scope="module")
def role_users(role_vhost: str) -> Iterator[tuple[dict[str, str], dict[str, str]]]:
    """Every role's user in the vhost and the back offices' users (as `bo:<name>`), made by the
    real script: (users, passwords)."""
    prefix = f"t{secrets.token_hex(3)}-"  # users are broker-wide: unique to this run
    users = named_users(prefix)
    passwords = {role: secrets.token_urlsafe(16) for role in ROLES}
    offices = {f"{prefix}{name}": role for name, role in BACK_OFFICES.items()}
    office_passwords = {user: secrets.token_urlsafe(16) for user in offices}
    vhost = urlsplit(role_vhost).path.lstrip("/")
    env = (
        os.environ
        | {
            f"CSMS_BROKER_PASSWORD_{role.upper().replace('-', '_')}": passwords[role]
            for role in ROLES
        }
        | {
            "CSMS_BACK_OFFICE_PASSWORD_" + user.upper().replace("-", "_"): password
            for user, password in office_passwords.items()
        }
    )
    options = [f"--back-office={user}={role}" for user, role in offices.items()]
    subprocess.run(
        [sys.executable, str(SCRIPT), "apply", "--vhost", vhost, "--prefix", prefix, *options],
        env=env,
        check=True,
    )
    for name in BACK_OFFICES:
        users[f"bo:{name}"] = f"{prefix}{name}"
        passwords[f"bo:{name}"] = office_passwords[f"{prefix}{name}"]
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
        roles = {role: user for role, user in users.items() if role in ROLES}
        common = {
            # Nothing runs as guest: a process that ignored its own URL would log in as
            # integrations and could not serve anything.
            "CSMS_BROKER_URL": urls["integrations"],
            "CSMS_BROKER_USERS": json.dumps(roles),
        }
        offices = {users[f"bo:{name}"]: role for name, role in BACK_OFFICES.items()}
        for name, process in suite.services.items():
            process.env = process.env | common | {URL_VARIABLE[name]: urls[name]}
        suite.services["command-api"].env |= {"API_BACK_OFFICES": json.dumps(offices)}
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


async def test_a_service_user_cannot_put_a_call_on_the_decisions_lane(
    role_suite: RoleSuite,
) -> None:
    connection = await aio_pika.connect(role_suite.urls["station-registry"])
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(DECISIONS.name, ensure=False)
        with pytest.raises(aiormq.exceptions.ChannelAccessRefused, match="ACCESS_REFUSED"):
            await exchange.publish(aio_pika.Message(b"{}"), routing_key="v16.StartTransaction")


async def test_owner_beacons_go_from_the_services_to_the_gateways_and_no_one_else_sends_them(
    role_suite: RoleSuite, gateway_channel: aio_pika.abc.AbstractChannel
) -> None:
    """Each service's user publishes its beacon and each gateway's user hears it; the gateway
    (which faces the stations) and a back office cannot say a service is gone or not ready."""
    port = role_suite.suite.gateway_internal_ports[0]

    async def heard() -> bool:
        ready = [
            await metric(port, "csms_gateway_owner_processes", owner=name, state="ready")
            for name in ("station-registry", "session-service")
        ]
        return all(count >= 1 for count in ready)

    await eventually(heard)
    exchange = await gateway_channel.get_exchange(OWNERS.name, ensure=False)
    with pytest.raises(aiormq.exceptions.ChannelAccessRefused, match="ACCESS_REFUSED"):
        await exchange.publish(aio_pika.Message(b"{}"), routing_key="")
    connection = await aio_pika.connect(role_suite.urls["integrations"])
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(OWNERS.name, ensure=False)
        with pytest.raises(aiormq.exceptions.ChannelAccessRefused, match="ACCESS_REFUSED"):
            await exchange.publish(aio_pika.Message(b"{}"), routing_key="")


async def test_a_beacon_counts_only_from_the_user_of_the_service_it_names(
    role_suite: RoleSuite,
) -> None:
    """The load-manager's user may send its own beacons, not the session-service's: a beacon
    naming another service is ignored (and counted), so it can neither keep a dead service
    alive in the gateways' eyes nor say a live one is gone."""
    port = role_suite.suite.gateway_internal_ports[0]

    async def serving() -> float:
        return await metric(
            port, "csms_gateway_owner_processes", owner="session-service", state="ready"
        )

    live = await eventually(serving)
    lanes = {CALLS.name: ["v16.MeterValues"]}
    forged = [
        # In the session-service's name.
        OwnerBeacon(
            service="session-service",
            process="session-service@forged:1:0",
            lanes=lanes,
            ready=True,
            lifetime=30,
        ),
        # In its own name, for a process of the session-service's.
        OwnerBeacon(
            service="load-manager",
            process="session-service@forged:1:0",
            lanes=lanes,
            ready=True,
            lifetime=30,
        ),
    ]
    before = await metric(port, "csms_gateway_owner_beacons_refused_total")
    connection = await aio_pika.connect(role_suite.urls["load-manager"])
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(OWNERS.name, ensure=False)
        for beacon in forged:
            await exchange.publish(aio_pika.Message(beacon.encode()), routing_key="")

    async def refused() -> bool:
        now = await metric(port, "csms_gateway_owner_beacons_refused_total")
        return now - before >= len(forged)

    assert await eventually(refused)
    assert await serving() == live


async def test_the_gateway_user_cannot_forge_another_users_id(
    role_suite: RoleSuite, gateway_channel: aio_pika.abc.AbstractChannel
) -> None:
    exchange = await gateway_channel.get_exchange(EVENTS.name, ensure=False)
    forged = aio_pika.Message(b"{}", user_id=role_suite.users["command-api"])
    with pytest.raises(aiormq.exceptions.ChannelPreconditionFailed, match="user_id"):
        await exchange.publish(forged, routing_key="station.seen")


async def rpc_as(role_suite: RoleSuite, role: str, method: RpcMethod[P, R], params: P) -> R:
    bus = BusClient(role_suite.urls[role], name=f"test {role}")
    await bus.start()
    try:
        return await RpcClient(bus).call(method, params)
    finally:
        await bus.close()


async def test_the_gateway_user_is_forbidden_the_registrys_admin_rpc(
    role_suite: RoleSuite,
) -> None:
    cp_id = f"CP-{secrets.token_hex(5)}"
    params = UpdateChargePointSettings(id=cp_id, security_profile=0)
    method = RegistryRpc.update_charge_point_settings
    with pytest.raises(RpcError) as refused:
        await rpc_as(role_suite, "gateway", method, params)
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
    result = await rpc_as(role_suite, "command-api", method, params)
    assert result.id == cp_id


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
            # The load-manager answers command-api as its own user.
            site = await api.post("/sites", json={"name": cp_id, "limitWatts": 11000})
            assert site.status_code == 201, site.text
            placed = await api.put(
                f"/charge-points/{cp_id}/site", json={"nodeId": site.json()["id"]}
            )
            assert placed.status_code == 200, placed.text
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


async def test_the_registry_user_can_tell_whether_a_gateway_lives(
    role_vhost: str, role_users: tuple[dict[str, str], dict[str, str]]
) -> None:
    """The presence sweep's passive declare of a gateway's queue needs no grant on `gateway.*`:
    the broker answers while the gateway's connection holds the queue, and once it is gone."""
    users, passwords = role_users
    urls = role_urls(role_vhost, users, passwords)
    instance = f"probe-{secrets.token_hex(4)}"
    registry = await aio_pika.connect_robust(urls["station-registry"])
    try:
        gateway = await aio_pika.connect(urls["gateway"])
        async with gateway:
            channel = await gateway.channel()
            await channel.declare_queue(gateway_queue(instance), exclusive=True, auto_delete=True)
            assert await connection_lives(registry, instance) is True
            # Its configure grant on `gateway.*` cannot take a live gateway's queue away.
            probe = await registry.channel()
            with pytest.raises(ChannelLockedResource):
                await probe.queue_delete(gateway_queue(instance))
            assert await connection_lives(registry, instance) is True

        async def gone() -> bool:
            return await connection_lives(registry, instance) is False

        await eventually(gone)
    finally:
        await registry.close()


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


class OwnBackOffice:
    """A back office logged in as its own broker user: its queues are `<user>.*`."""

    def __init__(self, role_suite: RoleSuite, name: str) -> None:
        self.url = role_suite.urls[f"bo:{name}"]
        self.user = role_suite.users[f"bo:{name}"]

    async def __aenter__(self) -> OwnBackOffice:
        self.connection = await aio_pika.connect(self.url)
        channel = await self.connection.channel()
        self.events = await channel.declare_queue(
            f"{self.user}.completed", exclusive=True, auto_delete=True
        )
        await self.events.bind(await channel.get_exchange(EVENTS.name), "command.completed")
        self.channel = await self.connection.channel(publisher_confirms=True)
        self.requests = await self.channel.get_exchange("ocpp.command-requests", ensure=False)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.connection.close()

    async def send(self, request_id: str, cp_id: str, action: str, payload: Any) -> None:
        body = {"requestId": request_id, "chargePointId": cp_id, "action": action,
                "payload": payload}  # fmt: skip
        await self.requests.publish(
            aio_pika.Message(json.dumps(body).encode(), user_id=self.user), routing_key=""
        )

    async def outcome(self, request_id: str) -> dict[str, Any]:
        """The `command.completed` of this back office's request."""
        seen: list[dict[str, Any]] = []

        async def find() -> dict[str, Any] | None:
            while (message := await self.events.get(fail=False)) is not None:
                await message.ack()
                seen.append(json.loads(message.body))
            mine = [e for e in seen if e.get("requestId") == request_id
                    and e.get("requestedBy") == f"broker:{self.user}"]  # fmt: skip
            return mine[0] if mine else None

        found: dict[str, Any] = await eventually(find, timeout=30)
        return found


async def test_each_back_office_acts_under_its_own_name_and_role(role_suite: RoleSuite) -> None:
    suite = role_suite.suite
    cp_id = f"CP-{secrets.token_hex(5)}"
    cp = await ChargePointClient.connect(suite.gateway_url(1), cp_id)

    async def accept(action: str, payload: dict[str, Any]) -> dict[str, Any]:
        return {"status": "Accepted"}

    try:
        assert (await cp.call("BootNotification", BOOT))["status"] == "Accepted"
        cp.responder = accept
        async with (
            OwnBackOffice(role_suite, "billing") as billing,
            OwnBackOffice(role_suite, "fleet") as fleet,
            OwnBackOffice(role_suite, "noc") as noc,
        ):
            # The same requestId from two back offices: two requests, neither a duplicate.
            await billing.send("R-1", cp_id, "Reset", {"type": "Soft"})
            await fleet.send("R-1", cp_id, "Reset", {"type": "Soft"})
            first, second = await billing.outcome("R-1"), await fleet.outcome("R-1")
            assert first["status"] == second["status"] == "result", (first, second)
            assert first["commandId"] != second["commandId"]
            assert [a for a, _ in cp.received_calls] == ["Reset", "Reset"]
            # An operator back office may not change a CP's key; an admin one may.
            change = {"key": "AuthorizationKey", "value": "0123456789abcdef0123"}
            await billing.send("R-2", cp_id, "ChangeConfiguration", change)
            refused = await billing.outcome("R-2")
            assert refused["status"] == "refused" and "admin" in refused["reason"], refused
            await noc.send("R-2", cp_id, "ChangeConfiguration", change)
            assert (await noc.outcome("R-2"))["status"] == "result"
        # A viewer back office reads events but the broker refuses what it publishes.
        async with OwnBackOffice(role_suite, "reports") as reports:
            with pytest.raises(aiormq.exceptions.ChannelAccessRefused, match="ACCESS_REFUSED"):
                await reports.send("R-3", cp_id, "Reset", {"type": "Hard"})
        async with httpx.AsyncClient(
            base_url=suite.api_url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=30
        ) as api:
            audit = (await api.get("/commands", params={"chargePointId": cp_id})).json()["items"]
        by = sorted((c["requestedBy"], c["requestId"], c["action"]) for c in audit)
        users = role_suite.users
        assert by == sorted(
            [
                (f"broker:{users['bo:billing']}", "R-1", "Reset"),
                (f"broker:{users['bo:fleet']}", "R-1", "Reset"),
                (f"broker:{users['bo:noc']}", "R-2", "ChangeConfiguration"),
            ]
        )
    finally:
        await cp.close()
