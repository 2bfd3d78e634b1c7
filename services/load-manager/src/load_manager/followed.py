"""Which stations' events the load-manager receives: those on a site, and those with a stored
TxProfile; no other station's transaction, status, meter or disconnection event reaches its
queue (bus/stations.py). Before this, it followed every station's and looked each one up, which
cost a suite of stations on no site about a fifth of its Authorize/Start/Stop throughput.

- `follow`, in the transaction of the change that needs it (a station put on a node, a
  TxProfile stored): records the station in `loads.followed_stations`, then binds the events
  queue to its keys. The binding is in place before the change commits, so every event
  published after the commit arrives; a change that rolls back leaves a binding that costs a
  delivery the handlers ignore, and a row the sweep removes.
- `sweep_followed`: a station that left its site and holds no TxProfile is unbound and its row
  deleted. Its rows are locked first (a `follow` of the same station waits on the lock, then
  writes a new row and binds again), then read again with a fresh snapshot, so a station that
  a change made needed again meanwhile is kept.
- `follow_recorded`, at start and after each reconnection (the runtime then binds the plain
  patterns again: the queue may have been declared anew, after a broker reset, without its
  per-station bindings): binds every recorded station, then drops the plain bindings, until
  which every station's events come.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from prometheus_client import Gauge
from sqlalchemy import ColumnElement, delete, exists, func, or_, select
from sqlalchemy.dialects.postgresql import insert

from csms_shared.bus.router import Context
from csms_shared.bus.runtime import ServiceRuntime
from csms_shared.charging import ProfilePurpose

from .db import charging_profiles, followed_stations, stations
from .settings import Settings

log = logging.getLogger(__name__)

f = followed_stations.c

NARROWED = Gauge(
    "csms_loads_followed_only",
    "1 once this replica bound every followed station and dropped its queue's plain bindings"
    " of those events (0: every station's still come)",
)
# Stations unbound per sweep transaction at most.
SWEEP_BATCH = 200
# Channels the start's bindings are spread over (bench "Station bindings").
START_CHANNELS = 8


async def follow(ctx: Context[Settings], cp_ids: Iterable[str]) -> None:
    """Receive these stations' events from now on (see the module's docstring)."""
    wanted = sorted(set(cp_ids))
    if not wanted:
        return
    upsert = insert(followed_stations).values([{"charge_point_id": cp} for cp in wanted])
    # DO UPDATE, not DO NOTHING: it waits for a sweep that holds the row, then writes anew.
    await ctx.session.execute(
        upsert.on_conflict_do_update(index_elements=[f.charge_point_id], set_={"since": func.now()})
    )
    if ctx.stations is not None:
        await ctx.stations.follow(wanted)


def _unneeded() -> ColumnElement[bool]:
    """Whether a followed station is needed no more: on no site, and holding no TxProfile."""
    on_site = exists().where(stations.c.charge_point_id == f.charge_point_id)
    tx_profile = exists().where(
        charging_profiles.c.charge_point_id == f.charge_point_id,
        charging_profiles.c.purpose == ProfilePurpose.TX.value,
    )
    return ~or_(on_site, tx_profile)


async def sweep_once(runtime: ServiceRuntime) -> list[str]:
    """Unbind the recorded stations nothing needs any more, one batch in one transaction: the
    stations unbound."""
    unneeded = _unneeded()
    async with runtime.sessions() as session, session.begin():
        locked = list(
            await session.scalars(
                select(f.charge_point_id)
                .where(unneeded)
                .order_by(f.charge_point_id)
                .limit(SWEEP_BATCH)
                .with_for_update(skip_locked=True)
            )
        )
        if not locked:
            return []
        # A fresh snapshot: a change committed since the first read made some needed again.
        stale = list(
            await session.scalars(
                select(f.charge_point_id).where(f.charge_point_id.in_(locked), unneeded)
            )
        )
        if stale:
            if runtime.stations is not None:
                await runtime.stations.unfollow(stale)
            await session.execute(delete(followed_stations).where(f.charge_point_id.in_(stale)))
    return stale


async def follow_recorded(runtime: ServiceRuntime) -> int:
    """Bind every recorded station (over `START_CHANNELS` channels of the runtime's
    connection), then drop the plain bindings: how many were bound."""
    if runtime.stations is None:
        return 0
    async with runtime.sessions() as session:
        recorded = list(await session.scalars(select(f.charge_point_id)))
    if recorded and runtime.connection is not None:
        channels = [
            await runtime.connection.channel(publisher_confirms=False)
            for _ in range(START_CHANNELS)
        ]
        try:
            await runtime.stations.follow_all(recorded, channels)
        finally:
            for channel in channels:
                await channel.close()
    else:
        await runtime.stations.follow(recorded)
    await runtime.stations.narrow()
    NARROWED.set(1)
    return len(recorded)


async def sweep_followed(runtime: ServiceRuntime) -> None:
    """At start, and again after the runtime widened (a reconnection), `follow_recorded`
    until it passes; then `sweep_once` every `followed_sweep_interval` seconds, replicas side
    by side (the rows' locks decide)."""
    settings: Settings = runtime.settings
    while True:
        if runtime.stations is not None and not runtime.stations.narrowed:
            NARROWED.set(0)
            try:
                bound = await follow_recorded(runtime)
            except Exception:
                log.exception("binding the followed stations failed; again shortly")
                await asyncio.sleep(settings.followed_sweep_interval)
                continue
            log.info("following the events of %d stations on sites or with TxProfiles", bound)
        await asyncio.sleep(settings.followed_sweep_interval)
        try:
            unbound = await sweep_once(runtime)
            while unbound:
                log.info("stations no longer followed: %s", unbound)
                unbound = await sweep_once(runtime) if len(unbound) == SWEEP_BATCH else []
        except Exception:
            log.exception("sweeping the followed stations failed")
