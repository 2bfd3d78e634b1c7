"""The background sweep: commands about stored profiles that never got an outcome given up.

command-api answers every request it runs with a `command.completed` within the request's
timeout (`LOADS_COMMAND_TIMEOUT`); one still outstanding `LOADS_COMMAND_ANSWER_MARGIN` later
was lost on the way (a request command-api never ran, an event lost): its row becomes `failed`,
"no answer", and the station's next command leaves, instead of the station waiting forever.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from csms_shared.bus.runtime import ServiceRuntime
from csms_shared.ocpp._base import utcnow

from ..db import profile_stations
from ..settings import Settings
from .answers import give_up

log = logging.getLogger(__name__)

BATCH = 100


async def sweep_once(session: AsyncSession, settings: Settings) -> list[str]:
    """Give up the commands outstanding too long, in one DB transaction: their stations."""
    ps = profile_stations.c
    cutoff = utcnow() - timedelta(seconds=settings.command_timeout + settings.command_answer_margin)
    stale = (
        await session.execute(
            select(ps.charge_point_id, ps.request_id)
            .where(ps.request_id.is_not(None), ps.requested_at < cutoff)
            .order_by(ps.requested_at)
            .limit(BATCH)
        )
    ).all()
    return [
        row.charge_point_id
        for row in stale
        if await give_up(session, settings, row.charge_point_id, row.request_id)
    ]


async def sweep(runtime: ServiceRuntime) -> None:
    """Sweep every `sweep_interval` seconds; replicas may sweep at once (stations' locks
    decide, and a command settled meanwhile is left alone)."""
    settings: Settings = runtime.settings
    while True:
        try:
            async with runtime.sessions() as session, session.begin():
                given_up = await sweep_once(session, settings)
            if given_up:
                log.warning("profile commands without an answer given up: %s", given_up)
        except Exception:
            log.exception("sweep failed")
        await asyncio.sleep(settings.sweep_interval)
