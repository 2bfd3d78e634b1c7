"""The gateway's side of the broker: its own queue, calls out, replies and commands in."""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections.abc import Callable, Mapping
from datetime import datetime

from aio_pika.abc import AbstractIncomingMessage, AbstractQueue, AbstractRobustConnection
from aio_pika.exceptions import DeliveryError

from csms_shared import tracing
from csms_shared.bus.bundle import BUNDLE_MAX
from csms_shared.bus.client import BusClient, MessageHandler, message_properties
from csms_shared.bus.owners import Owners
from csms_shared.bus.rpc import RpcClient
from csms_shared.bus.stations import station_headers
from csms_shared.bus.topology import (
    CALLS,
    COMMANDS,
    CONTROL,
    EVENTS,
    OWNERS,
    action_of,
    gateway_queue,
)
from csms_shared.contracts.envelopes import CallReply, CommandOutcome, Presence
from csms_shared.contracts.event_base import Event
from csms_shared.contracts.events import charge_point_of
from csms_shared.ocpp import JsonObject
from csms_shared.ocpp.version import OcppVersion
from csms_shared.settings import default_broker_users

from .beacon_check import BeaconCheck
from .call_messages import (
    IN_ORDER,
    call_message,
    handling_deadline,
    lane,
    read_replies,
    routing_key_of,
)
from .call_refusals import (
    BrokerAway,
    Overloaded,
    Ownerless,
    Unroutable,
    count_owner_processes,
)
from .gather import Gatherer, Waiting, settle

log = logging.getLogger(__name__)

# Channels the CP queue bindings are spread over (by CP id).
BIND_CHANNELS = 4
# Events a gateway follows: a CP's key or profile changed, so cached handshake decisions go.
GATEWAY_EVENTS = ("station.credentials_changed",)


class GatewayBus:
    """One AMQP connection; queue `gateway.<id>` carries replies, commands and control."""

    def __init__(
        self,
        url: str,
        instance_id: str,
        prefetch: int,
        bundle: bool = True,
        bundle_wait: float = 0.0,
        bundle_requests: bool = True,
        request_bundles_in_flight: int = 2,
        refuse_calls_behind: float = 0.0,
        owner_check: bool = True,
        broker_users: Mapping[str, str] | None = None,
    ) -> None:
        self.instance_id = instance_id
        # Who consumes which calls, from the owner beacons (None: not checked).
        self.owners = Owners() if owner_check else None
        users = broker_users or default_broker_users()
        self._beacons = BeaconCheck(self.owners, users) if self.owners is not None else None
        # The connection went and is not back yet: CALLs are answered at once (BrokerAway).
        self._broker_away = False
        self._closing = False
        # CALLs ready in one turn of the event loop (or within the wait) leave in one message
        # per action: notifications, and decision calls answered from one transaction.
        # Off (`bundle=False`, `bundle_requests=False`): each leaves alone, for services that
        # do not read bundles yet; the path is the same.
        self._notifications = Gatherer(
            "notification",
            self._publish_notifications,
            most=BUNDLE_MAX if bundle else 1,
            wait=bundle_wait,
        )
        self._requests = Gatherer(
            "request",
            self._publish_requests,
            most=BUNDLE_MAX if bundle_requests else 1,
            in_flight=max(1, request_bundles_in_flight) if bundle_requests else 0,
        )
        # A transaction's end, taken at once (`take`): paced like notifications, never held
        # back by answers still due (it is taken once the broker has it).
        self._takes = Gatherer(
            "take", self._publish_takes, most=BUNDLE_MAX if bundle_requests else 1, wait=bundle_wait
        )
        # Per (version, action) of a transaction's end: until when (loop time) its owner counts
        # as late, so its ends are answered apart at once (`forwarding.answer_taken`).
        self.late_ends: dict[tuple[OcppVersion, str], float] = {}
        # Decision calls of an action whose oldest unanswered call has waited this long are
        # refused at once (0: never); see `Overloaded`.
        self._refuse_behind = refuse_calls_behind
        # Queue `gateway.<id>`: replies to its calls and RPCs, and what it is bound to.
        self.client = BusClient(
            url, name=f"ws-gateway {instance_id}", prefetch=prefetch, reply_queue=self.queue_name
        )
        self.client.on_delivery = self._dispatch
        self._bind_queues: list[AbstractQueue] = []
        self.on_command: MessageHandler | None = None
        self.on_control: MessageHandler | None = None
        self.on_event: MessageHandler | None = None
        # Called when the broker connection is back after a loss.
        self.on_reconnect: Callable[[], None] | None = None
        self.rpc = RpcClient(self.client)

    @property
    def broker_away(self) -> bool:
        """The broker connection went and is not back yet."""
        return self._broker_away

    @property
    def queue_name(self) -> str:
        """The name of this gateway's queue: replies come back to it."""
        return gateway_queue(self.instance_id)

    @property
    def connection(self) -> AbstractRobustConnection | None:
        """The AMQP connection (None before `start`)."""
        return self.client.connection

    async def start(self) -> None:
        """Connect, declare the topology and this gateway's queue, and consume it."""
        await self.client.start()
        assert self.client.connection is not None and self.client.queue is not None
        self.client.connection.reconnect_callbacks.add(self._reconnected)
        self.client.connection.close_callbacks.add(self._lost)
        await self.client.queue.bind(self.client.exchanges[CONTROL.name])
        for key in GATEWAY_EVENTS:
            await self.client.queue.bind(self.client.exchanges[EVENTS.name], key)
        if self.owners is not None:
            await self.client.queue.bind(self.client.exchanges[OWNERS.name])
            self.owners.listening(asyncio.get_running_loop().time())
        # CP bindings go through a channel of their own: aiormq holds a channel's lock for a
        # synchronous method's whole round trip (queue.bind/unbind) and every publish takes the
        # same lock, so connect and disconnect storms would stall every CALL of this gateway.
        # The same exclusive queue, declared again on that channel (this connection owns it),
        # records the bindings so a reconnect restores them there too.
        # A few of them: a storm's thousands of binds wait for each other per channel. A CP's
        # binds and unbinds always take the same channel, so they stay in order.
        self._bind_queues = []
        for _ in range(BIND_CHANNELS):
            bind_channel = await self.client.connection.channel(publisher_confirms=False)
            self._bind_queues.append(
                await bind_channel.declare_queue(self.queue_name, exclusive=True, auto_delete=True)
            )

    def _lost(self, *_: object) -> None:
        """The connection went: fail every CALL waiting to leave or for its answer (its reply
        queue, exclusive, went with the connection), and those that come until it is back."""
        if self._closing:  # our own close, not a loss
            return
        self._broker_away = True
        # Decision calls already sent are not failed: the owner may still commit one, and a
        # CP re-sending it at once could race the original (they wait for their answer or the
        # call timeout, as before). Notifications out are failed: a copy changes nothing twice.
        away = BrokerAway("the broker connection went")
        failed = sum(
            gatherer.abandon(key, away)
            for gatherer in (self._notifications, self._takes)
            for key in gatherer.pending()
        )
        failed += sum(
            self._requests.abandon(key, away, sent=False) for key in self._requests.pending()
        )
        if failed:
            log.warning(
                "the broker connection went: %d waiting calls answered InternalError", failed
            )
        else:
            log.info("the broker connection went")

    def _reconnected(self, *_: object) -> None:
        self._broker_away = False
        if self.owners is not None:
            self.owners.listening(asyncio.get_running_loop().time())
        if self.on_reconnect is not None:
            self.on_reconnect()

    async def close(self) -> None:
        """Close the connection; the exclusive queue and its bindings die with it."""
        self._closing = True
        await self.client.close()

    async def _dispatch(self, message: AbstractIncomingMessage) -> None:
        # What the queue is bound to; replies went to their waiters (BusClient).
        if message.exchange == OWNERS.name:
            self._heard(message.body, message.user_id)
            return
        if message.exchange == COMMANDS.name:
            handler = self.on_command
        elif message.exchange == CONTROL.name:
            handler = self.on_control
        else:
            handler = self.on_event if message.exchange == EVENTS.name else None
        if handler is not None:
            await handler(message)

    def _heard(self, body: bytes, user_id: str | None) -> None:
        if self._beacons is None:
            return
        if self._beacons.heard(body, user_id, asyncio.get_running_loop().time()):
            # Owners change only as beacons come in (time is told by them): judge calls now.
            self.fail_ownerless()

    def fail_ownerless(self) -> int:
        """Fail the decision calls waiting for a key nobody can take now (`Ownerless`): their
        CPs are answered at once, and their bundles' in-flight places free. How many."""
        if self.owners is None:
            return 0
        now = asyncio.get_running_loop().time()
        self.owners.forget_expired()
        count_owner_processes(self.owners)
        failed = 0
        for key in self._requests.pending():
            exchange, routing_key = lane(key)
            verdict = self.owners.verdict(exchange, routing_key, now)
            if verdict is not None:
                # Only those not sent yet: a sent one may still be committed by an owner back
                # soon, and its CP's re-send must not race it (it waits for its answer or the
                # call timeout, as before).
                failed += self._requests.abandon(
                    key, Ownerless(action_of(routing_key), verdict), sent=False
                )
        if failed:
            log.warning("failed %d waiting calls: their owners are gone or not ready", failed)
        return failed

    async def notify(
        self,
        cp_id: str,
        message_id: str,
        action: str,
        payload: JsonObject,
        received: datetime,
        version: OcppVersion,
    ) -> None:
        """Publish a notification; returns once the broker has confirmed it (raises Unroutable,
        BrokerAway). Gathered with the notifications of the same action and version (one
        routing key)."""
        if self._broker_away:
            raise BrokerAway("the broker connection is down")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        tp = tracing.traceparent()
        self._notifications.add(
            routing_key_of(action, version),
            Waiting(cp_id, message_id, received.isoformat(), payload, future, traceparent=tp),
        )
        await future

    async def _publish_notifications(self, routing_key: str, waiting: list[Waiting]) -> None:
        """One confirmed message for the notifications; settle each CP's wait."""
        body, properties = call_message(self.instance_id, waiting)
        try:
            await self.client.publish(CALLS.name, routing_key, body, properties)
        except asyncio.CancelledError:
            for item in waiting:
                item.future.cancel()
            raise
        except Exception as exc:
            unroutable = isinstance(exc, DeliveryError)
            settle(waiting, Unroutable(action_of(routing_key)) if unroutable else exc)
            return
        settle(waiting, [None] * len(waiting))

    async def take(
        self,
        cp_id: str,
        message_id: str,
        action: str,
        payload: JsonObject,
        received: datetime,
        timeout: float,
        version: OcppVersion,
    ) -> asyncio.Future[CallReply]:
        """Publish a transaction's end persistently on `ocpp.calls`, behind its station's bulk
        data, with no deadline (its owner handles it however late); returns once the broker
        has confirmed it, with the future of the owner's answer (raises Unroutable,
        BrokerAway). It is taken: nothing acknowledged is lost, and its answer may come from
        elsewhere (`forwarding.answer_taken`). Gathered with the ends of the same action and
        version; not refused when its owner is behind or gone (it waits in its queue)."""
        if self._broker_away:
            raise BrokerAway("the broker connection is down")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[asyncio.Future[CallReply]] = loop.create_future()
        tp = tracing.traceparent()
        self._takes.add(
            IN_ORDER + routing_key_of(action, version),
            Waiting(cp_id, message_id, received.isoformat(), payload, future, timeout, 0, tp, 0.0),
        )
        try:
            return await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                future.result().cancel()  # taken as its CP went: nobody will read the answer
            raise

    async def _publish_takes(self, key: str, waiting: list[Waiting]) -> None:
        """One persistent message for the ends, without a deadline: each CP's wait settles on
        the broker's confirm with the future of its answer, which settles on the reply."""
        exchange, routing_key = lane(key)
        action = action_of(routing_key)
        loop = asyncio.get_running_loop()
        answers: list[asyncio.Future[CallReply]] = [loop.create_future() for _ in waiting]
        body, properties = call_message(self.instance_id, waiting, taken=True)
        results: list[CallReply] | BaseException
        taken = False

        def published() -> None:
            nonlocal taken
            taken = True
            gone = [item.future.done() for item in waiting]  # their CPs stopped waiting
            settle(waiting, answers)
            for answer, went in zip(answers, gone, strict=True):
                if went:
                    answer.cancel()  # nobody will read it

        try:
            reply = await self.client.request(
                exchange,
                routing_key,
                body,
                properties,
                max(item.timeout for item in waiting),
                expires=False,
                on_published=published,
            )
            results = read_replies(action, reply, len(waiting))
        except asyncio.CancelledError:
            for item in waiting:
                item.future.cancel()
            for answer in answers:
                answer.cancel()
            raise
        except DeliveryError:
            results = Unroutable(action)
        except Exception as exc:
            results = exc
        if not taken:
            settle(waiting, results)
            return
        for n, answer in enumerate(answers):
            if answer.done():  # its CP was answered otherwise and stopped waiting
                continue
            if isinstance(results, BaseException):
                answer.set_exception(results)
            else:
                answer.set_result(results[n])

    async def request(
        self,
        cp_id: str,
        message_id: str,
        action: str,
        payload: JsonObject,
        received: datetime,
        timeout: float,
        version: OcppVersion,
    ) -> CallReply:
        """Publish a decision call on `ocpp.decisions`, await the owner's reply (raises
        Unroutable, TimeoutError, Overloaded, Ownerless, BrokerAway). Gathered with the calls
        of the same action and version (one routing key). A transaction's end is not one: it
        is taken (`take`)."""
        now = asyncio.get_running_loop().time()
        routing_key = routing_key_of(action, version)
        if self._broker_away:
            raise BrokerAway("the broker connection is down")
        if self.owners is not None:
            exchange, key = lane(routing_key)
            verdict = self.owners.verdict(exchange, key, now)
            if verdict is not None:
                raise Ownerless(action, verdict)
        if self._refuse_behind:
            behind = self._requests.behind(routing_key, now)
            if behind >= self._refuse_behind:
                raise Overloaded(action, behind)
        future: asyncio.Future[CallReply] = asyncio.get_running_loop().create_future()
        deadline = handling_deadline(timeout)
        tp = tracing.traceparent()
        self._requests.add(
            routing_key,
            Waiting(
                cp_id, message_id, received.isoformat(), payload, future, timeout, deadline, tp, now
            ),
        )
        # The whole wait, queued behind busy bundles included, is bounded by `timeout`; a call
        # that expired while queued is not sent (see Gatherer._flush).
        return await asyncio.wait_for(future, timeout)

    async def _publish_requests(self, key: str, waiting: list[Waiting]) -> None:
        """One message for the decision calls; each gets its own answer."""
        exchange, routing_key = lane(key)
        action = action_of(routing_key)
        timeout = max(item.timeout for item in waiting)
        deadline = min(item.deadline for item in waiting)
        body, properties = call_message(self.instance_id, waiting, deadline)
        results: list[CallReply] | BaseException
        try:
            reply = await self.client.request(
                exchange, routing_key, body, properties, timeout, expires=False
            )
            results = read_replies(action, reply, len(waiting))
        except asyncio.CancelledError:
            for item in waiting:
                item.future.cancel()
            raise
        except DeliveryError:
            results = Unroutable(action)
        except Exception as exc:
            results = exc
        settle(waiting, results)

    async def reply(
        self, reply_to: str, correlation_id: str | None, outcome: CommandOutcome
    ) -> None:
        """Answer whoever sent a command."""
        await self.client.reply(reply_to, correlation_id, outcome.encode())

    def _bind_queue_of(self, cp_id: str) -> AbstractQueue:
        assert self._bind_queues, "start the bus first"
        return self._bind_queues[zlib.crc32(cp_id.encode()) % len(self._bind_queues)]

    async def bind_charge_point(self, cp_id: str) -> None:
        """Receive the commands for this CP."""
        await self._bind_queue_of(cp_id).bind(COMMANDS.name, routing_key=cp_id)

    async def unbind_charge_point(self, cp_id: str) -> None:
        """Stop receiving the commands for this CP."""
        await self._bind_queue_of(cp_id).unbind(COMMANDS.name, routing_key=cp_id)

    async def publish_event(self, event: Event) -> None:
        """A fact on `ocpp.events` (persistent, confirmed; unroutable raises), routed by its
        station's key too (bus/stations.py)."""
        key = event.key()
        headers = station_headers(key, charge_point_of(event))
        properties = message_properties(persistent=True, headers=headers)
        await self.client.publish(EVENTS.name, key, event.encode(), properties)

    async def publish_control(self, presence: Presence) -> None:
        """Tell every gateway (takeover)."""
        await self.client.publish(CONTROL.name, "", presence.encode(), message_properties())
