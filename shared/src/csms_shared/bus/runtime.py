"""The consumer runtime: declares a service's queues and runs each delivery through the pipeline.

A CALL delivery goes through one module per step: `delivery` (decode), `validate`, `coalesce`
(group commit), `handle` in a `unit_of_work` (session, commit, after-commit, retry of a lost
lock conflict), `reply`, `ack`. Events and RPCs take the same unit of work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Collection
from functools import partial
from typing import Any, get_args

from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractRobustConnection,
)
from aiormq.exceptions import AMQPError, ChannelInvalidStateError
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..contracts.envelopes import RpcReply
from ..contracts.events import EVENTS as EVENT_MODELS
from ..contracts.events import InvalidEvent, read_event
from ..ocpp.errors import InternalError
from ..settings import Lane, default_broker_users
from ..stopping import cancel_and_wait
from .access import COMMAND_API, GATEWAY, ROLES
from .ack import acknowledge, requeue_later
from .arrivals import Arrival, Arrivals, Earlier
from .bundle import BundleItem
from .client import BusClient
from .coalesce import BULK_GROUP_MAX, GROUP_LANES, GROUP_LINGER, GROUP_MAX, Coalescer
from .connection import connect
from .delivery import Delivery, Unreadable, decode_calls, is_bundle, refused
from .fast_envelopes import FastCallReply
from .follow import event_routes, follow_events, route_of
from .handle import handle_calls
from .metrics import HANDLED
from .outbox import OutboxRelay
from .owners import BeaconSender, ReadyCheck, beacon_publisher
from .reply import ChannelOutbound, Outbound, error_outcome, send_reply
from .router import Router
from .rpc import RpcClient
from .rpc_answer import answer_rpc
from .slots import Slots, breathe
from .stations import StationBindings, bind_events
from .topology import (
    CALLS,
    DECISIONS,
    EVENTS,
    HEADER_CHARGE_POINT,
    HEADER_GATEWAY,
    OWNERS,
    action_of,
    declare_exchanges,
    declare_rpc_queue,
    declare_service_queue,
    service_queue,
)
from .unit_of_work import UnitOfWork, decision_reserve, handler_slots, rpc_lane
from .validate import Call, validate_call

log = logging.getLogger(__name__)

# The queues of a service, each `<service>.<lane>`; a process consumes all or some of them.
LANES: tuple[str, ...] = get_args(Lane)  # the names `<PREFIX>CONSUME` accepts


def _station(call: BundleItem | Call) -> str:
    return str(call.headers.get(HEADER_CHARGE_POINT, ""))


class ServiceRuntime:
    """Runs a Router: declares its queues, consumes them, owns the DB session per group."""

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
        group_max: int = GROUP_MAX,
        bulk_group_max: int = BULK_GROUP_MAX,
        group_lanes: int = GROUP_LANES,
        group_shards: int = 1,
        group_linger: float = GROUP_LINGER,
        outbound: Outbound | None = None,
        rpc_client: bool = False,
        consume: Collection[str] = (),
        ready: ReadyCheck | None = None,
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
        # The queues this process consumes (`calls`, `decisions`, `events`, `rpc`; empty: all):
        # it declares and binds every one, so a lane another process consumes stays routable.
        self._consume = frozenset(consume) or frozenset(LANES)
        # command-api replays dead-lettered calls (command_api/dead_letters.py).
        self._call_senders = frozenset({GATEWAY, COMMAND_API, self._service} & set(ROLES))
        self._event_routes = event_routes(router)
        self.connection: AbstractRobustConnection | None = None
        self.channel: AbstractChannel | None = None
        self.exchanges: dict[str, AbstractExchange] = {}
        self.relay: OutboxRelay | None = None
        # Set at start when the router follows patterns per station (bus/stations.py).
        self.stations: StationBindings | None = None
        # Set at start (on the service's channels) unless given (a test's recorder).
        self.outbound = outbound
        # A service that asks other services' RPC methods: its client (its own connection and
        # reply queue), started with the runtime and handed to every handler's context.
        self._rpc_client = rpc_client
        self.rpc_bus: BusClient | None = None
        # The lanes of OCPP calls it consumes, told to the gateways each second with whether
        # `ready` (its database) answers (bus/owners.py): a call nobody can take fails fast.
        self._ready = ready
        self.beacons: BeaconSender | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._beacon_task: asyncio.Task[None] | None = None
        # Up to `prefetch` deliveries are in memory; only this many run a DB transaction at
        # once, so the rest wait here (and in the broker), never on the pool's timeout.
        slots = handler_slots(sessions, concurrency)
        lane = rpc_lane(slots)
        # Decisions first: calls a CP waits on for a decision (`ocpp.decisions`) come in on a
        # queue, channel and prefetch of their own, and take a free slot before bulk work
        # (notifications, events) does, one slot being theirs alone (bus/slots.py): a backlog
        # of MeterValues or TransactionEvent Updated in the broker or in this process never
        # delays them.
        self.work = Slots(slots - lane, reserve=decision_reserve(slots - lane))
        self.slots = self.work.rest
        self.decision_slots = self.work.first
        self.rpc_slots = asyncio.Semaphore(lane) if lane else self.work.rest
        self.decision_channel: AbstractChannel | None = None
        self.uow = UnitOfWork(sessions, settings=settings, outbox=outbox, on_emitted=self._wake)
        # Calls of one action, events of one pattern: handled in groups (group commit). On the
        # bulk lane an action's groups may be split by station (`group_shards`,
        # coalesce.shard_of): they then no longer wait for each other's locks, and a backlog is
        # stored faster, but the event loop is busier (bench/RESULTS.md, "Bulk groups sharded
        # by station, as an option").
        self.coalescer: Coalescer[Any, Any] = Coalescer(
            self.slots,
            lanes=group_lanes,
            limit=bulk_group_max,
            shards=group_shards,
        )
        self.decisions: Coalescer[Any, Any] = Coalescer(
            self.decision_slots, lanes=group_lanes, limit=group_max
        )
        # The bulk lane's notifications not yet handled: a transaction's end waits for those
        # that came before it (bus/arrivals.py).
        self.arrivals = Arrivals()
        # Notifications (nobody waits on their reply) let their group fill for this long.
        self.group_linger = group_linger
        # Events of one pattern take one lane: a CP's events are applied in the order they
        # were published (a later group waits for the one before it), never side by side.
        self.followers: Coalescer[Any, Any] = Coalescer(self.slots, lanes=1, limit=group_max)

    @property
    def queues(self) -> tuple[str, ...]:
        """The queues this service consumes: `<service>.calls`, `.decisions`, `.events`, `.rpc`
        (those its router has handlers for)."""
        purposes = (
            ("calls", self.router.calls),
            ("decisions", self.router.calls),
            ("events", self.router.events),
            ("rpc", self.router.rpcs),
        )
        return tuple(service_queue(self._service, p) for p, handlers in purposes if handlers)

    async def _widen_stations(self, *_: object) -> None:
        """Reconnected: every station's events again until the service binds its stations
        (bus/stations.py); a queue declared anew has none of their bindings."""
        if self.stations is not None:
            try:
                await self.stations.widen()
            except Exception:
                log.exception("binding the per-station patterns again failed")

    def _wake(self) -> None:
        if self.relay is not None:
            self.relay.wake()

    async def start(self) -> None:
        """Connect, declare the topology and this service's queues, start consuming."""
        self.connection = await connect(self._broker_url, name=self._service)
        self.channel = await self.connection.channel(publisher_confirms=True)
        await self.channel.set_qos(prefetch_count=self._prefetch)
        self.exchanges = await declare_exchanges(self.channel)
        if self.outbound is None:
            reply_channel = await self.connection.channel(publisher_confirms=False)
            self.outbound = ChannelOutbound(self.channel, reply_channel)
        if self._rpc_client:
            self.rpc_bus = BusClient(self._broker_url, name=f"{self._service}-rpc-client")
            await self.rpc_bus.start()
            self.uow.rpc = RpcClient(self.rpc_bus)
        if self._outbox is not None:
            self.relay = OutboxRelay(self.sessions, self._outbox, self.channel, EVENTS.name)
            self._tasks.append(asyncio.create_task(self.relay.run(), name="outbox-relay"))
        if self.router.calls:
            queue = await declare_service_queue(self.channel, service_queue(self._service, "calls"))
            for routing_key in self.router.calls:  # `v16.<Action>`, `v201.<Action>`
                await queue.bind(self.exchanges[CALLS.name], routing_key)
            if "calls" in self._consume:
                await queue.consume(self.on_call)
            self.decision_channel = await self.connection.channel(publisher_confirms=False)
            await self.decision_channel.set_qos(prefetch_count=self._prefetch)
            queue = await declare_service_queue(
                self.decision_channel, service_queue(self._service, "decisions")
            )
            for routing_key in self.router.calls:
                await queue.bind(DECISIONS.name, routing_key)
            if "decisions" in self._consume:
                await queue.consume(self.on_decision)
        if self.router.events:
            queue = await declare_service_queue(
                self.channel, service_queue(self._service, "events")
            )
            # The per-station patterns too: every station's until the service has bound those
            # it follows and narrows them (bus/stations.py).
            await bind_events(
                queue, self.exchanges[EVENTS.name], self.router.events, self.router.event_actions
            )
            if self.router.station_events:
                self.stations = StationBindings(
                    queue,
                    self.exchanges[EVENTS.name],
                    sorted(self.router.station_events),
                    known=EVENT_MODELS,
                )
                self.uow.stations = self.stations
                self.connection.reconnect_callbacks.add(self._widen_stations)
            if "events" in self._consume:
                await queue.consume(self.on_event)
        if self.router.rpcs:
            queue = await declare_rpc_queue(
                self.connection, self.channel, service_queue(self._service, "rpc")
            )
            if "rpc" in self._consume:
                await queue.consume(self.on_rpc)
        if self.router.calls:
            await self._start_beacons()
        log.info(
            "%s consuming: %d actions, %d event patterns, %d rpc methods; queues %s",
            self._service,
            len(self.router.calls),
            len(self.router.events),
            len(self.router.rpcs),
            ", ".join(sorted(self._consume)),
        )

    async def _start_beacons(self) -> None:
        assert self.connection is not None
        lanes = {
            exchange: self.router.calls.keys()
            for lane, exchange in (("calls", CALLS.name), ("decisions", DECISIONS.name))
            if lane in self._consume
        }
        if not lanes:
            return
        publish = await beacon_publisher(self.connection, OWNERS.name)
        self.beacons = BeaconSender(self._service, lanes, publish, self._ready)
        # The first one before `start` returns (and so before the process says it is ready):
        # a gateway that saw this service's previous process leave takes its calls again.
        await self.beacons.tell()
        self._beacon_task = asyncio.create_task(self.beacons.run(), name="owner-beacons")

    async def leave(self) -> None:
        """The first step of a stop: the last owner beacon, `leaving`, after the beacon loop
        (nothing says "alive" after it). The gateways answer this process's keys at once from
        now on if nobody else owns them, whatever the rest of the stop takes. Once."""
        if self._beacon_task is not None:
            await cancel_and_wait([self._beacon_task])
            self._beacon_task = None
            if self.beacons is not None:
                await self.beacons.leave()

    async def stop(self) -> None:
        """Stop consuming and close the connection; unacked messages go back to their queues."""
        await self.leave()
        await cancel_and_wait(self._tasks)
        if self.connection is not None:
            await self.connection.close()
        if self.rpc_bus is not None:
            await self.rpc_bus.close()

    async def _reply(self, message: Delivery, reply: FastCallReply | RpcReply) -> None:
        if message.reply_to and self.outbound is not None:
            await self.outbound.reply(message.reply_to, message.correlation_id, reply.encode())

    def _refused(self, message: Delivery, exchange: str, senders: frozenset[str] | None) -> bool:
        return refused(message, exchange, senders, self.broker_users, self._service)

    async def on_decision(self, message: Delivery) -> None:
        """A CALL delivery on the decisions' lane: as `on_call`, on the lane's own slots."""
        await self.on_call(message, lane=DECISIONS.name)

    async def on_call(self, message: Delivery, *, lane: str = CALLS.name) -> None:
        """A CALL delivery (one call, or a bundle of one action's calls) through the pipeline:
        decode, validate, coalesce, handle in a unit of work, reply, ack. `lane` is the
        exchange it must have come through: `ocpp.calls` (bulk) or `ocpp.decisions`.
        On `ocpp.calls` a call someone waits on (a transaction's end) is handled after its
        stations' notifications delivered before it (bus/arrivals.py)."""
        if self._refused(message, lane, self._call_senders):
            await message.ack()  # dropped: requeued it would come back forever
            return
        started = time.perf_counter()
        routing_key = message.routing_key or ""
        try:
            items = decode_calls(message)
        except Unreadable as exc:
            await self._dead_letter(message, action_of(routing_key), exc)
            return
        if lane == DECISIONS.name:
            await self._handle(message, lane, items, started)
            return
        # Before any await, so in delivery order: a call waited on takes its stations'
        # notifications open now; a notification is open until handled.
        stations = {_station(item) for item in items}
        if message.reply_to:
            earlier = self.arrivals.so_far(stations)
            await self._handle(message, lane, items, started, earlier=earlier)
        else:
            with self.arrivals.arrive(stations) as arrival:
                await self._handle(message, lane, items, started, arrival=arrival)

    async def _handle(
        self,
        message: Delivery,
        lane: str,
        items: list[BundleItem],
        started: float,
        *,
        arrival: Arrival | None = None,
        earlier: Earlier | None = None,
    ) -> None:
        routing_key = message.routing_key or ""
        action = action_of(routing_key)
        route = self.router.calls.get(routing_key)
        checked = []
        for n, item in enumerate(items):  # a bundle: up to 100 validations
            checked.append(validate_call(route, self._service, item))
            await breathe(n)
        valid = [call for call in checked if isinstance(call, Call)]
        if earlier:
            with self.coalescer.hurried():  # an earlier notification does not linger meanwhile
                await earlier.handled()
        # A call someone waits on (a transaction's end behind its stations' data, which it
        # waited for above; a decision an older gateway sent on this lane) is a decision from
        # here on: on the decisions' slots, not behind the bulk queued since, in groups of its
        # own ("after"), not in the way of the decisions' lane's (ends take the longer path).
        waited_on = lane != DECISIONS.name and bool(message.reply_to)
        bulk = lane != DECISIONS.name and not waited_on
        handled = iter(
            await (self.coalescer if bulk else self.decisions).submit(
                ("after " if waited_on else "call ") + routing_key,
                valid,
                partial(handle_calls, self.uow, route),
                linger=0.0 if message.reply_to else self.group_linger,
                station=_station if bulk else None,
            )
            if valid and route is not None
            else []
        )
        if arrival is not None:
            arrival.handled()  # stored: a later transaction's end need not wait for the reply
        outcomes = [
            next(handled) if isinstance(call, Call) else error_outcome(action, item.headers, call)
            for call, item in zip(checked, items, strict=True)
        ]
        assert self.outbound is not None
        try:
            await send_reply(self.outbound, message, outcomes)
        except (AMQPError, ChannelInvalidStateError, ConnectionError) as exc:
            # The reply channel is down or not yet restored (a broker node failed over) while
            # this delivery came on a channel already restored: unsettled, it would stay
            # unacked as long as that channel lives. Requeued, it is answered again from what
            # was committed (handlers are idempotent; a decision call past its deadline is
            # dropped). After REQUEUE_DELAY, as every requeue: at once, it came straight back
            # while the reply channel was still down, and its queue's delivery limit
            # dead-lettered it within moments of a broker restart (chaos, stop 56).
            log.warning("%s: reply not sent (%s); the delivery is requeued", action, exc)
            with contextlib.suppress(AMQPError, ChannelInvalidStateError, ConnectionError):
                await requeue_later(message)
            return
        await acknowledge(self.outbound, message, items, outcomes, started)

    async def _dead_letter(self, message: Delivery, action: str, exc: Unreadable) -> None:
        """Nothing to hand a handler: the dead-letter queue keeps the delivery for a human."""
        gateway = str((message.headers or {}).get(HEADER_GATEWAY, ""))
        log.error("dead-lettering an unreadable %s delivery from %r: %s", action, gateway, exc)
        HANDLED.labels("call", "bad_bundle" if is_bundle(message) else "unreadable").inc()
        error = InternalError(f"{self._service} could not read a delivery of {action}")
        await self._reply(message, FastCallReply.refusal(error))
        await message.reject(requeue=False)

    async def on_event(self, message: AbstractIncomingMessage) -> None:
        """An event delivery: followed by its pattern's handler in a unit of work, in publishing
        order with the pattern's other events, then acked (requeued when it failed)."""
        if self._refused(message, EVENTS.name, None):
            await message.ack()
            return
        key = message.routing_key or ""
        found = route_of(self._event_routes, key)
        if found is None:
            await message.ack()
            return
        try:
            body = read_event(key, message.body)
        except InvalidEvent as exc:
            log.warning("dead-lettering an invalid event on %s: %s", key, exc)
            HANDLED.labels("event", "invalid").inc()
            await message.reject(requeue=False)
            return
        [handled] = await self.followers.submit(
            "event " + found.pattern,
            [(key, body)],
            partial(follow_events, self.uow, found.pattern, found.handler, found.together),
        )
        if not handled:
            HANDLED.labels("event", "requeued").inc()
            await requeue_later(message)
            return
        await message.ack()
        HANDLED.labels("event", "ok").inc()

    async def on_rpc(self, message: AbstractIncomingMessage) -> None:
        """An RPC delivery: its method run in a unit of work on the RPC lane, the result or the
        error replied to its caller, then acked."""
        reply = await answer_rpc(self.router, self.uow, self.rpc_slots, self.broker_users, message)
        await self._reply(message, reply)
        await message.ack()
        HANDLED.labels("rpc", "ok" if reply.error is None else "error").inc()
