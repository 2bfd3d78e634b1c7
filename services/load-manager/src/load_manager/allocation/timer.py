"""Every site's round on a timer: time passing is an event too.

Underuse caps fall due, offline stations pass their grace and count at their maximum, and a
limit whose answer never came (its `command.completed` lost) is closed as timed out once it is
older than the command's timeout and its margin. Each round writes the site's sample of the
minute (its chart); samples older than `LOADS_SAMPLE_RETENTION_HOURS` go. Each site's round is
a transaction of its own, and one that fails stops no other: it is logged and counted in
`csms_loads_site_round_failures_total{site}` (the alert CsmsSiteRoundsFailing), and the next
site's round runs. Every replica runs the timer, and the site lock puts their rounds in a line.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from prometheus_client import Counter
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from csms_shared.bus.runtime import ServiceRuntime

from ..db import site_samples, stations
from ..settings import Settings
from . import rounds
from .core import Tick
from .intake import now

log = logging.getLogger(__name__)

ROUND_FAILURES = Counter(
    "csms_loads_site_round_failures_total",
    "Timer rounds of a site that failed (each logged); the other sites' rounds went on",
    ["site"],
)


async def tick_site(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, site_id: int
) -> bool:
    """The timer round of one site, in a transaction of its own; False (logged, counted) when
    it failed."""
    failures = ROUND_FAILURES.labels(site=str(site_id))  # from 0, for the alert's `increase`
    overdue = timedelta(seconds=settings.command_timeout + settings.command_answer_margin)
    try:
        async with sessions() as session, session.begin():
            at = now()
            await rounds.run(
                session, settings, site_id, [Tick(at)], at, expire_before=at - overdue, sample=True
            )
    except Exception:
        failures.inc()
        log.exception("timer round of site %s failed; the other sites' rounds go on", site_id)
        return False
    return True


async def tick_all(sessions: async_sessionmaker[AsyncSession], settings: Settings) -> int:
    """One timer round of every site with a station, in site id order; how many ran."""
    async with sessions() as session:
        site_ids = sorted(await session.scalars(select(stations.c.site_id).distinct()))
    ran = 0
    for site_id in site_ids:
        ran += await tick_site(sessions, settings, site_id)
    keep = timedelta(hours=settings.sample_retention_hours)
    async with sessions() as session, session.begin():
        await session.execute(delete(site_samples).where(site_samples.c.at < now() - keep))
    return ran


async def allocation_timer(runtime: ServiceRuntime) -> None:
    """Run `tick_all` every `LOADS_ALLOCATION_INTERVAL` (a fault outside a site's round, such
    as the database gone, is logged and retried)."""
    settings: Settings = runtime.settings
    while True:
        await asyncio.sleep(settings.allocation_interval)
        try:
            await tick_all(runtime.sessions, settings)
        except Exception:
            log.exception("allocation timer round failed; retrying")
