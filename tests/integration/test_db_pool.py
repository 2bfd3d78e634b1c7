"""The services' engine: a fixed pool without pre-ping that recovers from a dropped connection."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from csms_shared.bus.router import Router
from csms_shared.bus.runtime import ServiceRuntime
from csms_shared.bus.unit_of_work import handler_slots
from csms_shared.db import create_engine, pool_size_of, session_factory
from tests.integration.infra import Infra

pytestmark = pytest.mark.integration


async def test_a_killed_connection_fails_one_statement_and_the_pool_recovers(infra: Infra) -> None:
    name = "pool-test-" + uuid.uuid4().hex[:8]
    engine = create_engine(infra.database_url, pool_size=2, application_name=name)
    sessions = session_factory(engine)
    try:
        assert pool_size_of(engine) == 2
        async with sessions() as session, session.begin():
            assert await session.scalar(text("SELECT 1")) == 1
        admin = await asyncpg.connect(infra.asyncpg_dsn)
        try:
            killed = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE application_name = $1",
                name,
            )
        finally:
            await admin.close()
        assert killed == 1
        # Without pre-ping the pooled connection's death shows in the statement that uses it.
        with pytest.raises(DBAPIError) as failed:
            async with sessions() as session, session.begin():
                await session.scalar(text("SELECT 1"))
        assert failed.value.connection_invalidated
        # ...and the next checkout gets a fresh connection.
        async with sessions() as session, session.begin():
            assert await session.scalar(text("SELECT 2")) == 2
    finally:
        await engine.dispose()


async def test_runtime_bounds_its_handlers_to_the_pool(infra: Infra) -> None:
    engine = create_engine(infra.database_url, pool_size=3, application_name="pool-test")
    try:
        runtime = ServiceRuntime(
            Router(service="pool-test"),
            settings=None,
            broker_url=infra.broker_url,
            sessions=session_factory(engine),
        )
        # One connection stays free for the outbox relay, background loops and probes.
        assert handler_slots(runtime.sessions, None) == 2
        running = peak = 0

        async def handler(n: int) -> None:
            nonlocal running, peak
            # Bulk work and decisions share the slots (one kept for decisions alone).
            slots = runtime.decision_slots if n % 2 else runtime.slots
            async with slots, runtime.sessions() as session, session.begin():
                running += 1
                peak = max(peak, running)
                await session.execute(text("SELECT pg_sleep(0.05)"))
                running -= 1

        await asyncio.gather(*(handler(n) for n in range(10)))
        assert peak == 2
        assert engine.sync_engine.pool.checkedout() == 0
    finally:
        await engine.dispose()
