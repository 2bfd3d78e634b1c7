"""The background sweep: stale transactions flagged, reservations expired, digests and old
charging states pruned."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from sqlalchemy import delete, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from csms_shared.bus.runtime import ServiceRuntime
from csms_shared.ocpp._base import utcnow

from . import reservations
from .db import charging_states, meter_value_messages, transactions
from .settings import Settings
from .tx_lifecycle import flag_stale

log = logging.getLogger(__name__)

# Charge points re-send queued MeterValues for hours, rarely days: a month of digests is ample.
DIGEST_RETENTION = timedelta(days=30)
PRUNE_BATCH = 10_000
# A transaction's charging states count its parking time at its stop (and a 2.0.1 event that
# comes days late counts it again): a month after they began, those of ended transactions go.
CHARGING_STATE_RETENTION = timedelta(days=30)


async def sweep_once(session: AsyncSession, settings: Settings) -> tuple[list[int], int, int]:
    """One sweep in one DB transaction: (stale ids flagged, reservations expired, pruned)."""
    now = utcnow()
    stale = await flag_stale(session, now, settings.stale_after)
    expired = await reservations.expire(session, now)
    m = meter_value_messages.c
    old = (
        select(m.charge_point_id, m.digest)
        .where(m.received_at < now - DIGEST_RETENTION)
        .limit(PRUNE_BATCH)
    )
    pruned = await session.execute(
        delete(meter_value_messages)
        .where(tuple_(m.charge_point_id, m.digest).in_(old))
        .returning(m.digest)
    )
    return stale, expired, len(pruned.all()) + await prune_charging_states(session, now)


async def prune_charging_states(session: AsyncSession, now: datetime) -> int:
    """Delete up to PRUNE_BATCH charging states older than CHARGING_STATE_RETENTION of
    transactions that ended; how many went (those of a transaction still open stay)."""
    c, t = charging_states.c, transactions.c
    old = (
        select(c.transaction_id, c.at, c.state)
        .join(transactions, t.id == c.transaction_id)
        .where(c.at < now - CHARGING_STATE_RETENTION, t.stop_time.is_not(None))
        .limit(PRUNE_BATCH)
    )
    gone = await session.execute(
        delete(charging_states)
        .where(tuple_(c.transaction_id, c.at, c.state).in_(old))
        .returning(c.transaction_id)
    )
    return len(gone.all())


async def sweep(runtime: ServiceRuntime) -> None:
    """Sweep every `sweep_interval` seconds; replicas may sweep at once (row locks decide)."""
    settings: Settings = runtime.settings
    while True:
        try:
            async with runtime.sessions() as session, session.begin():
                stale, expired, pruned = await sweep_once(session, settings)
            if stale:
                log.warning("transactions flagged stale (no sign of life): %s", stale)
            if expired or pruned:
                log.info(
                    "%d reservations expired, %d message digests and charging states pruned",
                    expired,
                    pruned,
                )
        except Exception:
            log.exception("sweep failed")
        await asyncio.sleep(settings.sweep_interval)
