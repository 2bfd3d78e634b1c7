"""Events the roaming service follows from the session-service: transactions, whose Sessions
and CDRs it sends to the eMSP of a roaming token they started with."""

from __future__ import annotations

from csms_shared.contracts.session_events import TransactionStarted, TransactionStopped

from . import session_store
from .location_documents import Publisher
from .router import Ctx, router


@router.event("transaction.started")
async def transaction_started(event: TransactionStarted, ctx: Ctx) -> None:
    await session_store.started(ctx.session, event, Publisher.of(ctx.settings))


@router.event("transaction.stopped")
async def transaction_stopped(event: TransactionStopped, ctx: Ctx) -> None:
    await session_store.stopped(ctx.session, event, Publisher.of(ctx.settings))
