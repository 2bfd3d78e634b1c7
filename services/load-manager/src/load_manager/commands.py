"""Commands to stations through the command path: a request on `ocpp.command-requests`, which
command-api runs as an operator's REST command would be run (checked against the station's
version, audited as `broker:<the load-manager's broker user>`), its outcome a `command.completed`
carrying the request's id.

A request is written to `loads.command_outbox` in the transaction that decided it and published
after the commit by `relay_commands`, which looks for new rows every
`LOADS_COMMAND_POLL_INTERVAL` (0.2 s): no request leaves for a change that rolled back, and none
is lost for a crash between the commit and the publish. Unlike the events' outbox, a request
is published `mandatory`: one the broker cannot route (command-api has not declared its queue
yet) comes back and its row stays, to be published at the next poll, instead of being dropped.
Rows of different stations may go by different replicas' relays in any order; a station has at
most one (`profiles`: one command outstanding per station), so its commands keep their order.
"""

from __future__ import annotations

import asyncio
import logging
import uuid

import aiormq
from aio_pika.abc import AbstractChannel
from aio_pika.exceptions import DeliveryError
from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from csms_shared.bus.access import user_of
from csms_shared.bus.client import message_properties
from csms_shared.bus.publish import publish
from csms_shared.bus.runtime import ServiceRuntime
from csms_shared.bus.topology import COMMAND_REQUESTS
from csms_shared.contracts.command_requests import BackOfficeRequest
from csms_shared.ocpp._base import OcppModel

from .profiles_db import command_outbox
from .settings import Settings

log = logging.getLogger(__name__)

# Rows published per relay transaction at most.
BATCH = 100

# requestIds are unique per broker user in command-api's audit log; this prefix tells the
# load-manager's apart from a back office's that logs in as the same user.
REQUEST_PREFIX = "load-manager:"


def new_request_id() -> str:
    """A requestId no request of the load-manager had before."""
    return REQUEST_PREFIX + uuid.uuid4().hex


def requester(settings: Settings) -> str:
    """How command-api names the load-manager's requests in the audit log and in
    `command.completed`: by the broker user they are published as, this process's own."""
    return f"broker:{user_of(settings.broker_url)}"


async def queue_command(
    session: AsyncSession,
    settings: Settings,
    cp_id: str,
    action: str,
    payload: OcppModel,
    request_id: str,
) -> None:
    """Send `action` with `payload` to the station once the caller's transaction commits."""
    request = BackOfficeRequest(
        requestId=request_id,
        chargePointId=cp_id,
        action=action,
        payload=payload.to_payload(),
        timeout=settings.command_timeout,
    )
    await session.execute(insert(command_outbox).values(routing_key=cp_id, body=request.encode()))


async def publish_once(
    sessions: async_sessionmaker[AsyncSession], channel: AbstractChannel
) -> tuple[int, int]:
    """Publish one batch of queued requests, confirmed; delete those the broker took. How many
    were taken, and how many came back unroutable (their rows stay)."""
    o = command_outbox.c
    async with sessions() as session, session.begin():
        rows = (
            await session.execute(
                select(o.id, o.routing_key, o.body)
                .order_by(o.id)
                .limit(BATCH)
                .with_for_update(skip_locked=True)
            )
        ).all()
        if not rows:
            return 0, 0
        answers = await asyncio.gather(
            *(
                publish(
                    channel,
                    row.body,
                    exchange=COMMAND_REQUESTS.name,
                    routing_key=row.routing_key,
                    properties=message_properties(
                        persistent=True, message_id=f"loads-command-{row.id}"
                    ),
                    mandatory=True,
                )
                for row in rows
            ),
            return_exceptions=True,
        )
        taken = []
        for row, answer in zip(rows, answers, strict=True):
            if isinstance(answer, aiormq.spec.Basic.Ack):
                taken.append(row.id)
            elif isinstance(answer, BaseException) and not isinstance(answer, DeliveryError):
                raise answer
            # Else returned (basic.return) or nacked: the row stays for the next poll.
        if taken:
            await session.execute(delete(command_outbox).where(o.id.in_(taken)))
    return len(taken), len(rows) - len(taken)


async def relay_commands(runtime: ServiceRuntime) -> None:
    """Publish the queued command requests, mandatory and confirmed, and delete those the broker
    routed (a background loop; a fault is logged and retried at the next poll)."""
    settings: Settings = runtime.settings
    assert runtime.channel is not None, "the runtime is started before its background loops"
    channel = runtime.channel
    while True:
        try:
            taken, unroutable = await publish_once(runtime.sessions, channel)
            if unroutable:
                log.warning("%d command requests unroutable (no intake queue yet)", unroutable)
            if taken == BATCH:
                continue
        except Exception:
            log.exception("command relay failed; retrying")
        await asyncio.sleep(settings.command_poll_interval)
