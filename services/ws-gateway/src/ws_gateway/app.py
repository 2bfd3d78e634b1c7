"""main(): settings -> broker -> WebSocket server; SIGTERM drains."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from csms_shared.logging import configure_logging

from .bus import GatewayBus
from .server import Gateway
from .settings import Settings

log = logging.getLogger(__name__)


async def main(settings: Settings | None = None) -> None:
    """Run one gateway until SIGTERM or SIGINT, then drain."""
    settings = settings or Settings()
    configure_logging("ws-gateway", settings.log_level, settings.log_json)
    bus = GatewayBus(settings.broker_url, settings.instance_id, settings.prefetch)
    await bus.start()
    gateway = Gateway(settings, bus)
    await gateway.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    beat = asyncio.create_task(gateway.beat(), name="gateway-beat")
    await stop.wait()
    await gateway.drain()
    beat.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await beat
    await bus.close()
    log.info("gateway %s stopped", settings.instance_id)
