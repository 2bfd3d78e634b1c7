"""The gateway's side of the broker: its own queue, calls out, replies and commands in."""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import aiormq
import orjson
from aio_pika import DeliveryMode
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)
from aio_pika.exceptions import DeliveryError

from csms_shared.bus.bundle import BadBundle, encode_bundle, reply_items
from csms_shared.bus.connection import connect
from csms_shared.bus.publish import publish
from csms_shared.bus.replies import ReplyWaiter
from csms_shared.bus.rpc import RpcClient
from csms_shared.bus.topology import (
    CALLS,
    COMMANDS,
    CONTROL,
    EVENTS,
    HEADER_BUNDLE,
    HEADER_CHARGE_POINT,
    HEADER_GATEWAY,
    HEADER_MESSAGE_ID,
    HEADER_RECEIVED_AT,
    call_routing_key,
    declare_exchanges,
    gateway_queue,
)

from .gather import Gatherer, Waiting, settle

log = logging.getLogger(__name__)

MessageHandler = Callable[[AbstractIncomingMessage], Awaitable[None]]

PERSISTENT = int(DeliveryMode.PERSISTENT)
# Channels the CP queue bindings are spread over (by CP id).
BIND_CHANNELS = 4
# Routing keys of the CALLs seen so far (`v16.<Action>`), built once per action.
_ROUTING_KEYS: dict[str, str] = {}

# Events a gateway follows: a CP's key or profile changed, so cached handshake decisions go.
GATEWAY_EVENTS = ("station.credentials_changed",)


class Unroutable(Exception):
    """The broker returned the message: nobody owns that routing key."""


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
    ) -> None:
        self._url = url
        self.instance_id = instance_id
        self._prefetch = prefetch
        # CALLs ready in one turn of the event loop (or within the wait) leave in one message
        # per action: notifications, and decision calls answered from one transaction.
        self._bundle = bundle
        self._notifications = Gatherer("notification", self._publish_bundle, bundle_wait)
        self._bundle_requests = bundle_requests
        self._requests = Gatherer(
            "request", self._publish_requests, in_flight=max(1, request_bundles_in_flight)
        )
        self.waiter = ReplyWaiter()
        self.connection: AbstractRobustConnection | None = None
        self._channel: AbstractChannel | None = None
        self._queue: AbstractQueue | None = None
        self._bind_queues: list[AbstractQueue] = []
        self._exchanges: dict[str, AbstractExchange] = {}
        self.on_command: MessageHandler | None = None
        self.on_control: MessageHandler | None = None
        self.on_event: MessageHandler | None = None
        # Called when the broker connection is back after a loss.
        self.on_reconnect: Callable[[], None] | None = None
        self.rpc: RpcClient | None = None

    @property
    def queue_name(self) -> str:
        """The name of this gateway's queue: replies come back to it."""
        return gateway_queue(self.instance_id)

    async def start(self) -> None:
        """Connect, declare the topology and this gateway's queue, and consume it."""
        self.connection = await connect(self._url, name=f"ws-gateway {self.instance_id}")
        self.connection.reconnect_callbacks.add(self._reconnected)
        # on_return_raises: a mandatory publish nobody can route raises DeliveryError.
        self._channel = await self.connection.channel(
            publisher_confirms=True, on_return_raises=True
        )
        await self._channel.set_qos(prefetch_count=self._prefetch)
        self._exchanges = await declare_exchanges(self._channel)
        self._queue = await self._channel.declare_queue(
            self.queue_name, exclusive=True, auto_delete=True
        )
        await self._queue.bind(self._exchanges[CONTROL.name])
        for key in GATEWAY_EVENTS:
            await self._queue.bind(self._exchanges[EVENTS.name], key)
        await self._queue.consume(self._dispatch, no_ack=True)
        # CP bindings go through a channel of their own: aiormq holds a channel's lock for a
        # synchronous method's whole round trip (queue.bind/unbind) and every publish takes the
        # same lock, so connect and disconnect storms would stall every CALL of this gateway.
        # The same exclusive queue, declared again on that channel (this connection owns it),
        # records the bindings so a reconnect restores them there too.
        # A few of them: a storm's thousands of binds wait for each other per channel. A CP's
        # binds and unbinds always take the same channel, so they stay in order.
        self._bind_queues = []
        for _ in range(BIND_CHANNELS):
            bind_channel = await self.connection.channel(publisher_confirms=False)
            self._bind_queues.append(
                await bind_channel.declare_queue(self.queue_name, exclusive=True, auto_delete=True)
            )
        self.rpc = RpcClient(self._channel)
        await self.rpc.start()

    def _reconnected(self, *_: object) -> None:
        if self.on_reconnect is not None:
            self.on_reconnect()

    async def close(self) -> None:
        """Close the connection; the exclusive queue and its bindings die with it."""
        if self.connection is not None:
            await self.connection.close()

    async def _dispatch(self, message: AbstractIncomingMessage) -> None:
        try:
            if message.exchange == COMMANDS.name:
                if self.on_command is not None:
                    await self.on_command(message)
            elif message.exchange == CONTROL.name:
                if self.on_control is not None:
                    await self.on_control(message)
            elif message.exchange == EVENTS.name:
                if self.on_event is not None:
                    await self.on_event(message)
            elif not self.waiter.resolve(message.correlation_id, orjson.loads(message.body)):
                log.debug("dropped a late reply %s", message.correlation_id)
        except Exception:
            log.exception("failed to dispatch a message from %s", message.exchange or "reply")

    def _call_properties(
        self, cp_id: str, message_id: str, received: str
    ) -> aiormq.spec.Basic.Properties:
        # The headers the services read (csms_shared.bus.runtime): CP, OCPP message id, gateway,
        # receive time. The action is the routing key's; no AMQP timestamp (nobody reads it).
        return aiormq.spec.Basic.Properties(
            content_type="application/json",
            delivery_mode=PERSISTENT,
            headers={
                HEADER_CHARGE_POINT: cp_id,
                HEADER_MESSAGE_ID: message_id,
                HEADER_GATEWAY: self.instance_id,
                HEADER_RECEIVED_AT: received,
            },
        )

    async def _publish_call(
        self, action: str, body: bytes, properties: aiormq.spec.Basic.Properties
    ) -> None:
        # Straight to aiormq: an aio-pika Message would be built, checked and turned into these
        # same properties on every CALL. Confirmed; a return raises PublishError (DeliveryError).
        assert self._channel is not None
        routing_key = _ROUTING_KEYS.get(action)
        if routing_key is None:
            routing_key = _ROUTING_KEYS.setdefault(action, call_routing_key(action))
        try:
            await publish(
                self._channel,
                body,
                exchange=CALLS.name,
                routing_key=routing_key,
                properties=properties,
                mandatory=True,
            )
        except DeliveryError:
            raise Unroutable(action) from None

    async def notify(
        self, cp_id: str, message_id: str, action: str, payload: dict[str, Any], received: datetime
    ) -> None:
        """Publish a notification; returns once the broker has confirmed it (raises Unroutable)."""
        if not self._bundle:
            properties = self._call_properties(cp_id, message_id, received.isoformat())
            await self._publish_call(action, orjson.dumps(payload), properties)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._notifications.add(
            action, (cp_id, message_id, received.isoformat(), payload, future, 0)
        )
        await future

    def _bundle_properties(self, count: int) -> aiormq.spec.Basic.Properties:
        return aiormq.spec.Basic.Properties(
            content_type="application/json",
            delivery_mode=PERSISTENT,
            headers={HEADER_GATEWAY: self.instance_id, HEADER_BUNDLE: count},
        )

    async def _publish_bundle(self, action: str, waiting: list[Waiting]) -> None:
        """One message for all of them (a lone one as a plain message); settle each CP's wait."""
        try:
            if len(waiting) == 1:
                cp_id, message_id, received, payload, *_ = waiting[0]
                properties = self._call_properties(cp_id, message_id, received)
                await self._publish_call(action, orjson.dumps(payload), properties)
            else:
                body = encode_bundle([(c, m, r, p) for c, m, r, p, *_ in waiting])
                await self._publish_call(action, body, self._bundle_properties(len(waiting)))
        except asyncio.CancelledError:
            for *_, future, _timeout in waiting:
                future.cancel()
            raise
        except Exception as exc:
            settle(waiting, exc)
            return
        settle(waiting, [None] * len(waiting))

    async def request(
        self,
        cp_id: str,
        message_id: str,
        action: str,
        payload: dict[str, Any],
        received: datetime,
        timeout: float,
    ) -> dict[str, Any]:
        """Publish a decision call, await the owner's reply (raises Unroutable, TimeoutError)."""
        if not self._bundle_requests:
            return await self._request(
                action,
                orjson.dumps(payload),
                self._call_properties(cp_id, message_id, received.isoformat()),
                timeout,
            )
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._requests.add(
            action, (cp_id, message_id, received.isoformat(), payload, future, timeout)
        )
        # The whole wait, queued behind busy bundles included, is bounded by `timeout`; a call
        # that expired while queued is not sent (see _Gatherer._flush).
        return await asyncio.wait_for(future, timeout)

    async def _request(
        self,
        action: str,
        body: bytes,
        properties: aiormq.spec.Basic.Properties,
        timeout: float,
    ) -> Any:
        """Publish one message of decision calls and await its reply."""
        correlation_id = self.waiter.new_id()
        properties.correlation_id = correlation_id
        properties.reply_to = self.queue_name
        # Milliseconds, as aio-pika encodes `expiration`: a call nobody took in time is dropped.
        properties.expiration = str(int(timeout * 1000))
        future = self.waiter.expect(correlation_id)
        try:
            await self._publish_call(action, body, properties)
        except BaseException:
            self.waiter.forget(correlation_id)
            raise
        return await self.waiter.wait(correlation_id, future, timeout)

    async def _publish_requests(self, action: str, waiting: list[Waiting]) -> None:
        """One message for all of them (a lone one as a plain call); each gets its own answer."""
        timeout = max(item[5] for item in waiting)
        results: list[Any] | BaseException
        try:
            if len(waiting) == 1:
                cp_id, message_id, received, payload, *_ = waiting[0]
                properties = self._call_properties(cp_id, message_id, received)
                body = orjson.dumps(payload)
                results = [await self._request(action, body, properties, timeout)]
            else:
                body = encode_bundle([(c, m, r, p) for c, m, r, p, *_ in waiting])
                properties = self._bundle_properties(len(waiting))
                reply = await self._request(action, body, properties, timeout)
                # A reply without items refuses the whole bundle: each call gets its error.
                results = (
                    [reply] * len(waiting)
                    if isinstance(reply, dict) and "error" in reply
                    else reply_items(reply, len(waiting))
                )
        except asyncio.CancelledError:
            for *_, future, _timeout in waiting:
                future.cancel()
            raise
        except BadBundle as exc:
            log.error(
                "the answer to a bundle of %d %s is unreadable: %s", len(waiting), action, exc
            )
            error = {
                "code": "InternalError",
                "description": "The central system's answer was unreadable",
            }
            results = [{"error": error}] * len(waiting)
        except Exception as exc:
            results = exc
        finally:
            self._requests.done(action)
        settle(waiting, results)

    async def reply(self, reply_to: str, correlation_id: str | None, body: dict[str, Any]) -> None:
        """Answer whoever sent a command."""
        assert self._channel is not None
        await publish(
            self._channel,
            orjson.dumps(body),
            exchange="",
            routing_key=reply_to,
            properties=aiormq.spec.Basic.Properties(
                content_type="application/json",
                correlation_id=correlation_id,
                delivery_mode=int(DeliveryMode.NOT_PERSISTENT),
            ),
            mandatory=True,
        )

    def _bind_queue_of(self, cp_id: str) -> AbstractQueue:
        assert self._bind_queues, "start the bus first"
        return self._bind_queues[zlib.crc32(cp_id.encode()) % len(self._bind_queues)]

    async def bind_charge_point(self, cp_id: str) -> None:
        """Receive the commands for this CP."""
        await self._bind_queue_of(cp_id).bind(COMMANDS.name, routing_key=cp_id)

    async def unbind_charge_point(self, cp_id: str) -> None:
        """Stop receiving the commands for this CP."""
        await self._bind_queue_of(cp_id).unbind(COMMANDS.name, routing_key=cp_id)

    async def publish_event(self, routing_key: str, body: dict[str, Any]) -> None:
        """A fact on `ocpp.events` (persistent, confirmed)."""
        assert self._channel is not None
        await publish(
            self._channel,
            orjson.dumps(body),
            exchange=EVENTS.name,
            routing_key=routing_key,
            properties=aiormq.spec.Basic.Properties(
                content_type="application/json", delivery_mode=PERSISTENT
            ),
            mandatory=True,  # as aio-pika's Exchange.publish did: unroutable raises
        )

    async def publish_control(self, body: dict[str, Any]) -> None:
        """Tell every gateway (takeover)."""
        assert self._channel is not None
        await publish(
            self._channel,
            orjson.dumps(body),
            exchange=CONTROL.name,
            routing_key="",
            properties=aiormq.spec.Basic.Properties(content_type="application/json"),
            mandatory=True,
        )
