"""The push outbox under stress: an attempt ends within its lease, and one that outlived it
records nothing; a claim leases no more pushes than it may send; a push the platform refuses for
good is dropped after ROAMING_PUSH_MAX_REFUSALS refusals in a row and no longer holds up the
next of its object, while failures that may pass are retried."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from csms_shared.bus.router import Context
from csms_shared.contracts.rpc_roaming import ListPushes
from roaming.db import outbox, pushes
from roaming.ocpi.versions import ModuleId
from roaming.ocpi_client import OcpiClient
from roaming.push_queue import Push, enqueue
from roaming.pushes import PushDelivery
from roaming.rpc_locations import list_pushes
from roaming.settings import Settings
from tests.integration.ocpi_platform import Hosts, PlatformDouble
from tests.integration.support import eventually

from .test_locations import deliver, platform_of
from .test_tokens import registered

_KEYS = itertools.count(1)
Answer = Callable[[httpx.Request], Awaitable[httpx.Response]]


def envelope(status: int, message: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"status_code": status, "timestamp": "2026-11-26T20:00:00Z"}
    if message is not None:
        body["status_message"] = message
    return body


class Receiver:
    """The platform's receiver interfaces as the test has them answer (`answer`; HTTP 200 with
    OCPI 1000 when None); requests to other hosts (the platforms earlier tests left) go on to
    `hosts`."""

    def __init__(self, hosts: Hosts, platform: PlatformDouble) -> None:
        self._hosts = hosts
        self._host = httpx.URL(platform.base).host
        self.answer: Answer | None = None
        self.requests: list[httpx.Request] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.host != self._host:
            return await self._hosts.handle_async_request(request)
        self.requests.append(request)
        if self.answer is None:
            return httpx.Response(200, json=envelope(1000))
        return await self.answer(request)


@pytest.fixture
async def emsp(
    csms: httpx.AsyncClient, hosts: Hosts, settings: Settings, sessions: Any
) -> tuple[Receiver, str]:
    """A registered eMSP's receivers, and its platform id."""
    platform, _ = await registered(csms, hosts, settings, sessions)
    return Receiver(hosts, platform), await platform_of(sessions, platform)


@contextlib.asynccontextmanager
async def delivering(
    receiver: Receiver,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    **changes: Any,
) -> AsyncIterator[PushDelivery]:
    """A delivery (a process of its own) calling out through `receiver`, with `changes` to
    its settings; what earlier tests left due is tried first."""
    client = OcpiClient(5.0, None, transport=httpx.MockTransport(receiver))
    try:
        delivery = PushDelivery(sessions, client, settings.model_copy(update=changes))
        await deliver(delivery)
        yield delivery
    finally:
        await client.close()


async def queue(
    sessions: async_sessionmaker[AsyncSession],
    platform_id: str,
    key: str,
    method: str = "PUT",
    below: str = "",
) -> int:
    """A push of location `key` to the platform; its id."""
    async with sessions.begin() as session:
        path = f"/DE/CSM/{key}{below}"
        await enqueue(
            session,
            Push(ModuleId.LOCATIONS, f"location:{key}", method, path, {"id": key}),
            [platform_id],
        )
        pushed: int = (
            await session.execute(
                select(func.max(pushes.c.id)).where(
                    pushes.c.platform_id == platform_id, pushes.c.path == path
                )
            )
        ).scalar_one()
    return pushed


async def rows(sessions: async_sessionmaker[AsyncSession], *ids: int) -> list[Any]:
    async with sessions() as session:
        found = await session.execute(
            select(pushes).where(pushes.c.id.in_(ids)).order_by(pushes.c.id)
        )
    return list(found.all())


async def due_now(sessions: async_sessionmaker[AsyncSession], push_id: int) -> None:
    """Its retry is due now rather than after its backoff."""
    async with sessions.begin() as session:
        await session.execute(
            update(pushes).where(pushes.c.id == push_id).values(next_attempt_at=func.now())
        )


async def test_an_attempt_without_an_answer_ends_within_its_lease(
    emsp: tuple[Receiver, str], settings: Settings, sessions: Any
) -> None:
    receiver, platform_id = emsp
    never = asyncio.Event()

    async def silent(request: httpx.Request) -> httpx.Response:
        await never.wait()
        raise AssertionError("never answered")

    receiver.answer = silent
    async with delivering(receiver, sessions, settings, request_timeout=0.2) as delivery:
        push_id = await queue(sessions, platform_id, f"PS-{next(_KEYS)}")
        await asyncio.wait_for(deliver(delivery), 0.2 * 2 + 5)  # within the lease
    (row,) = await rows(sessions, push_id)
    assert len(receiver.requests) == 1
    assert row.attempts == 1 and row.delivered_at is None and row.leased_until is None
    assert row.last_error.endswith("no answer in 0.2 s")
    assert row.next_attempt_at > row.last_attempt_at  # tried again after a backoff


async def test_an_attempt_that_outlived_its_lease_records_nothing(
    emsp: tuple[Receiver, str],
    settings: Settings,
    sessions: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    receiver, platform_id = emsp
    release = asyncio.Event()

    async def slow_then_fine(request: httpx.Request) -> httpx.Response:
        if len(receiver.requests) == 1:
            await release.wait()
            return httpx.Response(500, json={"error": "late and broken"})
        return httpx.Response(200, json=envelope(1000))

    receiver.answer = slow_then_fine
    async with (
        delivering(receiver, sessions, settings) as stalled,
        delivering(receiver, sessions, settings) as other,
    ):
        push_id = await queue(sessions, platform_id, f"PS-{next(_KEYS)}")
        first = asyncio.create_task(deliver(stalled))

        async def in_flight() -> bool:
            return bool(receiver.requests)

        await eventually(in_flight)
        # The first process stalls past its lease: another takes the push and delivers it.
        async with sessions.begin() as session:
            await session.execute(
                update(pushes)
                .where(pushes.c.id == push_id)
                .values(leased_until=func.now() - timedelta(seconds=1))
            )
        await deliver(other)
        with caplog.at_level(logging.WARNING, logger="roaming.pushes"):
            release.set()
            await first
    (row,) = await rows(sessions, push_id)
    assert len(receiver.requests) == 2
    assert row.delivered_at is not None and row.dropped_at is None
    assert row.attempts == 1 and row.last_error is None and row.leased_until is None
    assert f"push {push_id}: this attempt's lease ran out" in caplog.text


async def test_a_claim_leases_no_more_pushes_than_it_may_send(
    emsp: tuple[Receiver, str], settings: Settings, sessions: Any
) -> None:
    receiver, platform_id = emsp
    never = asyncio.Event()

    async def silent(request: httpx.Request) -> httpx.Response:
        await never.wait()
        raise AssertionError("never answered")

    receiver.answer = silent
    async with delivering(receiver, sessions, settings, push_concurrency=3) as delivery:
        # Six due pushes of six locations: none waits for another.
        ids = [await queue(sessions, platform_id, f"PS-{next(_KEYS)}") for _ in range(6)]
        running = asyncio.create_task(delivery.run())
        try:

            async def three_in_flight() -> bool:
                return len(receiver.requests) >= 3

            await eventually(three_in_flight)
            found = await rows(sessions, *ids)
        finally:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
    assert [r.id for r in found if r.leased_until is not None] == ids[:3]
    assert len(receiver.requests) == 3


async def test_a_push_refused_for_good_is_dropped_and_the_next_of_its_object_goes(
    emsp: tuple[Receiver, str],
    settings: Settings,
    sessions: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    receiver, platform_id = emsp

    async def refuse_puts(request: httpx.Request) -> httpx.Response:
        if request.method == "PUT":
            return httpx.Response(400, json=envelope(2001, "Invalid or missing parameters"))
        return httpx.Response(200, json=envelope(1000))

    receiver.answer = refuse_puts
    key = f"PS-{next(_KEYS)}"
    async with delivering(receiver, sessions, settings, push_max_refusals=3) as delivery:
        put = await queue(sessions, platform_id, key)
        patch = await queue(sessions, platform_id, key, "PATCH", "/EVSE-1")
        for refusals in (1, 2):
            await deliver(delivery)
            refused, waiting = await rows(sessions, put, patch)
            assert refused.dropped_at is None and refused.attempts == refusals
            assert refused.last_error.startswith(f"refused {refusals} of 3: PUT http://")
            assert refused.last_error.endswith(
                "HTTP 400, OCPI status 2001 Invalid or missing parameters"
            )
            assert waiting.attempts == 0  # in order: it waits for the PUT
            await due_now(sessions, put)
        with caplog.at_level(logging.WARNING, logger="roaming.pushes"):
            await deliver(delivery)
    dropped, taken = await rows(sessions, put, patch)
    assert dropped.dropped_why == "refused 3 times by the platform (HTTP 400, OCPI status 2001)"
    assert dropped.attempts == 3 and dropped.delivered_at is None and dropped.leased_until is None
    assert taken.delivered_at is not None and taken.attempts == 1
    assert [r.method for r in receiver.requests] == ["PUT", "PUT", "PUT", "PATCH"]
    assert f"push {put} (PUT /DE/CSM/{key} to platform {platform_id}) dropped" in caplog.text

    # The operator's push log shows it dropped, and why.
    async with sessions() as session:
        page = await list_pushes(
            ListPushes(platform_id=platform_id),
            Context(session=session, settings=settings, outbox=outbox),
        )
    shown = {p.id: p for p in page.items}
    assert (shown[put].state, shown[put].dropped_why) == ("dropped", dropped.dropped_why)
    assert shown[patch].state == "delivered"


# What the platform answers, one attempt each, and the refusals in a row after it (None: the
# push is dropped): failures that may pass never count, and break a run of refusals.
ANSWERS = [
    (408, envelope(2000), 0),
    (429, None, 0),
    (503, envelope(3000), 0),
    (200, envelope(3001), 0),
    (400, envelope(2001), 1),
    (500, None, 0),
    (200, envelope(2003, "Unknown location"), 1),
    (404, None, None),
]


async def test_failures_that_may_pass_are_retried_and_only_refusals_in_a_row_drop(
    emsp: tuple[Receiver, str], settings: Settings, sessions: Any
) -> None:
    receiver, platform_id = emsp
    answers = iter(ANSWERS)

    async def next_answer(request: httpx.Request) -> httpx.Response:
        status, body, _ = next(answers)
        if body is None:
            return httpx.Response(status, text="<html>no</html>")
        return httpx.Response(status, json=body)

    receiver.answer = next_answer
    async with delivering(receiver, sessions, settings, push_max_refusals=2) as delivery:
        push_id = await queue(sessions, platform_id, f"PS-{next(_KEYS)}")
        for attempt, (status, _, refusals) in enumerate(ANSWERS, 1):
            await deliver(delivery)
            (row,) = await rows(sessions, push_id)
            assert row.attempts == attempt, status
            assert f"HTTP {status}" in row.last_error
            if refusals is None:
                assert row.dropped_why == "refused 2 times by the platform (HTTP 404)"
            else:
                assert row.dropped_at is None and row.delivered_at is None, status
                assert row.last_error.startswith(f"refused {refusals} of 2: ") == bool(refusals)
                assert row.next_attempt_at > row.last_attempt_at
                await due_now(sessions, push_id)
    assert len(receiver.requests) == len(ANSWERS)
