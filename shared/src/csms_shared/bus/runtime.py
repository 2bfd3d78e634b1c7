"""The consumer runtime: a DB session per message, commit, reply, then ack."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

import aiormq
import orjson
from aio_pika import DeliveryMode
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractRobustConnection,
)
from prometheus_client import Counter, Histogram
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from ..db import pool_size_of
from ..ocpp._base import utcnow
from ..ocpp.errors import InternalError, OcppError
from ..ocpp.framing import find_nul, validate_payload
from ..settings import default_broker_users
from .access import GATEWAY, ROLES, allowed
from .bundle import BadBundle, BundleItem, decode_bundle, encode_replies
from .connection import connect
from .outbox import OutboxRelay
from .publish import publish
from .router import CallContext, CallRoute, Context, EventGroupHandler, EventHandler, Router
from .rpc import RpcError
from .topology import (
    CALLS,
    EVENTS,
    HEADER_BUNDLE,
    HEADER_CHARGE_POINT,
    HEADER_GATEWAY,
    HEADER_MESSAGE_ID,
    HEADER_RECEIVED_AT,
    action_of,
    call_routing_key,
    declare_exchanges,
    declare_rpc_queue,
    declare_service_queue,
    service_queue,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

HANDLED = Counter(
    "csms_messages_handled_total", "Messages handled by a service", ["service", "kind", "outcome"]
)
REFUSED = Counter(
    "csms_deliveries_refused_total",
    "Calls or events that did not come through their exchange from an expected sender",
    ["service"],
)
LATENCY = Histogram(
    "csms_handler_seconds",
    "Time from delivery to ack",
    ["service", "kind"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
BATCH_SIZE = Histogram(
    "csms_batch_messages",
    "Notifications written in one batched transaction",
    ["service", "action"],
    buckets=(1, 2, 5, 10, 20, 50, 100, 200),
)
GROUP_SIZE = Histogram(
    "csms_group_calls",
    "Decision calls of one bundle answered from one transaction (group commit)",
    ["service", "action"],
    buckets=(1, 2, 5, 10, 20, 50, 100, 200),
)

# Batched notifications: flush after this many, or this long after the first one arrived.
BATCH_MAX = 100
BATCH_WAIT = 0.02
# Decision calls of one action in transactions at once (each answering a group of them).
GROUP_LANES = 2


class Delivery(Protocol):
    """What a handler's delivery offers: an AMQP message, or one item of a bundle."""

    @property
    def headers(self) -> Mapping[str, Any]: ...

    @property
    def reply_to(self) -> str | None: ...

    @property
    def correlation_id(self) -> str | None: ...

    async def ack(self) -> None: ...

    async def nack(self, *, requeue: bool = True) -> None: ...


class _Bundle:
    """One AMQP message of several notifications: acked when every item is settled.

    An item its handler wants requeued is published again on its own (confirmed) and counts
    as settled, so the others are not handled twice; the single message then meets the queue's
    delivery limit like any other. If that publish fails, the whole bundle goes back instead.
    """

    __slots__ = ("_runtime", "left", "message", "requeue_all")

    def __init__(self, runtime: ServiceRuntime, message: AbstractIncomingMessage, count: int):
        self._runtime = runtime
        self.message = message
        self.left = count
        self.requeue_all = False

    async def settle(self, part: _BundlePart, requeue: bool) -> None:
        if requeue:
            try:
                await self._runtime.republish(self.message.routing_key or "", part)
            except Exception:
                log.exception("could not publish a failed bundle item alone; requeueing all")
                self.requeue_all = True
        self.left -= 1
        if self.left == 0:
            if self.requeue_all:
                await self.message.nack(requeue=True)
            else:
                await self.message.ack()


class _BundlePart:
    """One item of a bundle, handled as if it had come in a message of its own."""

    __slots__ = ("_bundle", "headers", "payload")
    reply_to = None
    correlation_id = None

    def __init__(self, bundle: _Bundle, item: BundleItem) -> None:
        self._bundle = bundle
        self.headers = item.headers
        self.payload = item.payload

    async def ack(self) -> None:
        await self._bundle.settle(self, requeue=False)

    async def nack(self, *, requeue: bool = True) -> None:
        await self._bundle.settle(self, requeue=requeue)


@dataclass(slots=True)
class _Queued:
    """A call or an event waiting for its group, and the future its outcome goes to."""

    item: Any  # (headers, request) of a decision call; (routing key, body) of an event
    future: asyncio.Future[Any]
    taken: bool = False  # by a group: handled, or being handled


@dataclass(slots=True)
class _Pending:
    """A validated notification waiting for its batch."""

    message: Delivery
    request: Any
    started: float


def _topic_regex(pattern: str) -> re.Pattern[str]:
    parts = [
        r"[^.]+" if word == "*" else r".*" if word == "#" else re.escape(word)
        for word in pattern.split(".")
    ]
    return re.compile(r"\.".join(parts) + r"\Z")


def _received_at(headers: Mapping[str, Any]) -> datetime:
    value = headers.get(HEADER_RECEIVED_AT)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            pass
    return utcnow()


# Postgres aborted the transaction to resolve a conflict with another: deadlock, serialization.
_CONFLICTS = frozenset({"40P01", "40001"})


def lost_a_conflict(exc: BaseException) -> bool:
    """Whether `exc` (or what it wraps) is Postgres aborting a transaction for a conflict."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if getattr(current, "sqlstate", None) in _CONFLICTS:
            return True
        orig = getattr(current, "orig", None)
        current = orig if isinstance(orig, BaseException) else current.__cause__
    return False


def exc_text(exc: BaseException) -> str:
    """The first line of an exception, for a log line."""
    return (str(exc).splitlines() or [type(exc).__name__])[0][:200]


def by_charge_point(items: list[Mapping[str, Any]], key: str = HEADER_CHARGE_POINT) -> list[int]:
    """The positions of `items` sorted by the charge point each names (stable).

    Groups and batches write their rows in this order, and the registry locks many CPs' rows in
    id order: two transactions that meet on the same rows then wait for each other instead of
    deadlocking. A CP's own items keep their order.
    """
    return sorted(range(len(items)), key=lambda n: str(items[n].get(key) or ""))


def handler_slots(sessions: async_sessionmaker[AsyncSession], concurrency: int | None) -> int:
    """How many handlers may hold a DB session at once: the pool less one connection.

    The one left over serves the outbox relay, background loops and the readiness probe, so
    they never wait behind a full set of handlers. Without a bounded pool: `concurrency` or 64.
    """
    if concurrency is not None:
        return max(1, concurrency)
    bind = sessions.kw.get("bind")
    size = pool_size_of(bind) if isinstance(bind, AsyncEngine) else None
    return 64 if size is None else max(1, size - 1)


def rpc_lane(slots: int) -> int:
    """Handler slots kept for RPCs out of `slots`: a third from 6 up, 1 from 3 up, else none.

    RPCs are short reads and decisions somebody waits on (a gateway admitting a CP at its
    handshake, an operator's GET); behind a storm's backlog of notifications and events they
    would time out, and a CP refused with 503 stays away for its whole back-off.
    """
    return slots // 3 if slots >= 6 else 1 if slots >= 3 else 0


def call_error_body(exc: OcppError) -> dict[str, Any]:
    """The bus form of a CALLERROR reply."""
    return {
        "error": {"code": str(exc.code), "description": exc.description, "details": exc.details}
    }


class ServiceRuntime:
    """Runs a Router: declares its queues, consumes them, owns the DB session per message."""

    def __init__(
        self,
        router: Router,
        *,
        settings: Any,
        broker_url: str,
        sessions: async_sessionmaker[AsyncSession],
        outbox: Table | None = None,
        prefetch: int = 200,
        concurrency: int | None = None,
        batch_size: int = BATCH_MAX,
        batch_wait: float = BATCH_WAIT,
        group_max: int = BATCH_MAX,
        group_lanes: int = GROUP_LANES,
    ) -> None:
        self.router = router
        self.settings = settings
        # Role -> broker user, for the callers' check (BrokerSettings.broker_users).
        users = getattr(settings, "broker_users", None)
        self.broker_users: dict[str, str] = users if users is not None else default_broker_users()
        self._broker_url = broker_url
        self.sessions = sessions
        self._outbox = outbox
        self._prefetch = prefetch
        self._service = router.service
        self._call_senders = frozenset({GATEWAY, self._service} & set(ROLES))
        self._event_routes = [
            (_topic_regex(p), h, router.event_groups.get(p)) for p, h in router.events.items()
        ]
        self.connection: AbstractRobustConnection | None = None
        self.channel: AbstractChannel | None = None
        self._reply_channel: AbstractChannel | None = None
        self.exchanges: dict[str, AbstractExchange] = {}
        self.relay: OutboxRelay | None = None
        self._tasks: list[asyncio.Task[None]] = []
        # Up to `prefetch` deliveries are in memory; only this many run a DB transaction at
        # once, so the rest wait here (and in the broker), never on the pool's timeout.
        slots = handler_slots(sessions, concurrency)
        lane = rpc_lane(slots)
        self.slots = asyncio.Semaphore(slots - lane)
        self.rpc_slots = asyncio.Semaphore(lane) if lane else self.slots
        self.batch_size = batch_size
        self.batch_wait = batch_wait
        self._batches: dict[str, list[_Pending]] = {}
        self._batch_timers: dict[str, asyncio.TimerHandle] = {}
        self._flushes: set[asyncio.Task[None]] = set()
        # Decision calls and events waiting for their group, by action or handler (_in_groups).
        self.group_max = group_max
        self.group_lanes = group_lanes
        self._queued: dict[str, list[_Queued]] = {}
        self._lanes: dict[str, asyncio.Semaphore] = {}

    async def start(self) -> None:
        """Connect, declare the topology and this service's queues, start consuming."""
        self.connection = await connect(self._broker_url, name=self._service)
        self.channel = await self.connection.channel(publisher_confirms=True)
        await self.channel.set_qos(prefetch_count=self._prefetch)
        self.exchanges = await declare_exchanges(self.channel)
        # Replies go to the asker's exclusive queue, transient: no publisher confirms (the
        # asker's answer, or its timeout, is the confirmation), so none is waited for.
        self._reply_channel = await self.connection.channel(publisher_confirms=False)
        if self._outbox is not None:
            self.relay = OutboxRelay(self.sessions, self._outbox, self.channel, EVENTS.name)
            self._tasks.append(asyncio.create_task(self.relay.run(), name="outbox-relay"))
        if self.router.calls:
            queue = await declare_service_queue(self.channel, service_queue(self._service, "calls"))
            for action in self.router.calls:
                await queue.bind(self.exchanges[CALLS.name], call_routing_key(action))
            await queue.consume(self._on_call)
        if self.router.events:
            queue = await declare_service_queue(
                self.channel, service_queue(self._service, "events")
            )
            for pattern in self.router.events:
                await queue.bind(self.exchanges[EVENTS.name], pattern)
            await queue.consume(self._on_event)
        if self.router.rpcs:
            queue = await declare_rpc_queue(
                self.connection, self.channel, service_queue(self._service, "rpc")
            )
            await queue.consume(self._on_rpc)
        log.info(
            "%s consuming: %d actions, %d event patterns, %d rpc methods",
            self._service,
            len(self.router.calls),
            len(self.router.events),
            len(self.router.rpcs),
        )

    async def stop(self) -> None:
        """Stop consuming and close the connection; unacked messages go back to their queues."""
        for timer in self._batch_timers.values():
            timer.cancel()
        # Deliveries still gathering or in a batch are not acked: the broker redelivers them.
        self._batches.clear()
        tasks = [*self._tasks, *self._flushes]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self.connection is not None:
            await self.connection.close()

    def _context(self, session: AsyncSession) -> Context[Any]:
        return Context(session=session, settings=self.settings, outbox=self._outbox)

    async def _reply(self, message: Delivery, body: dict[str, Any] | bytes) -> None:
        if message.reply_to and self._reply_channel is not None:
            await publish(
                self._reply_channel,
                body if isinstance(body, bytes) else orjson.dumps(body),
                exchange="",
                routing_key=message.reply_to,
                properties=aiormq.spec.Basic.Properties(
                    content_type="application/json",
                    correlation_id=message.correlation_id,
                    delivery_mode=int(DeliveryMode.NOT_PERSISTENT),
                ),
            )

    def _committed(self, ctx: Context[Any]) -> None:
        if ctx.emitted and self.relay is not None:
            self.relay.wake()
        for callback in ctx.committed:
            try:
                callback()
            except Exception:
                log.exception("after-commit callback failed")

    def _call_context(self, session: AsyncSession, headers: Mapping[str, Any]) -> CallContext[Any]:
        return CallContext(
            session=session,
            settings=self.settings,
            outbox=self._outbox,
            charge_point_id=str(headers.get(HEADER_CHARGE_POINT, "")),
            message_id=str(headers.get(HEADER_MESSAGE_ID, "")),
            gateway_id=str(headers.get(HEADER_GATEWAY, "")),
            received_at=_received_at(headers),
        )

    def _refused(self, message: AbstractIncomingMessage, exchange: str, senders: Any) -> bool:
        """True (and logged) when a delivery did not come the way the topology sends it: through
        `exchange` (whose topic permissions bound who may publish which key) and, for calls, from
        a gateway or this service itself (bundle items it re-sent). Anything else was pushed
        into our queue through the default exchange, or by a user that publishes no such thing."""
        if message.exchange == exchange and (
            senders is None or allowed(message.user_id, senders, self.broker_users)
        ):
            return False
        log.warning(
            "refused a delivery to %s from broker user %r through %r (%s)",
            self._service,
            message.user_id,
            message.exchange or "the default exchange",
            message.routing_key,
        )
        REFUSED.labels(self._service).inc()
        return True

    async def _on_call(self, message: AbstractIncomingMessage) -> None:
        if self._refused(message, CALLS.name, self._call_senders):
            await message.ack()  # dropped: requeued it would come back forever
            return
        started = time.perf_counter()
        action = action_of(message.routing_key or "")
        route = self.router.calls.get(action)
        if message.headers and HEADER_BUNDLE in message.headers:
            if message.reply_to:
                await self._on_request_bundle(message, action, route, started)
            else:
                await self._on_bundle(message, action, route, started)
            return
        try:
            if route is None:
                raise InternalError(f"{self._service} has no handler for {action}")
            request = validate_payload(route.request, orjson.loads(message.body))
        except Exception as exc:
            await self._call_failed(message, action, exc, started)
            return
        if route.batch is not None and not message.reply_to:
            self._add_to_batch(route, _Pending(message, request, started))
            return
        await self._call(message, route, request, started)

    def _decode(self, message: AbstractIncomingMessage, action: str) -> list[BundleItem] | None:
        """The items of a bundle, or None after dead-lettering a malformed one."""
        gateway = str((message.headers or {}).get(HEADER_GATEWAY, ""))
        try:
            return decode_bundle(message.body, gateway)
        except BadBundle as exc:
            # Nothing to hand a handler; the dead-letter queue keeps it for a human.
            log.error("dead-lettering a malformed %s bundle from %r: %s", action, gateway, exc)
            HANDLED.labels(self._service, "call", "bad_bundle").inc()
            return None

    async def _on_bundle(
        self,
        message: AbstractIncomingMessage,
        action: str,
        route: CallRoute | None,
        started: float,
    ) -> None:
        """Every notification of a bundle as if it had come alone; ack once all are settled."""
        items = self._decode(message, action)
        if items is None:
            await message.reject(requeue=False)
            return
        bundle = _Bundle(self, message, len(items))
        alone = []
        for item in items:
            part = _BundlePart(bundle, item)
            try:
                if route is None:
                    raise InternalError(f"{self._service} has no handler for {action}")
                request = validate_payload(route.request, item.payload)
            except Exception as exc:
                await self._call_failed(part, action, exc, started)
                continue
            if route.batch is not None:
                self._add_to_batch(route, _Pending(part, request, started))
            else:
                alone.append(self._call(part, route, request, started))
        if alone:
            await asyncio.gather(*alone)

    async def _on_request_bundle(
        self,
        message: AbstractIncomingMessage,
        action: str,
        route: CallRoute | None,
        started: float,
    ) -> None:
        """Decision calls of a bundle answered from one transaction; one reply, then the ack.

        Each item is validated on its own (an invalid one gets its CALLERROR, the rest go on).
        The handlers run one after the other in a single transaction, as if the calls had come
        in that order; if any of them raises, that transaction is rolled back and every call is
        answered again from a transaction of its own, so one bad call costs the others nothing.
        """
        items = self._decode(message, action)
        if items is None:
            error = InternalError(f"{self._service} could not read a bundle of {action}")
            await self._reply(message, {"error": call_error_body(error)["error"]})
            await message.reject(requeue=False)
            return
        bodies: list[dict[str, Any]] = [{} for _ in items]
        outcomes = ["ok"] * len(items)
        valid: list[tuple[int, Mapping[str, Any], Any]] = []
        for n, item in enumerate(items):
            try:
                if route is None:
                    raise InternalError(f"{self._service} has no handler for {action}")
                valid.append((n, item.headers, validate_payload(route.request, item.payload)))
            except Exception as exc:
                bodies[n], outcomes[n] = self._error_body(action, item.headers, exc)
        if valid:
            assert route is not None
            answers = await self._decide(
                route, [(headers, request) for _, headers, request in valid]
            )
            for (n, _, _), (body, outcome) in zip(valid, answers, strict=True):
                bodies[n], outcomes[n] = body, outcome
        await self._reply(message, encode_replies(bodies))
        await message.ack()
        elapsed = time.perf_counter() - started
        for outcome in outcomes:
            HANDLED.labels(self._service, "call", outcome).inc()
            LATENCY.labels(self._service, "call").observe(elapsed)

    async def _in_groups(
        self,
        key: str,
        items: list[Any],
        handle: Callable[[list[_Queued]], Awaitable[list[Any]]],
    ) -> list[Any]:
        """Group commit: `items` queue under `key`; whoever gets one of the key's lanes (and a
        handler slot) hands every item queued by then, up to `group_max`, to `handle` (one
        transaction). An idle service handles each item at once; a busy one pays one
        transaction for many. The caller takes lane turns until all its items were taken, then
        returns their outcomes in order."""
        loop = asyncio.get_running_loop()
        entries = [_Queued(item, loop.create_future()) for item in items]
        self._queued.setdefault(key, []).extend(entries)
        lanes = self._lanes.get(key)
        if lanes is None:
            lanes = self._lanes[key] = asyncio.Semaphore(self.group_lanes)
        while not all(entry.taken for entry in entries):
            async with lanes, self.slots:
                queued = self._queued.pop(key, None)
                if not queued:
                    continue
                group = queued[: self.group_max]
                if len(queued) > len(group):
                    self._queued[key] = queued[len(group) :]
                for entry in group:
                    entry.taken = True
                try:
                    outcomes = await handle(group)
                except BaseException:
                    for entry in group:  # cancelled (the service stops): nobody is answered
                        entry.future.cancel()
                    raise
                for entry, outcome in zip(group, outcomes, strict=True):
                    if not entry.future.done():
                        entry.future.set_result(outcome)
        return list(await asyncio.gather(*(entry.future for entry in entries)))

    async def _decide(
        self, route: CallRoute, calls: list[tuple[Mapping[str, Any], Any]]
    ) -> list[tuple[dict[str, Any], str]]:
        """Answer decision calls (a message's one, or a bundle's): a reply body and outcome
        each, answered with the calls of the action queued meanwhile (`_in_groups`)."""
        return await self._in_groups(
            "call " + route.action, calls, lambda group: self._group(route, group)
        )

    async def _group(
        self, route: CallRoute, group: list[_Queued]
    ) -> list[tuple[dict[str, Any], str]]:
        """Answer decision calls from one transaction; each alone if that one fails.

        The action's group handler gets them all (set-based statements), or else its handler
        runs for one after the other, as if the calls had come in that order. They are handed
        over sorted by charge point (`by_charge_point`). A group that lost a lock conflict is
        run once more; if it fails otherwise (a refused call, a bug), nothing of it is committed
        and every call gets the answer it would have had alone. The caller holds a handler slot.
        """
        if len(group) == 1:
            return [await self._answer(route, *group[0].item)]
        GROUP_SIZE.labels(self._service, route.action).observe(len(group))
        order = by_charge_point([headers for headers, _ in (e.item for e in group)])
        items = [group[n].item for n in order]

        async def run() -> tuple[list[Any], list[Context[Any]]]:
            contexts: list[Context[Any]] = []
            async with self.sessions() as session, session.begin():
                calls = [(request, self._call_context(session, h)) for h, request in items]
                contexts += [ctx for _, ctx in calls]
                if route.group is not None:
                    shared = self._context(session)
                    contexts.append(shared)
                    responses = await route.group(calls, shared)
                    if len(responses) != len(calls):
                        raise RuntimeError(f"{route.action} answered {len(responses)} calls")
                else:
                    responses = [await route.handler(request, ctx) for request, ctx in calls]
            return responses, contexts

        try:
            responses, contexts = await self._once_more_on_conflict(route.action, run)
        except Exception as exc:
            log.info(
                "a group of %d %s failed (%s); answering each alone",
                len(group),
                route.action,
                type(exc).__name__,
            )
            HANDLED.labels(self._service, "group", "fallback").inc()
            return [await self._answer(route, *entry.item) for entry in group]
        for ctx in contexts:
            self._committed(ctx)
        answers: list[tuple[dict[str, Any], str]] = [({}, "")] * len(group)
        for n, response in zip(order, responses, strict=True):
            answers[n] = ({"payload": response.to_payload()}, "ok")
        return answers

    async def _once_more_on_conflict(self, what: str, run: Callable[[], Awaitable[T]]) -> T:
        """`run` (a transaction), and once more if Postgres aborted it for a deadlock or a
        serialization failure: the transaction it met has gone on, so the retry usually passes,
        where handling a group of 100 one by one would take the group's whole time again."""
        try:
            return await run()
        except Exception as exc:
            if not lost_a_conflict(exc):
                raise
            log.info("%s lost a lock conflict (%s); running it once more", what, exc_text(exc))
            HANDLED.labels(self._service, "group", "retried").inc()
            return await run()

    async def _answer(
        self, route: CallRoute, headers: Mapping[str, Any], request: Any
    ) -> tuple[dict[str, Any], str]:
        """A decision call in a transaction of its own (the caller holds a handler slot)."""
        try:
            async with self.sessions() as session, session.begin():
                ctx = self._call_context(session, headers)
                response = await route.handler(request, ctx)
            self._committed(ctx)
        except Exception as exc:
            return self._error_body(route.action, headers, exc)
        return {"payload": response.to_payload()}, "ok"

    def _error_body(
        self, action: str, headers: Mapping[str, Any], exc: Exception
    ) -> tuple[dict[str, Any], str]:
        """The CALLERROR reply for a call that raised: its own error, or InternalError."""
        if isinstance(exc, OcppError):
            return call_error_body(exc), "ocpp_error"
        log.error(
            "%s handler failed for %s", action, headers.get(HEADER_CHARGE_POINT), exc_info=exc
        )
        error = InternalError("The central system could not handle the call")
        return call_error_body(error), "internal_error"

    async def republish(self, routing_key: str, part: _BundlePart) -> None:
        """One item of a bundle as a message of its own, persistent and confirmed."""
        assert self.channel is not None
        await publish(
            self.channel,
            orjson.dumps(part.payload),
            exchange=CALLS.name,
            routing_key=routing_key,
            properties=aiormq.spec.Basic.Properties(
                content_type="application/json",
                delivery_mode=int(DeliveryMode.PERSISTENT),
                headers=dict(part.headers),
            ),
        )

    async def _call(
        self, message: Delivery, route: CallRoute, request: Any, started: float
    ) -> None:
        """One CALL in its own transaction, answered (if asked) and acked after the commit."""
        if message.reply_to:
            [(body, outcome)] = await self._decide(route, [(message.headers or {}, request)])
            await self._finish(message, body, outcome, started)
            return
        try:
            async with self.slots, self.sessions() as session, session.begin():
                ctx = self._call_context(session, message.headers or {})
                await route.handler(request, ctx)
            self._committed(ctx)
        except Exception as exc:
            await self._call_failed(message, route.action, exc, started)
            return
        await self._finish(message, {}, "ok", started)

    async def _call_failed(
        self, message: Delivery, action: str, exc: Exception, started: float
    ) -> None:
        if message.reply_to or isinstance(exc, OcppError):
            body, outcome = self._error_body(action, message.headers or {}, exc)
            await self._finish(message, body, outcome, started)
            return
        cp = (message.headers or {}).get(HEADER_CHARGE_POINT)
        log.error("%s handler failed for %s", action, cp, exc_info=exc)
        # A notification the CP already saw acknowledged: never drop it. Requeue; the quorum
        # queue's delivery limit dead-letters it if it keeps failing.
        HANDLED.labels(self._service, "call", "requeued").inc()
        await asyncio.sleep(0.5)
        await message.nack(requeue=True)

    async def _finish(
        self, message: Delivery, body: dict[str, Any], outcome: str, started: float
    ) -> None:
        await self._reply(message, body)
        await message.ack()
        HANDLED.labels(self._service, "call", outcome).inc()
        LATENCY.labels(self._service, "call").observe(time.perf_counter() - started)

    def _add_to_batch(self, route: CallRoute, pending: _Pending) -> None:
        items = self._batches.setdefault(route.action, [])
        items.append(pending)
        if len(items) >= self.batch_size:
            self._flush(route)
        elif len(items) == 1:
            loop = asyncio.get_running_loop()
            self._batch_timers[route.action] = loop.call_later(self.batch_wait, self._flush, route)

    def _flush(self, route: CallRoute) -> None:
        timer = self._batch_timers.pop(route.action, None)
        if timer is not None:
            timer.cancel()
        items = self._batches.pop(route.action, [])
        if items:
            task = asyncio.create_task(self._run_batch(route, items), name=f"{route.action}-batch")
            self._flushes.add(task)
            task.add_done_callback(self._flushes.discard)

    async def _run_batch(self, route: CallRoute, items: list[_Pending]) -> None:
        """Notifications of one action in one transaction, each acked after the commit.

        Handed over sorted by charge point (`by_charge_point`); a batch that lost a lock
        conflict is run once more. If it fails otherwise, every message is handled alone as if
        it had never been batched: one poison message is requeued on its own and cannot hold
        the others back.
        """
        assert route.batch is not None
        BATCH_SIZE.labels(self._service, route.action).observe(len(items))
        ordered = [items[n] for n in by_charge_point([p.message.headers or {} for p in items])]

        async def run() -> Context[Any]:
            async with self.sessions() as session, session.begin():
                ctx = self._context(session)
                calls = [
                    (p.request, self._call_context(session, p.message.headers or {}))
                    for p in ordered
                ]
                await route.batch(calls, ctx)  # type: ignore[misc]
            ctx.emitted += sum(call.emitted for _, call in calls)
            for _, call in calls:
                ctx.committed += call.committed
            return ctx

        try:
            async with self.slots:
                ctx = await self._once_more_on_conflict(route.action, run)
            self._committed(ctx)
        except Exception:
            log.exception(
                "a batch of %d %s failed; handling each message alone", len(items), route.action
            )
            HANDLED.labels(self._service, "batch", "fallback").inc()
            await asyncio.gather(
                *(self._call(p.message, route, p.request, p.started) for p in items)
            )
            return
        # One ack per delivery: other handlers' deliveries are in flight on this channel, so
        # `multiple=True` could acknowledge messages that are not committed yet.
        for p in items:
            await p.message.ack()
            HANDLED.labels(self._service, "call", "ok").inc()
            LATENCY.labels(self._service, "call").observe(time.perf_counter() - p.started)

    async def _on_event(self, message: AbstractIncomingMessage) -> None:
        if self._refused(message, EVENTS.name, None):
            await message.ack()
            return
        key = message.routing_key or ""
        found = next((route for route in self._event_routes if route[0].match(key)), None)
        if found is None:
            await message.ack()
            return
        try:
            body = orjson.loads(message.body)
        except orjson.JSONDecodeError:
            log.warning("dropping an event that is not JSON on %s", key)
            await message.reject(requeue=False)
            return
        regex, handler, together = found
        [handled] = await self._in_groups(
            "event " + regex.pattern,
            [(key, body)],
            lambda group: self._event_group(handler, together, group),
        )
        if not handled:
            HANDLED.labels(self._service, "event", "requeued").inc()
            await asyncio.sleep(0.5)
            await message.nack(requeue=True)
            return
        await message.ack()
        HANDLED.labels(self._service, "event", "ok").inc()

    async def _event_group(
        self, handler: EventHandler, together: EventGroupHandler | None, group: list[_Queued]
    ) -> list[bool]:
        """Events for one handler from one transaction, sorted by charge point
        (`by_charge_point`): all to its group handler if it has one, else one after the other.
        Once more if it lost a lock conflict, each alone if it fails otherwise. Whether each was
        handled (the caller holds a handler slot)."""
        if len(group) > 1:
            bodies = [body for _, body in (entry.item for entry in group)]
            order = by_charge_point(bodies, "chargePointId")

            async def run() -> list[Context[Any]]:
                contexts: list[Context[Any]] = []
                async with self.sessions() as session, session.begin():
                    if together is not None:
                        ctx = self._context(session)
                        contexts.append(ctx)
                        await together([bodies[n] for n in order], ctx)
                        return contexts
                    for n in order:
                        ctx = self._context(session)
                        contexts.append(ctx)
                        await handler(bodies[n], ctx)
                return contexts

            try:
                contexts = await self._once_more_on_conflict("events", run)
            except Exception as exc:
                log.info(
                    "a group of %d events failed (%s); handling each alone",
                    len(group),
                    type(exc).__name__,
                )
                HANDLED.labels(self._service, "group", "fallback").inc()
            else:
                for ctx in contexts:
                    self._committed(ctx)
                return [True] * len(group)
        handled = []
        for key, body in (entry.item for entry in group):
            try:
                async with self.sessions() as session, session.begin():
                    ctx = self._context(session)
                    await handler(body, ctx)
                self._committed(ctx)
            except Exception:
                log.exception("event handler failed for %s", key)
                handled.append(False)
            else:
                handled.append(True)
        return handled

    async def _on_rpc(self, message: AbstractIncomingMessage) -> None:
        method = message.type or ""
        handler = self.router.rpcs.get(method)
        try:
            if handler is None:
                raise RpcError("not_found", f"{self._service} has no RPC method {method!r}")
            if not allowed(message.user_id, self.router.rpc_callers[method], self.broker_users):
                raise RpcError(
                    "forbidden", f"{method} does not answer broker user {message.user_id!r}"
                )
            params = orjson.loads(message.body)
            if not isinstance(params, dict):
                raise RpcError("invalid", "params must be a JSON object")
            if (where := find_nul(params, "params")) is not None:
                # No text column can store U+0000: refuse it here, for every RPC method.
                raise RpcError("invalid", f"{where}: strings may not contain U+0000")
            async with self.rpc_slots, self.sessions() as session, session.begin():
                ctx = self._context(session)
                result = await handler(params, ctx)
            self._committed(ctx)
            body: dict[str, Any] = {"result": result}
        except RpcError as exc:
            body = {"error": {"code": exc.code, "message": exc.message}}
        except Exception as exc:
            log.exception("rpc %s failed", method)
            body = {"error": {"code": "internal", "message": type(exc).__name__}}
        await self._reply(message, body)
        await message.ack()
        HANDLED.labels(self._service, "rpc", "error" if "error" in body else "ok").inc()
