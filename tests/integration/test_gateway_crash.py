"""Killing a gateway: the other one keeps serving, the killed one's CPs are shown offline.

Each test kills or stops gateways of its own (`suite.extra_gateway`), never the suite's, so
the tests after it find the suite as it was, whatever the order and whatever fails.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import asyncpg
import pytest

from tests.integration.support import ChargePointClient, ServiceProcess, eventually, metric

pytestmark = pytest.mark.integration

BOOT = {"chargePointVendor": "ACME", "chargePointModel": "X1"}

Gateway = tuple[ServiceProcess, int]


@pytest.fixture
def gateways(suite: Any) -> Iterator[Callable[[str], Gateway]]:
    """Start gateways of this test's own; every one is stopped at the end of the test."""
    started: list[ServiceProcess] = []

    def start(name: str) -> Gateway:
        process, port = suite.extra_gateway(name)
        started.append(process)
        return process, port

    yield start
    for process in started:
        process.stop()


@pytest.fixture
async def connect() -> AsyncIterator[Callable[..., Any]]:
    """Connect charge points to a gateway by port; all closed at the end of the test."""
    clients: list[ChargePointClient] = []

    async def _connect(cp_id: str, port: int) -> ChargePointClient:
        client = await ChargePointClient.connect(f"ws://127.0.0.1:{port}", cp_id)
        clients.append(client)
        return client

    yield _connect
    for client in clients:
        await client.close()


def restart(process: ServiceProcess) -> None:
    """Start a stopped gateway again with the instance id it had (a container restarted)."""
    process.start()
    process.wait_ready(f"http://127.0.0.1:{process.env['GATEWAY_INTERNAL_PORT']}/readyz")


async def test_killed_gateway_cps_go_offline_and_other_gateway_serves(
    gateways: Callable[[str], Gateway], connect: Any, db: asyncpg.Connection
) -> None:
    run = uuid.uuid4().hex[:6]
    (doomed, port_a), (survivor, port_b) = gateways("crash-a"), gateways("crash-b")
    on_a = [await connect(f"CRASH-{run}-A-{i}", port_a) for i in range(3)]
    on_b = await connect(f"CRASH-{run}-B-0", port_b)
    for cp in [*on_a, on_b]:
        await cp.call("BootNotification", BOOT)

    async def all_online() -> bool:
        rows = await db.fetch(
            "SELECT online FROM registry.charge_points WHERE id LIKE $1", f"CRASH-{run}-%"
        )
        return len(rows) == 4 and all(r["online"] for r in rows)

    await eventually(all_online)
    doomed.kill()

    async def killed_ones_offline() -> bool:
        rows = await db.fetch(
            "SELECT online FROM registry.charge_points WHERE id LIKE $1", f"CRASH-{run}-A-%"
        )
        return len(rows) == 3 and not any(r["online"] for r in rows)

    # Beats every 0.5 s, silent after 3 beats, swept every 0.5 s: well within 10 s.
    await eventually(killed_ones_offline, timeout=10)
    assert (await on_b.call("Heartbeat", {}))["currentTime"]
    row = await db.fetchrow(
        "SELECT online FROM registry.charge_points WHERE id = $1", f"CRASH-{run}-B-0"
    )
    assert row["online"] is True

    # The CPs reconnect to the surviving gateway and are online again there.
    again = await connect(f"CRASH-{run}-A-0", port_b)
    await again.call("BootNotification", BOOT)
    survivor_id = survivor.env["GATEWAY_INSTANCE_ID"]

    async def back_on_survivor() -> bool:
        row = await db.fetchrow(
            "SELECT online, gateway FROM registry.charge_points WHERE id = $1", f"CRASH-{run}-A-0"
        )
        return bool(row["online"] and row["gateway"] == survivor_id)

    await eventually(back_on_survivor)


async def test_sigterm_drains_with_1001(
    gateways: Callable[[str], Gateway], connect: Any, db: asyncpg.Connection
) -> None:
    cp_id = f"DRAIN-{uuid.uuid4().hex[:6]}"
    process, port = gateways("drain")
    cp = await connect(cp_id, port)
    await cp.call("BootNotification", BOOT)
    # In a thread: the loop must stay free to answer the gateway's close, else the drain waits
    # its whole GATEWAY_DRAIN_TIMEOUT for this CP.
    await asyncio.to_thread(process.stop)
    assert cp.ws.close_code == 1001 or (await cp.ws.wait_closed()) is None
    assert cp.ws.close_code == 1001

    async def offline() -> bool:
        row = await db.fetchrow("SELECT online FROM registry.charge_points WHERE id = $1", cp_id)
        return row is not None and row["online"] is False

    await eventually(offline)


async def test_gateway_restarted_after_a_drain_keeps_its_cps_online(
    gateways: Callable[[str], Gateway], connect: Any, db: asyncpg.Connection, suite: Any
) -> None:
    """The same instance id drained, then started again: its new CPs are not swept offline."""
    cp_id = f"RESTART-{uuid.uuid4().hex[:6]}"
    process, port = gateways("restart")
    gateway_id = process.env["GATEWAY_INSTANCE_ID"]
    process.stop()

    async def stopped() -> bool:
        row = await db.fetchrow(
            "SELECT stopped_at FROM registry.gateways WHERE id = $1", gateway_id
        )
        return row is not None and row["stopped_at"] is not None

    await eventually(stopped)
    restart(process)
    cp = await connect(cp_id, port)
    await cp.call("BootNotification", BOOT)

    async def running() -> bool:
        row = await db.fetchrow(
            "SELECT stopped_at FROM registry.gateways WHERE id = $1", gateway_id
        )
        return row is not None and row["stopped_at"] is None

    await eventually(running)
    # What must not happen shows in what must: a whole presence sweep has run since the
    # registry recorded the new process (the one after the sweep now in progress, if any).
    registry = suite.internal_ports["station-registry"]
    sweeps = "csms_registry_presence_sweeps_total"
    before = await metric(registry, sweeps)

    async def swept() -> bool:
        return await metric(registry, sweeps) >= before + 2

    await eventually(swept)
    row = await db.fetchrow(
        "SELECT online, gateway FROM registry.charge_points WHERE id = $1", cp_id
    )
    assert (row["online"], row["gateway"]) == (True, gateway_id)
    assert (await cp.call("Heartbeat", {}))["currentTime"]
