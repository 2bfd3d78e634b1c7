"""Every site's round on a timer: time passing is an event too.

Underuse caps fall due, offline stations pass their grace and count at their maximum, and a
limit whose answer never came (its `command.completed` lost) is closed as timed out once it is
older than the command's timeout and its margin. Each round writes the site's sample of the
minute (its chart); samples older than `LOADS_SAMPLE_RETENTION_HOURS` go. Each site's round is
a transaction of its own; every replica runs the timer, and the site lock puts their rounds in
a line.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from sqlalchemy import delete, select

from csms_shared.bus.runtime import ServiceRuntime

from ..allocation import Tick
from ..allocation_db import site_samples
from ..db import stations
from ..settings import Settings
from . import rounds
from .follow import now

log = logging.getLogger(__name__)


async def tick_all(runtime: ServiceRuntime) -> int:
    """One timer round of every site with a station; how many sites ran."""
    settings: Settings = runtime.settings
    async with runtime.sessions() as session:
        site_ids = list(await session.scalars(select(stations.c.site_id).distinct()))
    overdue = timedelta(seconds=settings.command_timeout + settings.command_answer_margin)
    for site_id in site_ids:
        async with runtime.sessions() as session, session.begin():
            at = now()
            await rounds.run(
                session, settings, site_id, [Tick(at)], at, expire_before=at - overdue, sample=True
            )
    keep = timedelta(hours=settings.sample_retention_hours)
    async with runtime.sessions() as session, session.begin():
        await session.execute(delete(site_samples).where(site_samples.c.at < now() - keep))
    return len(site_ids)


async def allocation_timer(runtime: ServiceRuntime) -> None:
    """Run `tick_all` every `LOADS_ALLOCATION_INTERVAL` (a fault is logged and retried)."""
    settings: Settings = runtime.settings
    while True:
        await asyncio.sleep(settings.allocation_interval)
        try:
            await tick_all(runtime)
        except Exception:
            log.exception("allocation timer round failed; retrying")
