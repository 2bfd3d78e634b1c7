"""Commands to stations through the command path: a request on `ocpp.command-requests`, which
command-api runs as an operator's REST command would be run (checked against the station's
version, audited as `broker:<the load-manager's broker user>`), its outcome a `command.completed`
carrying the request's id.

A request is staged in the transaction that decided it, written to `loads.command_outbox` as it
commits and published by the shared outbox relay (`csms_shared.bus.outbox.OutboxRelay`), which
that commit wakes: no request leaves for a change that rolled back, none is lost for a crash
between the commit and the publish, and none waits for a poll. Unlike the events' outbox, a
request is published `mandatory`: one the broker cannot route (command-api has not declared its
queue yet) comes back and its row stays, to be published at the relay's next poll
(`LOADS_COMMAND_POLL_INTERVAL`), instead of being dropped. Rows of different stations may go by
different replicas' relays in any order; a station has at most one (`profiles`: one command
outstanding per station), so its commands keep their order.
"""

from __future__ import annotations

import logging
import uuid

from aio_pika.abc import AbstractChannel
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from csms_shared.bus.access import user_of
from csms_shared.bus.outbox import OutboxRelay, stage_rows
from csms_shared.bus.runtime import ServiceRuntime
from csms_shared.bus.topology import COMMAND_REQUESTS
from csms_shared.contracts.command_requests import BackOfficeRequest
from csms_shared.ocpp._base import OcppModel

from .db import command_outbox
from .settings import Settings

log = logging.getLogger(__name__)

# requestIds are unique per broker user in command-api's audit log; this prefix tells the
# load-manager's apart from a back office's that logs in as the same user.
REQUEST_PREFIX = "load-manager:"
# Every action the load-manager sends: it follows their outcomes alone (`follow_profiles`).
SENT_ACTIONS = (
    "SetChargingProfile",
    "ClearChargingProfile",
    "GetChargingProfiles",
    "GetCompositeSchedule",
)


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
    if action not in SENT_ACTIONS:
        raise ValueError(f"{action} is not in SENT_ACTIONS: its outcome would never come back")
    request = BackOfficeRequest(
        requestId=request_id,
        chargePointId=cp_id,
        action=action,
        payload=payload.to_payload(),
        timeout=settings.command_timeout,
    )
    stage_rows(session, command_outbox, [(cp_id, request.encode())])


def command_relay(
    sessions: async_sessionmaker[AsyncSession], channel: AbstractChannel, poll_interval: float
) -> OutboxRelay:
    """The relay of `loads.command_outbox` on a confirmed channel: mandatory, so a request the
    broker cannot route stays queued."""
    return OutboxRelay(
        sessions,
        command_outbox,
        channel,
        COMMAND_REQUESTS.name,
        poll_interval=poll_interval,
        mandatory=True,
        message_id_prefix="loads-command-",
    )


async def relay_commands(runtime: ServiceRuntime) -> None:
    """Publish the queued command requests, mandatory and confirmed, and delete those the broker
    routed (a background loop: woken by each commit that queued one, else every poll)."""
    settings: Settings = runtime.settings
    assert runtime.channel is not None, "the runtime is started before its background loops"
    await command_relay(runtime.sessions, runtime.channel, settings.command_poll_interval).run()
