"""main(): settings -> database -> broker -> the OCPI HTTP interface beside the RPC methods."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path

import uvicorn

from csms_shared.bus.runtime import ServiceRuntime
from csms_shared.db import upgrade
from csms_shared.service import serve

from . import rpc_platforms, rpc_tokens  # noqa: F401 - importing them registers their handlers
from .db import outbox
from .ocpi_api.app import create_app
from .router import router
from .settings import Settings

MIGRATIONS = Path(__file__).parent / "migrations"


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


async def main(settings: Settings | None = None) -> None:
    """Run the roaming service until SIGTERM or SIGINT."""
    await serve(router, settings or Settings(), outbox=outbox, background=[serve_ocpi])
