"""Commands to stations through the command path: a request on `ocpp.command-requests`, which
command-api runs as an operator's REST command would be run (checked against the station's
version, audited as `broker:<the load-manager's broker user>`), its outcome a `command.completed`
carrying the request's id.

A request is written to `loads.command_outbox` in the transaction that decided it and published
after the commit by `relay_commands`, which looks for new rows every
`LOADS_COMMAND_POLL_INTERVAL` (0.2 s): no request leaves for a change that rolled back, and none
is lost for a crash between the commit and the publish.
"""

from __future__ import annotations

import uuid

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from csms_shared.bus.access import user_of
from csms_shared.bus.outbox import OutboxRelay
from csms_shared.bus.runtime import ServiceRuntime
from csms_shared.bus.topology import COMMAND_REQUESTS
from csms_shared.contracts.command_requests import BackOfficeRequest
from csms_shared.ocpp._base import OcppModel

from .profiles_db import command_outbox
from .settings import Settings

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
    session: AsyncSession, cp_id: str, action: str, payload: OcppModel, request_id: str
) -> None:
    """Send `action` with `payload` to the station once the caller's transaction commits."""
    request = BackOfficeRequest(
        requestId=request_id, chargePointId=cp_id, action=action, payload=payload.to_payload()
    )
    await session.execute(insert(command_outbox).values(routing_key=cp_id, body=request.encode()))


async def relay_commands(runtime: ServiceRuntime) -> None:
    """Publish the queued command requests, confirmed, and delete them (a background loop)."""
    settings: Settings = runtime.settings
    assert runtime.channel is not None, "the runtime is started before its background loops"
    relay = OutboxRelay(
        runtime.sessions,
        command_outbox,
        runtime.channel,
        COMMAND_REQUESTS.name,
        poll_interval=settings.command_poll_interval,
    )
    await relay.run()
