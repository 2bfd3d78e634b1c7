"""Meter values: one multi-row INSERT per message, a digest per message against re-sends."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Row, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from csms_shared.ocpp.v16.datatypes import MeterValue

from .db import meter_value_messages, meter_values, transactions
from .energy import register_wh
from .transactions import audit

# asyncpg binds at most 32767 parameters per statement; a row binds 13.
CHUNK = 2000
tx = transactions.c


def _enum(value: Any) -> str | None:
    return None if value is None else str(value.value)


def sampled_rows(
    readings: list[MeterValue],
    *,
    cp_id: str,
    connector_id: int,
    transaction_id: int | None,
    source: str,
    received: datetime,
) -> list[dict[str, Any]]:
    """One row per sampledValue, every field kept as sent."""
    return [
        {
            "charge_point_id": cp_id,
            "connector_id": connector_id,
            "transaction_id": transaction_id,
            "timestamp": reading.timestamp,
            "value": sv.value,
            "context": _enum(sv.context),
            "format": _enum(sv.format),
            "measurand": _enum(sv.measurand),
            "phase": _enum(sv.phase),
            "location": _enum(sv.location),
            "unit": _enum(sv.unit),
            "source": source,
            "received_at": received,
        }
        for reading in readings
        for sv in reading.sampled_value
    ]


def newest_register(readings: list[MeterValue]) -> tuple[datetime, Decimal] | None:
    """The newest reading of the active import register, in Wh, with its time."""
    best: tuple[datetime, Decimal] | None = None
    for reading in readings:
        for sv in reading.sampled_value:
            wh = register_wh(
                sv.value,
                measurand=sv.measurand,
                format=sv.format,
                phase=sv.phase,
                location=sv.location,
                unit=sv.unit,
            )
            if wh is not None and (best is None or reading.timestamp >= best[0]):
                best = (reading.timestamp, wh)
    return best


async def claim_message(session: AsyncSession, cp_id: str, digest: bytes) -> bool:
    """True the first time this message content is seen from this CP; False for a copy."""
    result = await session.execute(
        pg_insert(meter_value_messages)
        .values(charge_point_id=cp_id, digest=digest)
        .on_conflict_do_nothing()
        .returning(meter_value_messages.c.digest)
    )
    return result.first() is not None


async def insert_rows(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Store sampled values: one multi-row INSERT (split only past the parameter limit)."""
    for start in range(0, len(rows), CHUNK):
        await session.execute(insert(meter_values).values(rows[start : start + CHUNK]))


async def sign_of_life(
    session: AsyncSession,
    row: Row[Any],
    received: datetime,
    register: tuple[datetime, Decimal] | None,
) -> None:
    """Meter values arrived for an open or closed transaction: last seen, newest register."""
    values: dict[str, Any] = {"last_seen_at": func.greatest(tx.last_seen_at, received)}
    if register is not None and (row.last_meter_at is None or row.last_meter_at <= register[0]):
        values |= {"last_meter_at": register[0], "last_meter_wh": register[1]}
    if row.stale_since is not None and row.stop_time is None:
        values["stale_since"] = None
        await audit(session, row.id, "alive_again", reason="meter values arrived")
    await session.execute(update(transactions).where(tx.id == row.id).values(**values))


async def for_transaction(
    session: AsyncSession, transaction_id: int, *, limit: int, offset: int
) -> list[Row[Any]]:
    """A transaction's sampled values in time order."""
    mv = meter_values.c
    return list(
        (
            await session.execute(
                select(meter_values)
                .where(mv.transaction_id == transaction_id)
                .order_by(mv.timestamp, mv.id)
                .limit(limit)
                .offset(offset)
            )
        ).all()
    )
