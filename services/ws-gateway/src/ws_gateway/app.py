"""main(): settings -> broker -> WebSocket server; SIGTERM drains."""

from __future__ import annotations

import asyncio
import logging
import resource
import signal

from csms_shared.bus.connection import connected
from csms_shared.health import serve_probes
from csms_shared.heap import set_collector_thresholds
from csms_shared.logging import configure_logging
from csms_shared.samples import set_build_info
from csms_shared.service import wait_for_stop_signal
from csms_shared.tracing import configure_tracing

from .bus import GatewayBus
from .server import Gateway
from .settings import Settings
from .tls import server_tls

log = logging.getLogger(__name__)


def raise_file_limit() -> tuple[int, int, int]:
    """Lift the soft open-file limit to the hard one (one descriptor per CP): (before, after,
    hard). The hard limit is the deployment's to set (docs/configuration.md: Open files)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard
    if hard == resource.RLIM_INFINITY:
        # Linux refuses an unlimited soft limit above fs.nr_open; ask for that ceiling instead.
        try:
            with open("/proc/sys/fs/nr_open") as f:
                target = int(f.read())
        except (OSError, ValueError):
            target = 1_048_576
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (OSError, ValueError):
            log.warning("could not raise the open-file limit from %d to %d", soft, target)
    return soft, resource.getrlimit(resource.RLIMIT_NOFILE)[0], hard


async def main(settings: Settings | None = None) -> None:
    """Run one gateway until SIGTERM or SIGINT, then drain."""
    settings = settings or Settings()
    configure_logging("ws-gateway", settings.log_level, settings.log_json)
    set_collector_thresholds(settings.gc_thresholds)
    configure_tracing("ws-gateway")
    before, soft, hard = raise_file_limit()
    # One descriptor per charge point: the soft limit bounds this gateway's connections.
    log.info("open-file limit: soft %s (was %s), hard %s", soft, before, hard)
    bus = GatewayBus(
        settings.broker_url,
        settings.instance_id,
        settings.prefetch,
        bundle=settings.bundle_notifications,
        bundle_wait=settings.bundle_wait_ms / 1000,
        bundle_requests=settings.bundle_requests,
        request_bundles_in_flight=settings.request_bundles_in_flight,
        refuse_calls_behind=settings.refuse_calls_behind,
        owner_check=settings.owner_check,
        broker_users=settings.broker_users,
    )
    log.info(
        "bundles: notifications %s (one per action per %s ms), decision calls %s (%d in flight)",
        "on" if settings.bundle_notifications else "off",
        settings.bundle_wait_ms,
        "on" if settings.bundle_requests else "off",
        settings.request_bundles_in_flight,
    )
    await bus.start()
    tls = server_tls(settings)
    gateway = Gateway(settings, bus, tls.listening if tls else None)
    assert bus.connection is not None
    await gateway.message_log.start(bus.connection, bus.rpc)
    # The first beat goes out before the first CP is accepted: the registry hears of this process
    # (and forgets a stop of an earlier one under this id) before any of its CPs.
    await gateway.beat_once()
    await gateway.start()

    async def ready() -> None:
        if gateway.draining:
            raise RuntimeError("draining")
        if not connected(bus.connection):
            raise RuntimeError("broker connection is down")

    # Probes and metrics on their own port: the CP port serves only /ocpp/{id}.
    probes = await serve_probes(settings.http_host, settings.internal_port, ready)
    set_build_info("ws-gateway")
    if tls is not None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, tls.reload)
    beat = asyncio.create_task(gateway.beat(), name="gateway-beat")
    seen = asyncio.create_task(gateway.seen.run(settings.seen_flush_seconds), name="seen-flush")
    refusals = asyncio.create_task(gateway.handshakes.refusals.run(), name="refusals-flush")
    watcher = (
        asyncio.create_task(tls.watch(settings.tls_reload_interval), name="tls-watch")
        if tls is not None and settings.tls_reload_interval > 0
        else None
    )
    await wait_for_stop_signal()
    # The drain ends with a last flush of the last-seen times; what follows shares its budget.
    stop = await gateway.drain()
    await stop.cancel([task for task in (beat, seen, refusals, watcher) if task is not None])
    probes.close()
    await stop.step(gateway.message_log.close(), "the message log's last records")
    await stop.step(bus.close(), "the broker connection's close")
    log.info("gateway %s stopped", settings.instance_id)
