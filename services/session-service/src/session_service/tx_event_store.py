"""Reads and writes of 2.0.1 transactions: the row by the station's transactionId, locked; the
TransactionEvents applied to it (one per seqNo, with their answers)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Row, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from csms_shared.ocpp.version import OcppVersion

from .db import transaction_events, transactions
from .settings import Settings
from .tariffs import prices
from .tx_events import EventSummary

tx = transactions.c
ev = transaction_events.c
V201 = OcppVersion.V201.value


def _locked(cp_id: str, station_tx: str) -> Any:
    return (
        select(transactions)
        .where(tx.charge_point_id == cp_id, tx.station_transaction_id == station_tx)
        .with_for_update()
    )


async def lock_transaction(
    session: AsyncSession,
    settings: Settings,
    cp_id: str,
    station_tx: str,
    summary: EventSummary,
    received: datetime,
) -> tuple[Row[Any], bool]:
    """The transaction `station_tx` of the CP, locked until the commit (which serializes its
    events across replicas), and whether this event created it. A new one starts with what the
    event says; the fold of its events fills in the rest."""
    row = (await session.execute(_locked(cp_id, station_tx))).first()
    if row is not None:
        return row, False
    [price] = await prices(session, settings, [(cp_id, summary.timestamp)])
    inserted = (
        await session.execute(
            pg_insert(transactions)
            .values(
                charge_point_id=cp_id,
                ocpp_version=V201,
                station_transaction_id=station_tx,
                connector_id=summary.evse_id or 0,
                meter_start=0,
                start_time=summary.timestamp,
                tariff_id=price.tariff_id,
                price_per_kwh=price.price_per_kwh,
                session_fee=price.session_fee,
                per_minute_fee=price.per_minute_fee,
                currency=price.currency,
                last_seen_at=received,
            )
            .on_conflict_do_nothing(constraint="uq_transactions_station")
            .returning(*transactions.c)
        )
    ).first()
    if inserted is not None:
        return inserted, True
    # A copy of this event or another one of the transaction created it first (the INSERT
    # waited for its commit).
    return (await session.execute(_locked(cp_id, station_tx))).one(), False


async def stored_response(
    session: AsyncSession, cp_id: str, station_tx: str, seq_no: int
) -> tuple[dict[str, Any], bytes] | None:
    """The answer given to this seqNo of the transaction before, and that event's digest."""
    row = (
        await session.execute(
            select(ev.response, ev.digest).where(
                ev.charge_point_id == cp_id,
                ev.station_transaction_id == station_tx,
                ev.seq_no == seq_no,
            )
        )
    ).first()
    return None if row is None else (row.response, bytes(row.digest))


async def summaries(session: AsyncSession, transaction_id: int) -> list[EventSummary]:
    """What the events applied to the transaction so far said."""
    rows = await session.scalars(
        select(ev.summary).where(ev.transaction_id == transaction_id).order_by(ev.seq_no)
    )
    return [EventSummary.from_json(summary) for summary in rows]


async def record_event(
    session: AsyncSession,
    cp_id: str,
    station_tx: str,
    transaction_id: int,
    summary: EventSummary,
    response: dict[str, Any],
    digest: bytes,
) -> None:
    """Keep an applied event: its summary (for later folds) and its answer (for copies)."""
    await session.execute(
        pg_insert(transaction_events).values(
            charge_point_id=cp_id,
            station_transaction_id=station_tx,
            seq_no=summary.seq_no,
            transaction_id=transaction_id,
            event_type=summary.event_type,
            summary=summary.to_json(),
            response=response,
            digest=digest,
        )
    )


async def write(session: AsyncSession, transaction_id: int, values: Mapping[str, Any]) -> Row[Any]:
    """Write a transaction's columns; the row as it is now."""
    return (
        await session.execute(
            update(transactions)
            .where(tx.id == transaction_id)
            .values(**values)
            .returning(*transactions.c)
        )
    ).one()
