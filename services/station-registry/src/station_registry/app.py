"""main(): settings -> database -> broker -> consume; a presence sweeper beside it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from pathlib import Path

from csms_shared.bus.runtime import ServiceRuntime
from csms_shared.db import create_engine, ping, session_factory, upgrade
from csms_shared.health import serve_probes
from csms_shared.logging import configure_logging

from .db import outbox
from .handlers import router
from .queries import mark_offline_where_gateway_silent
from .settings import Settings

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"


def migrate(settings: Settings | None = None) -> None:
    """Bring schema `registry` to the newest revision."""
    settings = settings or Settings()
    upgrade(MIGRATIONS, settings.database_url)


async def sweep_presence(runtime: ServiceRuntime, settings: Settings) -> None:
    """Mark CPs offline whose gateway went silent (crashed gateways send no disconnects)."""
    sessions = runtime.sessions
    while True:
        await asyncio.sleep(settings.presence_sweep_interval)
        try:
            async with sessions() as session, session.begin():
                gone = await mark_offline_where_gateway_silent(
                    session, settings.gateway_timeout_factor
                )
            if gone:
                log.info("%d charge points offline: their gateway went silent", len(gone))
        except Exception:
            log.exception("presence sweep failed")


async def main(settings: Settings | None = None) -> None:
    """Run the registry until SIGTERM or SIGINT."""
    settings = settings or Settings()
    configure_logging("station-registry", settings.log_level, settings.log_json)
    engine = create_engine(
        settings.database_url,
        pool_size=settings.database_pool_size,
        application_name="station-registry",
    )
    runtime = ServiceRuntime(
        router,
        settings=settings,
        broker_url=settings.broker_url,
        sessions=session_factory(engine),
        outbox=outbox,
        prefetch=settings.prefetch,
    )
    await runtime.start()

    async def ready() -> None:
        await ping(engine)
        if runtime.connection is None or runtime.connection.is_closed:
            raise RuntimeError("broker connection is down")

    probes = await serve_probes(settings.http_host, settings.http_port, ready)
    sweeper = asyncio.create_task(sweep_presence(runtime, settings), name="presence-sweeper")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    sweeper.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await sweeper
    probes.close()
    await runtime.stop()
    await engine.dispose()
    log.info("station-registry stopped")
