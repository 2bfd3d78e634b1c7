"""Retention: status history received long ago, finished commands and webhook deliveries leave;
recent ones and pending commands stay."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import pytest

from command_api import recorder, webhook_store
from csms_shared.db import create_engine, session_factory
from station_registry.retention import prune_status_history
from tests.integration.conftest import Suite
from tests.integration.support import eventually

pytestmark = pytest.mark.integration


async def _prune(suite: Suite, prune: Any, days: float) -> int:
    engine = create_engine(suite.infra.database_url, pool_size=1)
    try:
        async with session_factory(engine)() as session, session.begin():
            pruned: int = await prune(session, days)
        return pruned
    finally:
        await engine.dispose()


async def test_status_history_received_before_the_retention_leaves(
    suite: Suite, db: asyncpg.Connection
) -> None:
    cp = f"RET-{uuid.uuid4().hex[:8]}"
    # (days since the CP's timestamp, days since we received it): our clock decides.
    for connector, (stamped, received) in enumerate([(40, 40), (10, 10), (1, 40)], start=1):
        await db.execute(
            "INSERT INTO registry.status_history (charge_point_id, connector_id, status, "
            "error_code, timestamp, received_at) "
            "VALUES ($1, $2, 'Available', 'NoError', now() - make_interval(days => $3), "
            "now() - make_interval(days => $4))",
            cp,
            connector,
            stamped,
            received,
        )
    assert await _prune(suite, prune_status_history, 30) >= 2
    left = await db.fetch(
        "SELECT connector_id FROM registry.status_history WHERE charge_point_id = $1", cp
    )
    assert [r["connector_id"] for r in left] == [2]


async def test_a_status_stamped_years_ago_by_the_cp_but_received_now_stays(
    suite: Suite, db: asyncpg.Connection, connect_cp: Any, cp_id: str
) -> None:
    cp = await connect_cp(cp_id)
    await cp.call("BootNotification", {"chargePointVendor": "ACME", "chargePointModel": "X1"})
    notification = {
        "connectorId": 1,
        "errorCode": "NoError",
        "status": "Available",
        "timestamp": "2015-03-01T12:00:00Z",
    }
    await cp.call("StatusNotification", notification)

    async def recorded() -> int:
        count: int = await db.fetchval(
            "SELECT count(*) FROM registry.status_history WHERE charge_point_id = $1", cp_id
        )
        return count

    await eventually(recorded)
    await _prune(suite, prune_status_history, 30)
    assert await recorded() == 1


async def test_finished_commands_older_than_the_retention_leave_pending_ones_stay(
    suite: Suite, db: asyncpg.Connection
) -> None:
    cp = f"RET-{uuid.uuid4().hex[:8]}"
    # The pending one waits 50 days for its answer: with the usual 30 s, the running
    # command-api's own sweep would mark it lost (no longer pending) at any moment.
    rows = [("old-done", "result", 40, 30), ("old-pending", "pending", 40, 50 * 86400),
            ("new-done", "result", 1, 30)]  # fmt: skip
    for name, status, age, timeout in rows:
        await db.execute(
            "INSERT INTO commands.commands (id, charge_point_id, action, request, status, "
            "requested_by, timeout_seconds, created_at) "
            "VALUES ($1, $2, 'Reset', '{}', $3, 'test', $5, now() - make_interval(days => $4))",
            f"{cp}-{name}",
            cp,
            status,
            age,
            timeout,
        )
    assert await _prune(suite, recorder.prune, 30) >= 1
    left = await db.fetch("SELECT id FROM commands.commands WHERE charge_point_id = $1", cp)
    assert sorted(r["id"] for r in left) == [f"{cp}-new-done", f"{cp}-old-pending"]


async def test_finished_webhook_deliveries_older_than_the_retention_leave(
    suite: Suite, db: asyncpg.Connection
) -> None:
    hook = str(uuid.uuid4())
    await db.execute(
        # Disabled: the suite's deliverer leaves its pending row alone.
        "INSERT INTO commands.webhooks (id, url, events, secret, created_by, enabled) "
        "VALUES ($1, 'https://example.com/h', '[\"*\"]', 'x', 'test', false)",
        hook,
    )
    for event, status, age in [("a", "delivered", 40), ("b", "pending", 40),
                               ("c", "delivered", 1)]:  # fmt: skip
        await db.execute(
            "INSERT INTO commands.webhook_deliveries (webhook_id, event_id, event_type, "
            "ordering_key, body, status, created_at) "
            "VALUES ($1, $2, 'x.y', '', '{}', $3, now() - make_interval(days => $4))",
            hook,
            event,
            status,
            age,
        )
    assert await _prune(suite, webhook_store.prune, 30) >= 1
    left = await db.fetch(
        "SELECT event_id FROM commands.webhook_deliveries WHERE webhook_id = $1", hook
    )
    assert sorted(r["event_id"] for r in left) == ["b", "c"]
    await db.execute("DELETE FROM commands.webhooks WHERE id = $1", hook)
