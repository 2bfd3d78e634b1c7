"""Each webhook is an endpoint with its own queue and loop: a dead receiver with a deep backlog
is paused and probed one delivery at a time, and never delays another webhook's deliveries; a
4xx (the request's fault) pauses nothing, nor does one failure among successes; three in a
row do; a success resumes the endpoint. Against the real
Postgres (a database of this run's own, schema `commands` migrated)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from command_api import webhook_queue as queue
from command_api import webhook_store as store
from command_api.app import migrate
from command_api.db import SCHEMA, metadata, webhook_deliveries
from command_api.settings import Settings
from command_api.webhooks import Webhooks
from csms_shared.db import create_engine, session_factory
from tests.integration.infra import base_urls, isolated_database
from tests.integration.schema_check import schema_differences
from tests.integration.support import eventually

_HOSTS = itertools.count(2)


@pytest.fixture(scope="module")
async def settings() -> AsyncIterator[Settings]:
    with base_urls() as (_, database):
        async with isolated_database(database) as url:
            settings = Settings(
                database_url=url,
                webhook_allowed_networks=["127.0.0.0/8"],
                webhook_retry_base=30.0,
                webhook_concurrency=4,
                webhook_poll_interval=0.05,
            )
            await asyncio.to_thread(migrate, settings)
            yield settings


@pytest.fixture(scope="module")
async def sessions(settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(settings.database_url, pool_size=8)
    yield session_factory(engine)
    await engine.dispose()


class Receivers(httpx.AsyncBaseTransport):
    """Receivers by address: each answers a status, or hangs `hang` seconds and times out."""

    def __init__(self) -> None:
        self.status: dict[str, int] = {}
        self.hang: dict[str, float] = {}
        self.seen: dict[str, list[bytes]] = {}

    def add(self, status: int = 200, hang: float = 0.0) -> str:
        host = f"127.0.0.{next(_HOSTS)}"
        self.status[host], self.hang[host], self.seen[host] = status, hang, []
        return f"http://{host}:8000/hooks"

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        self.seen[host].append(await request.aread())
        if self.hang[host]:
            await asyncio.sleep(self.hang[host])
            raise httpx.ReadTimeout("no answer", request=request)
        return httpx.Response(self.status[host])


async def _hook(sessions: async_sessionmaker[AsyncSession], url: str) -> str:
    async with sessions() as session, session.begin():
        row = await store.create(
            session, url=url, events=["*"], secret="whsec_dGVzdA==", created_by="test"
        )
    return str(row.id)


async def _queue(
    sessions: async_sessionmaker[AsyncSession], webhook_id: str, count: int, cps: int, tag: str
) -> None:
    """`count` pending deliveries for the webhook, spread over `cps` charge points."""
    body = '{"event": "connector.status"}'
    for first in range(0, count, 10_000):
        rows = [
            {
                "webhook_id": webhook_id,
                "event_id": f"{tag}-{n}",
                "event_type": "connector.status",
                "ordering_key": f"{tag}-CP-{n % cps}",
                "body": body,
            }
            for n in range(first, min(count, first + 10_000))
        ]
        async with sessions() as session, session.begin():
            await queue.enqueue_rows(session, rows)


async def _state(sessions: async_sessionmaker[AsyncSession], webhook_id: str) -> Any:
    async with sessions() as session:
        return await store.get(session, webhook_id)


async def test_a_dead_endpoints_backlog_delays_no_other_webhook(
    settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> None:
    receivers = Receivers()
    dead = await _hook(sessions, receivers.add(hang=0.5))
    await _queue(sessions, dead, 50_000, cps=5_000, tag="dead")
    live_url = receivers.add()
    live = await _hook(sessions, live_url)
    await _queue(sessions, live, 3, cps=3, tag="live")
    hooks = Webhooks(settings, sessions, transport=receivers)
    try:
        await hooks.reconcile()
        live_host = httpx.URL(live_url).host

        async def live_served() -> bool:
            return len(receivers.seen[live_host]) == 3

        assert await eventually(live_served, timeout=10)

        # The dead one: its first claim (up to API_WEBHOOK_CONCURRENCY) timed out, and it is
        # paused now, its backlog untouched but for those attempts.
        async def paused() -> Any:
            state = await _state(sessions, dead)
            return state if state.paused_until is not None else None

        state = await eventually(paused, timeout=10)
        assert state.consecutive_failures >= 1 and state.enabled
        tried = sum(len(seen) for host, seen in receivers.seen.items() if host != live_host)
        assert 1 <= tried <= settings.webhook_concurrency
    finally:
        await hooks.close()


async def test_a_refusal_pauses_nothing_and_a_success_resumes_a_paused_endpoint(
    settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> None:
    receivers = Receivers()
    url = receivers.add(status=422)
    host = httpx.URL(url).host
    hook = await _hook(sessions, url)
    await _queue(sessions, hook, 2, cps=2, tag="refused")
    quick = settings.model_copy(update={"webhook_retry_base": 0.2})
    hooks = Webhooks(quick, sessions, transport=receivers)
    try:
        assert await hooks.deliver_due(hook)
        state = await _state(sessions, hook)
        # The request's fault, not the receiver's health: the endpoint goes on.
        assert (state.consecutive_failures, state.paused_until) == (0, None)
        assert state.failing_since is not None

        # Unwell (503) three times in a row: the endpoint is paused.
        receivers.status[host] = 503
        await _queue(sessions, hook, queue.PAUSE_AFTER, cps=queue.PAUSE_AFTER, tag="unwell")

        async def paused() -> Any:
            await hooks.deliver_due(hook)
            state = await _state(sessions, hook)
            return state if state.paused_until is not None else None

        state = await eventually(paused, timeout=10)
        assert state.consecutive_failures >= queue.PAUSE_AFTER
        # Paused: nothing is claimed until the pause ends.
        assert not await hooks.deliver_due(hook)

        # Well again: after the pause one probe, and its success resumes the endpoint.
        receivers.status[host] = 200

        async def resumed() -> bool:
            await hooks.deliver_due(hook)
            state = await _state(sessions, hook)
            return bool(state.consecutive_failures == 0 and state.paused_until is None)

        assert await eventually(resumed, timeout=10)
        assert (await _state(sessions, hook)).failing_since is None
    finally:
        await hooks.close()


async def test_the_migrated_schema_is_the_one_db_py_describes(settings: Settings) -> None:
    """command-api's migrations (0013: the endpoints' pause) make exactly db.py's tables."""
    assert await schema_differences(settings.database_url, metadata, SCHEMA) == []


class _OneFailsOneIsSlow(httpx.AsyncBaseTransport):
    """Event `*-0` is answered 500 at once; every other is answered 200 after half a second."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.headers["x-csms-event-id"].endswith("-0"):
            return httpx.Response(500)
        await asyncio.sleep(0.5)
        return httpx.Response(200)


async def test_a_delivery_in_flight_when_its_webhook_is_disabled_records_the_answer(
    settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> None:
    hook = await _hook(sessions, f"http://127.0.0.{next(_HOSTS)}:8000/hooks")
    await _queue(sessions, hook, 2, cps=2, tag="drain")
    # drain-0 has been failing for two days: its next failure disables the webhook.
    async with sessions() as session, session.begin():
        await session.execute(
            update(webhook_deliveries)
            .where(webhook_deliveries.c.event_id == "drain-0")
            .values(failing_since=func.now() - timedelta(days=2))
        )
    hooks = Webhooks(settings, sessions, transport=_OneFailsOneIsSlow())
    try:
        await hooks.reconcile()

        async def disabled() -> bool:
            return not (await _state(sessions, hook)).enabled

        assert await eventually(disabled, timeout=10)
        # The loop of the disabled webhook is let go while the slow POST is still answering.
        await hooks.reconcile()

        async def settled() -> dict[str, str] | None:
            async with sessions() as session:
                rows, _ = await store.deliveries(session, hook, 10, 0, None)
            states = {r.event_id: r.status for r in rows}
            return states if states["drain-1"] != store.CANCELLED else None

        # The receiver took the event: recorded as delivered, not left cancelled.
        states = await eventually(settled, timeout=10)
        assert states == {"drain-0": store.CANCELLED, "drain-1": store.DELIVERED}
    finally:
        await hooks.close()


async def test_an_attempt_ending_after_its_webhook_was_disabled_changes_nothing(
    settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """Disabled (its delivery cancelled) and enabled again by an admin while an attempt was
    out: that attempt's failure neither marks the webhook failing nor disables it again."""
    hook = await _hook(sessions, f"http://127.0.0.{next(_HOSTS)}:8000/hooks")
    await _queue(sessions, hook, 1, cps=1, tag="stale")
    async with sessions() as session, session.begin():
        [out] = await queue.claim(session, hook, 1, 60)
    async with sessions() as session, session.begin():
        assert await store.disable(session, hook, "test: disabled while an attempt is out")
        assert not await store.disable(session, hook, "test: again")
    async with sessions() as session, session.begin():
        assert await store.enable(session, hook) is not None
    async with sessions() as session, session.begin():
        reason = await queue.failed(
            session, out, status_code=500, error="HTTP 500", retry_in=1, disable_after=0.001
        )
    assert reason is None
    state = await _state(sessions, hook)
    assert state.enabled and state.failing_since is None and state.consecutive_failures == 0
    async with sessions() as session:
        rows, _ = await store.deliveries(session, hook, 10, 0, None)
    assert [(r.status, r.last_status_code) for r in rows] == [(store.CANCELLED, None)]
