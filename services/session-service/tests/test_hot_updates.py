"""Meter data rewrites each of its running transactions once a group (1.6 MeterValues' sign of
life, a 2.0.1 Updated's fold): those updates are HOT, no index entry each, since no index of
`transactions` reads a column they write and its pages keep room for the new versions
(migration 0019; its way down and back in test_migrations.py). Before it, `last_seen_at` was
indexed and every one of them added an entry to all ten indexes of the table."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from session_service import meter_values as mv
from session_service import tx_event_store as store
from session_service.db import transactions
from session_service.tx_fold import Fold

_AT = datetime(2026, 11, 29, 14, 0, tzinfo=UTC)
_COUNTS = text(
    "SELECT pg_stat_get_xact_tuples_updated(oid), pg_stat_get_xact_tuples_hot_updated(oid)"
    " FROM pg_class WHERE oid = 'sessions.transactions'::regclass"
)


async def _open(session: AsyncSession, cp: str, version: str, station_tx: str | None) -> int:
    result = await session.execute(
        insert(transactions)
        .values(
            charge_point_id=cp,
            connector_id=1,
            id_tag="HOT",
            meter_start=0,
            start_time=_AT,
            last_seen_at=_AT,
            price_per_kwh=0,
            session_fee=0,
            currency="EUR",
            ocpp_version=version,
            station_transaction_id=station_tx,
        )
        .returning(transactions.c.id)
    )
    return int(result.scalar_one())


async def test_meter_data_rewrites_its_transactions_in_place(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    later = datetime(2026, 11, 29, 14, 5, tzinfo=UTC)
    async with sessions() as session:
        v16 = await _open(session, "CP-HOT-16", "1.6", None)
        v201 = await _open(session, "CP-HOT-201", "2.0.1", "hot-1")
        locked = await mv.lock_transactions(session, [v16])
        sign = mv.SignOfLife(locked[v16])
        sign.add(later, (later, Decimal("1234.5")))
        await mv.signs_of_life(session, [sign])
        values = store.TransactionValues(
            connector_id=1,
            evse_connector_id=1,
            meter_start=0,
            remote_start_id=None,
            reservation_id=None,
            last_seen_at=later,
            last_meter_wh=Decimal("1234.5"),
            last_meter_at=later,
            warnings=[],
            event_fold=Fold(),
        )
        await store.write_many(session, [(v201, values)])
        updated, hot = (await session.execute(_COUNTS)).one()
        rows = (
            await session.execute(
                text(
                    "SELECT id, last_seen_at, last_meter_wh FROM sessions.transactions"
                    " WHERE id = ANY(:ids) ORDER BY id"
                ),
                {"ids": [v16, v201]},
            )
        ).all()
        await session.rollback()
    assert [tuple(row) for row in rows] == [
        (v16, later, Decimal("1234.5")),
        (v201, later, Decimal("1234.5")),
    ]
    assert (updated, hot) == (2, 2)
