"""main(): settings -> broker -> WebSocket server; SIGTERM drains."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import resource
import signal
import ssl

from csms_shared.health import serve_probes
from csms_shared.logging import configure_logging
from csms_shared.service import wait_for_stop_signal

from .bus import GatewayBus
from .server import Gateway
from .settings import Settings

log = logging.getLogger(__name__)


def tls_context(settings: Settings) -> ssl.SSLContext | None:
    """The server TLS context (security profiles 2 and 3), or None to serve plain ws://."""
    if not settings.tls_cert_file:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(settings.tls_cert_file, settings.tls_key_file)
    if settings.tls_client_ca_file:
        # Optional: profile-2 CPs have no certificate; the registry decides per CP.
        context.verify_mode = ssl.CERT_OPTIONAL
        context.load_verify_locations(settings.tls_client_ca_file)
    return context


def reload_certificates(context: ssl.SSLContext, settings: Settings) -> None:
    """SIGHUP: load renewed certificate files; new handshakes use them."""
    try:
        context.load_cert_chain(settings.tls_cert_file or "", settings.tls_key_file)
        if settings.tls_client_ca_file:
            context.load_verify_locations(settings.tls_client_ca_file)
    except (OSError, ssl.SSLError):
        log.exception("could not reload the TLS certificates; keeping the old ones")
        return
    log.info("TLS certificates reloaded")


def _mtimes(settings: Settings) -> list[float]:
    files = [settings.tls_cert_file, settings.tls_key_file, settings.tls_client_ca_file]
    return [os.stat(f).st_mtime if f and os.path.exists(f) else 0.0 for f in files]


async def watch_certificates(context: ssl.SSLContext, settings: Settings) -> None:
    """Reload the certificates when their files change (a renewed Kubernetes Secret)."""
    seen = _mtimes(settings)
    while True:
        await asyncio.sleep(settings.tls_reload_interval)
        now = _mtimes(settings)
        if now != seen:
            seen = now
            reload_certificates(context, settings)


def raise_file_limit() -> tuple[int, int, int]:
    """Lift the soft open-file limit to the hard one (one descriptor per CP): (before, after,
    hard). The hard limit is the deployment's to set (README: Configuration)."""
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
    )
    log.info(
        "bundles: notifications %s (one per action per %s ms), decision calls %s (%d in flight)",
        "on" if settings.bundle_notifications else "off",
        settings.bundle_wait_ms,
        "on" if settings.bundle_requests else "off",
        settings.request_bundles_in_flight,
    )
    await bus.start()
    ssl_context = tls_context(settings)
    gateway = Gateway(settings, bus, ssl_context)
    # The first beat goes out before the first CP is accepted: the registry hears of this process
    # (and forgets a stop of an earlier one under this id) before any of its CPs.
    await gateway.beat_once()
    await gateway.start()

    async def ready() -> None:
        if gateway.draining:
            raise RuntimeError("draining")
        if bus.connection is None or bus.connection.is_closed:
            raise RuntimeError("broker connection is down")

    # Probes and metrics on their own port: the CP port serves only /ocpp/{id}.
    probes = await serve_probes(settings.http_host, settings.internal_port, ready)
    if ssl_context is not None:
        asyncio.get_running_loop().add_signal_handler(
            signal.SIGHUP, reload_certificates, ssl_context, settings
        )
    beat = asyncio.create_task(gateway.beat(), name="gateway-beat")
    seen = asyncio.create_task(gateway.seen.run(settings.seen_flush_seconds), name="seen-flush")
    watcher = (
        asyncio.create_task(watch_certificates(ssl_context, settings), name="tls-watch")
        if ssl_context is not None and settings.tls_reload_interval > 0
        else None
    )
    await wait_for_stop_signal()
    await gateway.drain()  # ends with a last flush of the last-seen times
    for task in (beat, seen, watcher):
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    probes.close()
    await bus.close()
    log.info("gateway %s stopped", settings.instance_id)
