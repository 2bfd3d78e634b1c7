"""Live updates for the console: server-sent events fed from `ocpp.events`.

Each command-api replica has its own exclusive queue and keeps the last events in memory with
ids `<epoch>:<n>`. A browser that reconnects sends Last-Event-ID: the same replica replays what
it missed; another replica (or one that restarted) tells it to reload its data (`resync`), so no
state a replica holds matters once it is gone.

The queue is bound only while a browser listens (and for `IDLE_SECONDS` after the last one
left, since a stream ends every minute and comes back): a replica nobody watches reads no
events at all. Binding again starts a new epoch, so a browser that comes back after the gap
reloads instead of trusting a replay with holes in it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import uuid
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable

from aio_pika.abc import (
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)
from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import Field

from csms_shared.bus.topology import EVENTS, declare_exchanges, service_queue
from csms_shared.contracts.events import InvalidEvent, read_event
from csms_shared.contracts.resources_base import DateTime, Omit, Resource

from .streams import CHECK_SECONDS, ENDED, Lease, too_many
from .web import ViewerPage

router = APIRouter(include_in_schema=False)

# What an operator watches; everything else on `ocpp.events` stays unbound here.
KEYS = (
    "station.connected",
    "station.disconnected",
    "station.booted",
    "connector.status",
    "transaction.started",
    "transaction.stopped",
)


class LiveChange(Resource):
    """What a page shows of an event (`data` of an event-stream `change`): ids, states and
    times, no free text from the CP."""

    event: str = Field(description="The event's routing key")
    charge_point_id: Omit[str] = None
    connector_id: Omit[int] = None
    status: Omit[str] = None
    error_code: Omit[str] = None
    transaction_id: Omit[int] = None
    gateway: Omit[str] = None
    at: Omit[DateTime] = None


BUFFER = 2000
# A stream ends after this long and the browser reconnects (resuming): a shutdown never waits
# on an open stream for longer.
STREAM_SECONDS = 60.0
KEEPALIVE_SECONDS = 15.0
# How long the queue stays bound after the last browser left (streams reconnect within seconds).
IDLE_SECONDS = 120.0


class LiveFeed:
    """This replica's exclusive queue on `ocpp.events` and the browsers listening to it."""

    def __init__(self, instance_id: str, idle_seconds: float = IDLE_SECONDS) -> None:
        self._instance_id = instance_id
        # A new epoch at every start: ids of a previous run never match, so they resync.
        self.epoch = self._new_epoch()
        self._numbers = itertools.count(1)
        self.recent: deque[tuple[int, str]] = deque(maxlen=BUFFER)
        self._changed = asyncio.Condition()
        self._idle_seconds = idle_seconds
        self._queue: AbstractQueue | None = None
        self._exchange: AbstractExchange | None = None
        self._binding = asyncio.Lock()
        self.bound = False
        self.listeners = 0
        self._unbind: asyncio.TimerHandle | None = None

    def _new_epoch(self) -> str:
        return f"{self._instance_id}-{uuid.uuid4().hex[:6]}"

    async def start(self, connection: AbstractRobustConnection) -> None:
        """Declare this replica's exclusive queue and consume it (bound once a browser listens)."""
        channel = await connection.channel()
        exchanges = await declare_exchanges(channel)
        self._exchange = exchanges[EVENTS.name]
        self._queue = await channel.declare_queue(
            service_queue("command-api", f"live.{self.epoch}"), exclusive=True, auto_delete=True
        )
        await self._queue.consume(self._on_event, no_ack=True)

    async def listen(self) -> None:
        """A browser listens: bind the queue if it is not (a new epoch: what came before is
        gone)."""
        self.listeners += 1
        if self._unbind is not None:
            self._unbind.cancel()
            self._unbind = None
        async with self._binding:
            if self.bound or self._queue is None or self._exchange is None:
                return
            for key in KEYS:
                await self._queue.bind(self._exchange, key)
            self.bound = True
            self.epoch = self._new_epoch()
            self.recent.clear()

    def leave(self) -> None:
        """A browser stopped listening; the last one leaves the queue bound for a while."""
        self.listeners -= 1
        if self.listeners == 0 and self._unbind is None:
            loop = asyncio.get_running_loop()
            self._unbind = loop.call_later(
                self._idle_seconds, lambda: loop.create_task(self._unbind_idle())
            )

    async def _unbind_idle(self) -> None:
        self._unbind = None
        async with self._binding:
            if self.listeners or not self.bound or self._queue is None or self._exchange is None:
                return
            self.bound = False
            for key in KEYS:
                with contextlib.suppress(Exception):  # the broker is away: unbound with it
                    await self._queue.unbind(self._exchange, key)

    async def _on_event(self, message: AbstractIncomingMessage) -> None:
        key = message.routing_key or ""
        try:
            event = read_event(key, message.body)
        except InvalidEvent:
            return  # not ours to judge (the owners dead-letter it): the console shows facts
        await self.publish(
            LiveChange.model_validate({**event.model_dump(mode="json"), "event": key})
        )

    async def publish(self, change: LiveChange) -> None:
        """Keep the change and wake every stream."""
        number = next(self._numbers)
        self.recent.append((number, change.model_dump_json(by_alias=True)))
        async with self._changed:
            self._changed.notify_all()

    def _after(self, last_event_id: str | None) -> tuple[int, bool]:
        """The number to resume after, and whether the browser must reload (a gap)."""
        if not last_event_id:
            return (self.recent[-1][0] if self.recent else 0), False
        epoch, _, number = last_event_id.rpartition(":")
        oldest = self.recent[0][0] if self.recent else 1
        if epoch != self.epoch or not number.isdigit() or int(number) + 1 < oldest:
            return (self.recent[-1][0] if self.recent else 0), True
        return int(number), False

    async def stream(
        self, request: Request, last_event_id: str | None, signed_in: Callable[[], Awaitable[bool]]
    ) -> AsyncIterator[str]:
        """The text/event-stream of one browser, for as long as `signed_in()`, asked every
        CHECK_SECONDS, says its session lasts."""
        loop = asyncio.get_running_loop()
        try:
            # Inside the try: a bind that fails still counts this browser out again.
            await self.listen()
            after, resync = self._after(last_event_id)
            yield "retry: 2000\n\n"
            if resync:
                yield f"id: {self.epoch}:{after}\nevent: resync\ndata: {{}}\n\n"
            deadline = loop.time() + STREAM_SECONDS
            check_at = loop.time() + CHECK_SECONDS
            while loop.time() < deadline:
                pending = [(n, data) for n, data in self.recent if n > after]
                for number, data in pending:
                    yield f"id: {self.epoch}:{number}\nevent: change\ndata: {data}\n\n"
                    after = number
                if await request.is_disconnected():
                    return
                if loop.time() >= check_at:
                    if not await signed_in():
                        yield ENDED  # logged out, disabled, or expired: nothing more
                        return
                    check_at = loop.time() + CHECK_SECONDS
                wait = min(KEEPALIVE_SECONDS, max(0.0, check_at - loop.time()))
                async with self._changed:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._changed.wait(), wait)
                if not any(n > after for n, _ in self.recent):
                    yield ": keepalive\n\n"
        finally:
            self.leave()


@router.get("/live")
async def live(page: ViewerPage) -> Response:
    """Connects, disconnects, status changes and transaction starts and stops, as they happen."""
    feed: LiveFeed = page.request.app.state.live
    lease = Lease(page.state, page.session_id, page.user_id)
    if not await lease.take():
        return too_many(page.state)
    events = feed.stream(page.request, page.request.headers.get("last-event-id"), lease.renew)
    return StreamingResponse(
        lease.holding(events),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
