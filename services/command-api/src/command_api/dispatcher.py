"""Commands to charge points over `ocpp.commands`, their outcomes back on a private queue."""

from __future__ import annotations

import asyncio
import logging

from aio_pika.abc import AbstractIncomingMessage, AbstractQueue, AbstractRobustConnection
from aio_pika.exceptions import DeliveryError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from csms_shared.bus.ack import requeue_later
from csms_shared.bus.client import BusClient, message_properties
from csms_shared.bus.outbox import OutboxRelay
from csms_shared.bus.replies import ReplyWaiter
from csms_shared.bus.rpc import RpcClient
from csms_shared.bus.topology import COMMANDS, EVENTS, service_queue
from csms_shared.contracts.envelopes import BadEnvelope, CommandOutcome, CommandRequest
from csms_shared.ocpp._base import JsonObject
from csms_shared.ocpp.redaction import redact_response, secret_keys
from csms_shared.ocpp.url_passwords import redact_urls
from csms_shared.ocpp.version import OcppVersion
from csms_shared.tracing import inject

from .db import outbox
from .recorder import record_outcome
from .station_versions import CONNECTED, StationVersions

log = logging.getLogger(__name__)


class NotConnected(Exception):
    """No gateway holds the charge point: the broker returned the command."""


class Dispatcher:
    """Publishes commands, records every outcome that comes back, wakes whoever waits."""

    def __init__(
        self,
        broker_url: str,
        instance_id: str,
        sessions: async_sessionmaker[AsyncSession],
        secrets: frozenset[str] = secret_keys(()),
    ) -> None:
        # Configuration keys whose values in a CP's answer are neither stored nor shown.
        self._secrets = secrets
        self._instance_id = instance_id
        self._sessions = sessions
        # Waiters for command outcomes, by command id (the outcome is recorded first).
        self.waiter: ReplyWaiter[CommandOutcome] = ReplyWaiter()
        # RPC replies come back on the client's own queue, named by the broker.
        self.client = BusClient(broker_url, name=f"command-api {instance_id}")
        self._replies: AbstractQueue | None = None
        self.rpc = RpcClient(self.client)
        # Stations' versions, heard on the client's own queue (station_versions.py).
        self.versions = StationVersions()
        self.relay: OutboxRelay | None = None
        self._relay_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Connect, declare the topology and this replica's reply queue."""
        await self.client.start()
        assert self.client.channel is not None
        assert self.client.queue is not None and self.client.connection is not None
        self.client.on_delivery = self.versions.on_delivery
        await self.client.queue.bind(EVENTS.name, CONNECTED)
        self.client.connection.reconnect_callbacks.add(self.versions.clear)
        # Outcomes are recorded before they are acked, so they have a queue of their own.
        self._replies = await self.client.channel.declare_queue(
            service_queue("command-api", f"replies.{self._instance_id}"),
            exclusive=True,
            auto_delete=True,
        )
        await self._replies.consume(self._on_reply)
        self.relay = OutboxRelay(self._sessions, outbox, self.client.channel, EVENTS.name)
        self._relay_task = asyncio.create_task(self.relay.run(), name="outbox-relay")

    async def close(self) -> None:
        """Stop relaying and close the connection."""
        if self._relay_task is not None:
            self._relay_task.cancel()
            await asyncio.gather(self._relay_task, return_exceptions=True)
        await self.client.close()

    @property
    def connection(self) -> AbstractRobustConnection | None:
        """The AMQP connection (None before `start`)."""
        return self.client.connection

    def wake_relay(self) -> None:
        """An outcome was committed: publish its `command.completed` now."""
        if self.relay is not None:
            self.relay.wake()

    @property
    def reply_queue(self) -> str:
        """Where gateways send this replica's outcomes."""
        assert self._replies is not None
        return self._replies.name

    async def send(
        self,
        command_id: str,
        charge_point_id: str,
        action: str,
        payload: JsonObject,
        timeout: float,
        ocpp_version: OcppVersion | None = None,
    ) -> None:
        """Publish a command to whichever gateway holds the CP; NotConnected if none does.
        `ocpp_version`: the version the payload was checked against (the gateway refuses it to
        a connection speaking another)."""
        # Expiring: a command nobody picked up in time must not reach the CP later. The request's
        # trace goes on at the gateway (W3C traceparent; none when off).
        properties = message_properties(
            correlation_id=command_id,
            reply_to=self.reply_queue,
            timeout=timeout,
            headers=dict(inject({})) or None,
        )
        try:
            command = CommandRequest(
                action=action, payload=payload, timeout=timeout, ocpp_version=ocpp_version
            )
            await self.client.publish(COMMANDS.name, charge_point_id, command.encode(), properties)
        except DeliveryError:
            raise NotConnected(charge_point_id) from None

    async def _on_reply(self, message: AbstractIncomingMessage) -> None:
        command_id = message.correlation_id
        if command_id is None:
            log.error("dropping a command outcome without a correlation id")
            await message.ack()
            return
        try:
            outcome = CommandOutcome.decode(message.body)
        except BadEnvelope as exc:
            log.error("dropping the malformed outcome of command %s: %s", command_id, exc)
            await message.ack()
            return
        # The gateway redacted what the CP echoed of the command's secrets; URL passwords are
        # redacted here in whatever the CP answered.
        redacted = outcome.model_copy(
            update={
                "response": redact_response(outcome.response, self._secrets)
                if outcome.response is not None
                else None,
                "error_description": redact_urls(outcome.error_description),
                "error_details": redact_urls(outcome.error_details),
            }
        )
        try:
            async with self._sessions() as session, session.begin():
                recorded = await record_outcome(session, command_id, redacted)
        except Exception:
            log.exception("could not record the outcome of %s; retrying", command_id)
            await requeue_later(message)
            return
        if recorded is not None:
            self.wake_relay()
        self.waiter.resolve(command_id, redacted)
        await message.ack()
