"""Events the roaming service follows from the session-service: transactions, whose Sessions
and CDRs it sends to the eMSP of a roaming token they started with, and the meter values of
the stations where such a session runs (only theirs reach its queue: `followed.py`)."""

from __future__ import annotations

from csms_shared.contracts.session_events import (
    MeterValues,
    TransactionStarted,
    TransactionStopped,
)

from . import session_store, session_updates
from .location_documents import Publisher
from .router import Ctx, router


@router.event("transaction.started")
async def transaction_started(event: TransactionStarted, ctx: Ctx) -> None:
    if await session_store.started(ctx.session, event, Publisher.of(ctx.settings)):
        if ctx.stations is not None:  # its meter values from now on (bound before the commit)
            await ctx.stations.follow([event.charge_point_id])


@router.event("transaction.stopped")
async def transaction_stopped(event: TransactionStopped, ctx: Ctx) -> None:
    if await session_store.stopped(ctx.session, event, Publisher.of(ctx.settings)):
        cp = event.charge_point_id
        if ctx.stations is not None and not await session_store.still_running_at(ctx.session, cp):
            await ctx.stations.unfollow([cp])


@router.event("meter.values", per_station=True)
async def meter_values(event: MeterValues, ctx: Ctx) -> None:
    """A running roaming session's kWh and cost so far, sent to its eMSP now and then."""
    await session_updates.metered(
        ctx.session,
        event,
        Publisher.of(ctx.settings),
        ctx.settings.session_update_interval,
        ctx.rpc,
    )
