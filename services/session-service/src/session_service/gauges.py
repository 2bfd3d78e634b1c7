"""session-service's sampled gauges: active and stale transactions (csms_shared.samples)."""

from __future__ import annotations

from prometheus_client import Gauge
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from csms_shared.samples import Sampler

from .db import transactions

ACTIVE = Gauge("csms_transactions_active", "Transactions started and not stopped")
STALE = Gauge(
    "csms_transactions_stale",
    "Active transactions the sweep marked stale: no sign of life from their CP for too long",
)


def transactions_sampler(engine: AsyncEngine) -> Sampler:
    """Active and stale transactions, in one query."""
    tx = transactions.c
    query = select(
        func.count(),
        func.count().filter(tx.stale_since.is_not(None)),
    ).where(tx.stop_time.is_(None))

    async def sample() -> None:
        async with engine.connect() as connection:
            active, stale = (await connection.execute(query)).one()
        ACTIVE.set(active)
        STALE.set(stale)

    return sample
