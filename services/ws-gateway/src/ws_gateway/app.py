"""main(): settings -> broker -> WebSocket server; SIGTERM drains."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from csms_shared.logging import configure_logging
from csms_shared.service import wait_for_stop_signal

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
    beat = asyncio.create_task(gateway.beat(), name="gateway-beat")
    await wait_for_stop_signal()
    await gateway.drain()
    beat.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await beat
    await bus.close()
    log.info("gateway %s stopped", settings.instance_id)
