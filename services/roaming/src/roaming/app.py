"""main(): settings -> database -> broker -> the OCPI HTTP interface beside the RPC methods."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

import uvicorn

from csms_shared.bus.outbox import OutboxRelay
from csms_shared.bus.runtime import ServiceRuntime
from csms_shared.bus.topology import COMMAND_REQUESTS
from csms_shared.db import upgrade
from csms_shared.service import serve

from . import (  # noqa: F401 - importing them registers their handlers
    authorizations,
    follow_commands,
    follow_stations,
    follow_tariffs,
    follow_transactions,
    followed,
    push_queue,
    rpc_cdrs,
    rpc_locations,
    rpc_platforms,
    rpc_tokens,
)
from .db import command_outbox, outbox
from .ocpi_api import request_log
from .ocpi_api.app import create_app
from .ocpi_client import OcpiClient
from .pushes import PushDelivery
from .router import router
from .settings import Settings

MIGRATIONS = Path(__file__).parent / "migrations"
log = logging.getLogger(__name__)


def migrate(settings: Settings | None = None) -> None:
    """Bring schema `roaming` to the newest revision."""
    settings = settings or Settings()
    upgrade(MIGRATIONS, settings.database_url)


class _Embedded(uvicorn.Server):
    """uvicorn inside a service: the service owns SIGTERM/SIGINT (csms_shared.service) and
    stops the server by cancelling its task."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve_ocpi(runtime: ServiceRuntime) -> None:
    """Serve the OCPI interface on `ROAMING_HTTP_PORT` until cancelled; requests in flight
    are finished first."""
    settings: Settings = runtime.settings
    config = uvicorn.Config(
        create_app(settings, runtime.sessions),
        host=settings.http_host,
        port=settings.http_port,
        loop="none",
        lifespan="on",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=5,
    )
    server = _Embedded(config)
    task = asyncio.create_task(server.serve(), name="roaming-ocpi-http")
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        server.should_exit = True
        await task
        raise


async def deliver_pushes(runtime: ServiceRuntime) -> None:
    """Deliver the pushes to the platforms until cancelled (roaming.pushes)."""
    settings: Settings = runtime.settings
    client = OcpiClient(settings.request_timeout, settings.networks())
    try:
        await PushDelivery(runtime.sessions, client, settings).run()
    finally:
        await client.close()


async def relay_commands(runtime: ServiceRuntime) -> None:
    """Publish the command requests eMSPs' commands became (`roaming.command_outbox`) to
    `ocpp.command-requests`, mandatory and confirmed: woken by each commit that staged one."""
    assert runtime.channel is not None, "the runtime is started before its background loops"
    relay = OutboxRelay(
        runtime.sessions,
        command_outbox,
        runtime.channel,
        COMMAND_REQUESTS.name,
        mandatory=True,
        message_id_prefix="roaming-command-",
    )
    await relay.run()


async def housekeeping(runtime: ServiceRuntime) -> None:
    """Every hour: the push log and the request log kept to their retention."""
    settings: Settings = runtime.settings
    while True:
        try:
            await push_queue.prune(runtime.sessions, settings.push_log_retention_days)
            await request_log.prune(runtime.sessions, settings.request_log_retention_days)
            await authorizations.prune(runtime.sessions, settings.request_log_retention_days)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("pruning the push and request logs failed; trying again in an hour")
        await asyncio.sleep(3600)


async def main(settings: Settings | None = None) -> None:
    """Run the roaming service until SIGTERM or SIGINT."""
    await serve(
        router,
        settings or Settings(),
        outbox=outbox,
        background=[
            serve_ocpi,
            deliver_pushes,
            relay_commands,
            housekeeping,
            followed.keep_following,
        ],
        # Asks the session-service what a running roaming session costs so far.
        rpc_client=True,
    )
