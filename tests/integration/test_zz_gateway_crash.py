"""Killing a gateway: the other one keeps serving, the killed one's CPs are shown offline."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest

from tests.integration.support import eventually

pytestmark = pytest.mark.integration

BOOT = {"chargePointVendor": "ACME", "chargePointModel": "X1"}


async def test_killed_gateway_cps_go_offline_and_other_gateway_serves(
    connect_cp: Any, db: asyncpg.Connection, suite: Any
) -> None:
    on_0 = [await connect_cp(f"CRASH-A-{i}", 0) for i in range(3)]
    on_1 = await connect_cp("CRASH-B-0", 1)
    for cp in [*on_0, on_1]:
        await cp.call("BootNotification", BOOT)

    async def all_online() -> bool:
        rows = await db.fetch("SELECT online FROM registry.charge_points WHERE id LIKE 'CRASH-%'")
        return len(rows) == 4 and all(r["online"] for r in rows)

    await eventually(all_online)
    suite.gateways[0].kill()

    async def killed_ones_offline() -> bool:
        rows = await db.fetch(
            "SELECT id, online FROM registry.charge_points WHERE id LIKE 'CRASH-A-%'"
        )
        return len(rows) == 3 and not any(r["online"] for r in rows)

    # Beats every 0.5 s, silent after 3 beats, swept every 0.5 s: well within 10 s.
    await eventually(killed_ones_offline, timeout=10)
    assert (await on_1.call("Heartbeat", {}))["currentTime"]
    row = await db.fetchrow("SELECT online FROM registry.charge_points WHERE id = 'CRASH-B-0'")
    assert row["online"] is True

    # The CPs reconnect to the surviving gateway and are online again there.
    again = await connect_cp("CRASH-A-0", 1)
    await again.call("BootNotification", BOOT)
    gateway_1 = suite.gateways[1].env["GATEWAY_INSTANCE_ID"]

    async def back_on_1() -> bool:
        row = await db.fetchrow(
            "SELECT online, gateway FROM registry.charge_points WHERE id = 'CRASH-A-0'"
        )
        return bool(row["online"] and row["gateway"] == gateway_1)

    await eventually(back_on_1)
    suite.restart_gateway(0)


async def test_sigterm_drains_with_1001(
    connect_cp: Any, suite: Any, db: asyncpg.Connection
) -> None:
    cp = await connect_cp("DRAIN-0", 0)
    await cp.call("BootNotification", BOOT)
    suite.gateways[0].stop()
    assert cp.ws.close_code == 1001 or (await cp.ws.wait_closed()) is None
    assert cp.ws.close_code == 1001

    async def offline() -> bool:
        row = await db.fetchrow("SELECT online FROM registry.charge_points WHERE id = 'DRAIN-0'")
        return row is not None and row["online"] is False

    await eventually(offline)
    suite.restart_gateway(0)


async def test_gateway_restarted_after_a_drain_keeps_its_cps_online(
    connect_cp: Any, suite: Any, db: asyncpg.Connection
) -> None:
    """The same instance id drained, then started again: its new CPs are not swept offline."""
    gateway_0 = suite.gateways[0].env["GATEWAY_INSTANCE_ID"]
    suite.gateways[0].stop()

    async def stopped() -> bool:
        row = await db.fetchrow("SELECT stopped_at FROM registry.gateways WHERE id = $1", gateway_0)
        return row is not None and row["stopped_at"] is not None

    await eventually(stopped)
    suite.restart_gateway(0, same_id=True)
    cp = await connect_cp("RESTART-0", 0)
    await cp.call("BootNotification", BOOT)

    async def running() -> bool:
        row = await db.fetchrow("SELECT stopped_at FROM registry.gateways WHERE id = $1", gateway_0)
        return row is not None and row["stopped_at"] is None

    await eventually(running)
    # Sweeps run every 0.5 s: four of them have run over the CP by now.
    await asyncio.sleep(2.0)
    row = await db.fetchrow(
        "SELECT online, gateway FROM registry.charge_points WHERE id = 'RESTART-0'"
    )
    assert (row["online"], row["gateway"]) == (True, gateway_0)
    assert (await cp.call("Heartbeat", {}))["currentTime"]
