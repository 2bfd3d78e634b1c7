"""The gateway's side of the broker: its connection and own queue, replies, commands, control and
events in (the CALLs out are calls_out.py's)."""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections.abc import Callable, Mapping

from aio_pika.abc import AbstractIncomingMessage, AbstractQueue, AbstractRobustConnection

from csms_shared.bus.client import BusClient, MessageHandler, message_properties
from csms_shared.bus.owners import Owners
from csms_shared.bus.rpc import RpcClient
from csms_shared.bus.stations import routing_headers
from csms_shared.bus.topology import COMMANDS, CONTROL, EVENTS, OWNERS, gateway_queue
from csms_shared.contracts.envelopes import CommandOutcome, Presence
from csms_shared.contracts.event_base import Event
from csms_shared.contracts.events import charge_point_of
from csms_shared.settings import default_broker_users

from .beacon_check import BeaconCheck
from .call_refusals import BrokerAway
from .calls_out import CallsOut

log = logging.getLogger(__name__)

# Channels the CP queue bindings are spread over (by CP id).
BIND_CHANNELS = 4
# Events a gateway follows: a CP's key or profile changed, so cached handshake decisions go.
GATEWAY_EVENTS = ("station.credentials_changed",)


class GatewayBus(CallsOut):
    """One AMQP connection; queue `gateway.<id>` carries replies, commands and control. The
    CALLs out and their answers are `CallsOut`'s (calls_out.py)."""

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
        owners = Owners() if owner_check else None
        # Queue `gateway.<id>`: replies to its calls and RPCs, and what it is bound to.
        name = f"ws-gateway {instance_id}"
        queue = gateway_queue(instance_id)
        client = BusClient(url, name=name, prefetch=prefetch, reply_queue=queue)
        super().__init__(
            client,
            instance_id,
            owners,
            bundle,
            bundle_wait,
            bundle_requests,
            request_bundles_in_flight,
            refuse_calls_behind,
        )
        users = broker_users or default_broker_users()
        self._beacons = BeaconCheck(owners, users) if owners is not None else None
        self._closing = False
        self.client.on_delivery = self._dispatch
        self._bind_queues: list[AbstractQueue] = []
        self.on_command: MessageHandler | None = None
        self.on_control: MessageHandler | None = None
        self.on_event: MessageHandler | None = None
        # Called when the broker connection is back after a loss.
        self.on_reconnect: Callable[[], None] | None = None
        self.rpc = RpcClient(self.client)

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
        # Notifications and ends not yet confirmed are failed (a copy changes nothing twice);
        # decision calls already sent are not (`abandon_unsent`).
        failed = self.abandon_unsent(BrokerAway("the broker connection went"))
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
        headers = routing_headers(key, charge_point_of(event))
        properties = message_properties(persistent=True, headers=headers)
        await self.client.publish(EVENTS.name, key, event.encode(), properties)

    async def publish_control(self, presence: Presence) -> None:
        """Tell every gateway (takeover)."""
        await self.client.publish(CONTROL.name, "", presence.encode(), message_properties())
