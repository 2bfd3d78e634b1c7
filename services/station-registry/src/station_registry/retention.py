"""Old status history, security events and station messages leave after their retention
settings (REGISTRY_STATUS_HISTORY_RETENTION_DAYS, REGISTRY_SECURITY_EVENTS_RETENTION_DAYS,
REGISTRY_STATION_MESSAGES_RETENTION_DAYS), in small batches."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from sqlalchemy import Table, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from csms_shared.bus.runtime import ServiceRuntime

from .db import security_events, station_messages, status_history
from .settings import Settings

log = logging.getLogger(__name__)

BATCH = 5_000


async def prune(session: AsyncSession, table: Table, days: float) -> int:
    """Delete up to BATCH rows of `table` received more than `days` ago; how many went. Our
    clock, not the CP's: a CP with a wrong clock neither loses new rows nor keeps old ones."""
    old = (
        select(table.c.id)
        .where(table.c.received_at < func.now() - timedelta(days=days))
        .limit(BATCH)
    )
    result = await session.execute(delete(table).where(table.c.id.in_(old)))
    return int(result.rowcount)  # type: ignore[attr-defined]


async def prune_status_history(session: AsyncSession, days: float) -> int:
    """Delete up to BATCH status notifications received more than `days` ago."""
    return await prune(session, status_history, days)


async def keep_status_history(runtime: ServiceRuntime) -> None:
    """Prune status history while its setting is on."""
    settings: Settings = runtime.settings
    await _keep(runtime, status_history, settings.status_history_retention_days)


async def keep_security_events(runtime: ServiceRuntime) -> None:
    """Prune security events while their setting is on."""
    settings: Settings = runtime.settings
    await _keep(runtime, security_events, settings.security_events_retention_days)


async def keep_station_messages(runtime: ServiceRuntime) -> None:
    """Prune what 2.0.1 stations reported into station_messages while its setting is on."""
    settings: Settings = runtime.settings
    await _keep(runtime, station_messages, settings.station_messages_retention_days)


async def _keep(runtime: ServiceRuntime, table: Table, days: float | None) -> None:
    """Prune every retention interval while the setting is on (batches until none are left)."""
    if days is None:
        return
    what = table.name.replace("_", " ")
    while True:
        try:
            async with runtime.sessions() as session, session.begin():
                pruned = await prune(session, table, days)
            if pruned:
                log.info("%d %s older than %s days deleted", pruned, what, days)
            if pruned == BATCH:
                continue
        except Exception:
            log.exception("pruning %s failed", what)
        await asyncio.sleep(runtime.settings.retention_interval)
