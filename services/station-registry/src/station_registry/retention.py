"""Old status history leaves after REGISTRY_STATUS_HISTORY_RETENTION_DAYS, in small batches."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from csms_shared.bus.runtime import ServiceRuntime

from .db import status_history
from .settings import Settings

log = logging.getLogger(__name__)

BATCH = 5_000


async def prune_status_history(session: AsyncSession, days: float) -> int:
    """Delete up to BATCH status notifications received more than `days` ago; how many went.
    Our clock, not the CP's: a CP with a wrong clock neither loses new rows nor keeps old ones."""
    old = (
        select(status_history.c.id)
        .where(status_history.c.received_at < func.now() - timedelta(days=days))
        .limit(BATCH)
    )
    result = await session.execute(delete(status_history).where(status_history.c.id.in_(old)))
    return int(result.rowcount)  # type: ignore[attr-defined]


async def keep_status_history(runtime: ServiceRuntime) -> None:
    """Prune every retention interval while the setting is on (batches until none are left)."""
    settings: Settings = runtime.settings
    days = settings.status_history_retention_days
    if days is None:
        return
    while True:
        try:
            async with runtime.sessions() as session, session.begin():
                pruned = await prune_status_history(session, days)
            if pruned:
                log.info("%d status notifications older than %s days deleted", pruned, days)
            if pruned == BATCH:
                continue
        except Exception:
            log.exception("pruning status history failed")
        await asyncio.sleep(settings.retention_interval)
