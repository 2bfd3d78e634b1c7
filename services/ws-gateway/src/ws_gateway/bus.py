"""The gateway's side of the broker: its own queue, calls out, replies and commands in."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import aiormq
import orjson
from aio_pika import DeliveryMode, Message
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)
from aio_pika.exceptions import DeliveryError

from csms_shared.bus.bundle import BUNDLE_MAX, encode_bundle
from csms_shared.bus.connection import connect
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

log = logging.getLogger(__name__)

MessageHandler = Callable[[AbstractIncomingMessage], Awaitable[None]]

PERSISTENT = int(DeliveryMode.PERSISTENT)
# Routing keys of the CALLs seen so far (`v16.<Action>`), built once per action.
_ROUTING_KEYS: dict[str, str] = {}

# A notification waiting for the next bundle of its action: cp, message id, received, payload.
_Waiting = tuple[str, str, str, dict[str, Any], "asyncio.Future[None]"]

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
    ) -> None:
        self._url = url
        self.instance_id = instance_id
        self._prefetch = prefetch
        # Notifications ready in one turn of the event loop leave in one message per action.
        self._bundle = bundle
        self._bundle_wait = bundle_wait
        self._waiting: dict[str, list[_Waiting]] = {}
        self._bundles_out: set[asyncio.Task[None]] = set()
        self.waiter = ReplyWaiter()
        self.connection: AbstractRobustConnection | None = None
        self._channel: AbstractChannel | None = None
        self._queue: AbstractQueue | None = None
        self._bind_queue: AbstractQueue | None = None
        self._exchanges: dict[str, AbstractExchange] = {}
        self.on_command: MessageHandler | None = None
        self.on_control: MessageHandler | None = None
        self.on_event: MessageHandler | None = None
        self.rpc: RpcClient | None = None

    @property
    def queue_name(self) -> str:
        """The name of this gateway's queue: replies come back to it."""
        return gateway_queue(self.instance_id)

    async def start(self) -> None:
        """Connect, declare the topology and this gateway's queue, and consume it."""
        self.connection = await connect(self._url, name=f"ws-gateway {self.instance_id}")
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
        bind_channel = await self.connection.channel(publisher_confirms=False)
        self._bind_queue = await bind_channel.declare_queue(
            self.queue_name, exclusive=True, auto_delete=True
        )
        self.rpc = RpcClient(self._channel)
        await self.rpc.start()

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
        channel = await self._channel.get_underlay_channel()
        try:
            await channel.basic_publish(
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
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        waiting = self._waiting.get(action)
        if waiting is None:
            # Published on the next turn of the loop (or `bundle_wait` seconds later), with
            # whatever else arrived by then.
            waiting = self._waiting[action] = []
            if self._bundle_wait > 0:
                loop.call_later(self._bundle_wait, self._send_bundle, action)
            else:
                loop.call_soon(self._send_bundle, action)
        waiting.append((cp_id, message_id, received.isoformat(), payload, future))
        if len(waiting) >= BUNDLE_MAX:
            self._send_bundle(action)
        await future

    def _send_bundle(self, action: str) -> None:
        waiting = self._waiting.pop(action, None)
        if waiting:
            task = asyncio.create_task(self._publish_bundle(action, waiting))
            self._bundles_out.add(task)
            task.add_done_callback(self._bundles_out.discard)

    async def _publish_bundle(self, action: str, waiting: list[_Waiting]) -> None:
        """One message for all of them (a lone one as a plain message); settle each CP's wait."""
        try:
            if len(waiting) == 1:
                cp_id, message_id, received, payload, _ = waiting[0]
                properties = self._call_properties(cp_id, message_id, received)
                await self._publish_call(action, orjson.dumps(payload), properties)
            else:
                properties = aiormq.spec.Basic.Properties(
                    content_type="application/json",
                    delivery_mode=PERSISTENT,
                    headers={HEADER_GATEWAY: self.instance_id, HEADER_BUNDLE: len(waiting)},
                )
                body = encode_bundle([(c, m, r, p) for c, m, r, p, _ in waiting])
                await self._publish_call(action, body, properties)
        except asyncio.CancelledError:
            for *_, future in waiting:
                future.cancel()
            raise
        except Exception as exc:
            for *_, future in waiting:
                if not future.done():
                    future.set_exception(exc)
            return
        for *_, future in waiting:
            if not future.done():
                future.set_result(None)

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
        properties = self._call_properties(cp_id, message_id, received.isoformat())
        correlation_id = self.waiter.new_id()
        properties.correlation_id = correlation_id
        properties.reply_to = self.queue_name
        # Milliseconds, as aio-pika encodes `expiration`: a call nobody took in time is dropped.
        properties.expiration = str(int(timeout * 1000))
        future = self.waiter.expect(correlation_id)
        try:
            await self._publish_call(action, orjson.dumps(payload), properties)
        except BaseException:
            self.waiter.forget(correlation_id)
            raise
        reply: dict[str, Any] = await self.waiter.wait(correlation_id, future, timeout)
        return reply

    async def reply(self, reply_to: str, correlation_id: str | None, body: dict[str, Any]) -> None:
        """Answer whoever sent a command."""
        assert self._channel is not None
        await self._channel.default_exchange.publish(
            Message(
                orjson.dumps(body),
                content_type="application/json",
                correlation_id=correlation_id,
                delivery_mode=DeliveryMode.NOT_PERSISTENT,
            ),
            routing_key=reply_to,
        )

    async def bind_charge_point(self, cp_id: str) -> None:
        """Receive the commands for this CP."""
        assert self._bind_queue is not None
        await self._bind_queue.bind(COMMANDS.name, routing_key=cp_id)

    async def unbind_charge_point(self, cp_id: str) -> None:
        """Stop receiving the commands for this CP."""
        assert self._bind_queue is not None
        await self._bind_queue.unbind(COMMANDS.name, routing_key=cp_id)

    async def publish_event(self, routing_key: str, body: dict[str, Any]) -> None:
        """A fact on `ocpp.events` (persistent, confirmed)."""
        await self._exchanges[EVENTS.name].publish(
            Message(
                orjson.dumps(body),
                content_type="application/json",
                delivery_mode=DeliveryMode.PERSISTENT,
            ),
            routing_key=routing_key,
        )

    async def publish_control(self, body: dict[str, Any]) -> None:
        """Tell every gateway (takeover)."""
        await self._exchanges[CONTROL.name].publish(
            Message(orjson.dumps(body), content_type="application/json"), routing_key=""
        )
