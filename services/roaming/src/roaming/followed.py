"""Which stations' meter values the roaming service receives: those where a roaming session
runs (bus/stations.py), bound when the session starts and unbound when the station's last one
ends (follow_transactions.py). At start, and after a reconnection (when the runtime binds the
plain pattern again), `follow_running` binds every such station and drops the plain binding;
every REFOLLOW_INTERVAL it binds them again, which mends a binding that a stop on one replica
and a start on another raced away (a binding left over costs a delivery the handler ignores)."""

from __future__ import annotations

import asyncio
import logging

from csms_shared.bus.runtime import ServiceRuntime

from . import session_store

log = logging.getLogger(__name__)

REFOLLOW_INTERVAL = 300.0


async def follow_running(runtime: ServiceRuntime) -> int:
    """Bind the stations with a running roaming session, then narrow: how many."""
    if runtime.stations is None:
        return 0
    async with runtime.sessions() as session:
        running = await session_store.active_stations(session)
    await runtime.stations.follow(running)
    if not runtime.stations.narrowed:
        await runtime.stations.narrow()
    return len(running)


async def keep_following(runtime: ServiceRuntime) -> None:
    """`follow_running` at start, after each widening, and every REFOLLOW_INTERVAL."""
    waited = 0.0
    while True:
        widened = runtime.stations is not None and not runtime.stations.narrowed
        if widened or waited >= REFOLLOW_INTERVAL:
            try:
                bound = await follow_running(runtime)
                log.info("following the meter values of %d stations with roaming sessions", bound)
                waited = 0.0
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("binding the stations with roaming sessions failed; again shortly")
        await asyncio.sleep(1.0)
        waited += 1.0
