"""After an accepted BootNotification, ask the CP for its whole configuration (GetConfiguration)
once per boot, so the registry's snapshot, SupportedFeatureProfiles included, is always filled.

Sent by command-api, the only sender of commands, on the registry's `station.booted`; the
answer reaches the snapshot as any GetConfiguration's does (`command.completed`).
"""

from __future__ import annotations

import asyncio
import logging

import orjson
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage
from fastapi import HTTPException
from sqlalchemy.exc import IntegrityError

from csms_shared.bus.topology import EVENTS, declare_service_queue, service_queue
from csms_shared.ocpp.v16.messages import GetConfigurationRequest

from .api.commands import send_command
from .api.deps import AppState
from .auth import Principal, Role
from .problems import ProblemError

log = logging.getLogger(__name__)

QUEUE = service_queue("command-api", "boot-configuration")
# The audit log's requester of these reads; with the event's id it makes each boot's read unique.
REQUESTER = Principal("system", "system:boot-configuration", Role.OPERATOR)


class BootReads:
    """Follows `station.booted` on a queue shared by every replica."""

    def __init__(self, state: AppState) -> None:
        self._state = state

    async def start(self, channel: AbstractChannel) -> None:
        """Declare and bind the queue, and consume."""
        await channel.set_qos(prefetch_count=32)
        exchange = await channel.declare_exchange(EVENTS.name, EVENTS.type, durable=True)
        queue = await declare_service_queue(channel, QUEUE)
        await queue.bind(exchange, "station.booted")
        await queue.consume(self.on_message)

    async def on_message(self, message: AbstractIncomingMessage) -> None:
        """One boot: read the CP's configuration if it was accepted."""
        try:
            await self.handle(message.body, message.message_id)
        except Exception:
            log.exception("reading the configuration after a boot failed; requeued")
            await asyncio.sleep(0.5)
            await message.nack(requeue=True)
            return
        await message.ack()

    async def handle(self, body: bytes, event_id: str | None) -> None:
        """GetConfiguration to an accepted CP; a redelivered boot event sends nothing again."""
        try:
            event = orjson.loads(body)
        except orjson.JSONDecodeError:
            log.warning("station.booted %s is not JSON; ignored", event_id)
            return
        if not isinstance(event, dict) or event.get("registrationStatus") != "Accepted":
            return
        cp_id = event.get("chargePointId")
        if not isinstance(cp_id, str):
            log.warning("station.booted %s names no charge point; ignored", event_id)
            return
        request_id = f"boot:{event_id or event.get('at')}"[:100]
        async with self._state.sessions() as session:
            try:
                await send_command(
                    self._state,
                    session,
                    REQUESTER,
                    cp_id,
                    "GetConfiguration",
                    GetConfigurationRequest(),
                    None,
                    wait=False,
                    request_id=request_id,
                )
            except IntegrityError:
                log.info("configuration of %s already asked for at this boot", cp_id)
            except (HTTPException, ProblemError) as exc:
                # Offline again, or unknown: recorded in the audit log, nothing to retry.
                log.info("configuration of %s not read: %s", cp_id, getattr(exc, "detail", exc))
