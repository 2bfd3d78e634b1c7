"""No CSMS->CP call reaches a charge point before the answer to its BootNotification: a CP counts
itself registered only once it holds that answer (OCPP 1.6 section 4.2), and a strict one
refuses anything earlier with SecurityError."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import httpx
import pytest

from tests.integration.conftest import Suite
from tests.integration.support import eventually, metric

pytestmark = pytest.mark.integration

BOOT = {"chargePointVendor": "ACME", "chargePointModel": "X1"}
HELD = "csms_gateway_commands_held_for_boot_total"


async def test_a_command_sent_while_the_boot_awaits_its_answer_arrives_after_it(
    suite: Suite, api: httpx.AsyncClient, connect_cp: Any, cp_id: str, db: asyncpg.Connection
) -> None:
    cp = await connect_cp(cp_id)

    async def accept(action: str, payload: dict[str, Any]) -> dict[str, Any]:
        return {"status": "Accepted"}

    cp.responder = accept

    async def connected() -> bool:
        query = "SELECT online FROM registry.charge_points WHERE id = $1"
        return bool(await db.fetchval(query, cp_id))

    await eventually(connected)
    gateway = suite.gateway_internal_ports[0]
    # The registry's answer is held back: the boot's upsert waits on the CP's row, locked here,
    # the way a slow registry makes a BootNotification wait.
    hold = db.transaction()
    await hold.start()
    try:
        await db.execute("SELECT 1 FROM registry.charge_points WHERE id = $1 FOR UPDATE", cp_id)
        boot = asyncio.create_task(cp.call("BootNotification", BOOT, timeout=30))
        me = db.get_server_pid()

        async def boot_waits() -> bool:
            blocked = "SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))"
            return bool(await db.fetchval(blocked, me))

        await eventually(boot_waits)
        held = await metric(gateway, HELD)
        command = asyncio.create_task(
            api.post(f"/charge-points/{cp_id}/commands/ClearCache", json={}, params={"timeout": 20})
        )

        async def at_the_gateway() -> bool:
            # Held there for the boot's answer; or (the fault) sent to the CP already.
            return bool(cp.received_calls) or await metric(gateway, HELD) > held

        await eventually(at_the_gateway)
    finally:
        await hold.rollback()
    assert (await boot)["status"] == "Accepted"
    answered = await command
    assert answered.status_code == 200, answered.text
    assert answered.json()["response"] == {"status": "Accepted"}
    assert [frame[0] for frame in cp.frames] == [3, 2], "the boot's CALLRESULT, then the CALL"
    assert cp.frames[1][2] == "ClearCache"
