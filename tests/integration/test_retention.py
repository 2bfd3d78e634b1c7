"""Retention: old status history, finished commands and webhook deliveries leave; recent ones
and pending commands stay."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import pytest

from command_api import recorder, webhook_store
from csms_shared.db import create_engine, session_factory
from station_registry.retention import prune_status_history
from tests.integration.conftest import Suite

pytestmark = pytest.mark.integration


async def _prune(suite: Suite, prune: Any, days: float) -> int:
    engine = create_engine(suite.infra.database_url, pool_size=1)
    try:
        async with session_factory(engine)() as session, session.begin():
            pruned: int = await prune(session, days)
        return pruned
    finally:
        await engine.dispose()


async def test_status_history_older_than_the_retention_leaves(
    suite: Suite, db: asyncpg.Connection
) -> None:
    cp = f"RET-{uuid.uuid4().hex[:8]}"
    for age in (40, 10):
        await db.execute(
            "INSERT INTO registry.status_history (charge_point_id, connector_id, status, "
            "error_code, timestamp) "
            "VALUES ($1, 1, 'Available', 'NoError', now() - make_interval(days => $2))",
            cp,
            age,
        )
    assert await _prune(suite, prune_status_history, 30) >= 1
    left = await db.fetch(
        "SELECT timestamp > now() - interval '30 days' AS recent FROM registry.status_history "
        "WHERE charge_point_id = $1",
        cp,
    )
    assert [r["recent"] for r in left] == [True]


async def test_finished_commands_older_than_the_retention_leave_pending_ones_stay(
    suite: Suite, db: asyncpg.Connection
) -> None:
    cp = f"RET-{uuid.uuid4().hex[:8]}"
    rows = [("old-done", "result", 40), ("old-pending", "pending", 40),
            ("new-done", "result", 1)]  # fmt: skip
    for name, status, age in rows:
        await db.execute(
            "INSERT INTO commands.commands (id, charge_point_id, action, request, status, "
            "requested_by, timeout_seconds, created_at) "
            "VALUES ($1, $2, 'Reset', '{}', $3, 'test', 30, now() - make_interval(days => $4))",
            f"{cp}-{name}",
            cp,
            status,
            age,
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
