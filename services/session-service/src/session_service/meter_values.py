"""Meter values: stored in batches, a digest per message against re-sends.

A batch of MeterValues messages (one, when not batched) costs a fixed set of statements, each
compiled once: one claim of every digest, one executemany of every sampled value, one lock of
the transactions they name, one UPDATE of those transactions' last seen and newest register.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any, TypedDict

import orjson
from sqlalchemy import Integer, Row, any_, bindparam, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from csms_shared.ocpp.v16.datatypes import MeterValue
from csms_shared.ocpp.v16.enums import ValueFormat

from .checks import INT32, fits
from .db import meter_value_messages, meter_values, transactions
from .energy import register_wh
from .tx_lifecycle import alive_again, wakes

tx = transactions.c

# Statements whose text does not depend on the batch size: arrays in, so asyncpg prepares each
# once per connection and SQLAlchemy compiles each once.
_CLAIM = text(
    f"INSERT INTO {meter_value_messages.fullname} (charge_point_id, digest)"
    " SELECT * FROM unnest(CAST(:cps AS varchar[]), CAST(:digests AS bytea[]))"
    " ON CONFLICT DO NOTHING RETURNING charge_point_id, digest"
)
_LOCK = (
    select(tx.id, tx.charge_point_id, tx.last_meter_at, tx.stale_since, tx.stop_time)
    .where(tx.id == any_(bindparam("ids", type_=ARRAY(Integer))))
    .order_by(tx.id)
    .with_for_update()
)
_SIGNS_OF_LIFE = text(
    f"UPDATE {transactions.fullname} AS t SET"
    " last_seen_at = greatest(t.last_seen_at, v.seen),"
    " last_meter_at = CASE WHEN v.meter_at IS NULL THEN t.last_meter_at ELSE v.meter_at END,"
    " last_meter_wh = CASE WHEN v.meter_at IS NULL THEN t.last_meter_wh ELSE v.meter_wh END,"
    " stale_since = CASE WHEN v.alive THEN NULL ELSE t.stale_since END"
    " FROM unnest(CAST(:ids AS integer[]), CAST(:seen AS timestamptz[]),"
    " CAST(:meter_at AS timestamptz[]), CAST(:meter_wh AS numeric[]), CAST(:alive AS boolean[]))"
    " AS v(id, seen, meter_at, meter_wh, alive)"
    " WHERE t.id = v.id"
)


# One row per sampled value, as arrays: one INSERT whatever the number of rows (an executemany
# costs SQLAlchemy and asyncpg a parameter set per row).
_ROW_COLUMNS = (
    ("charge_point_id", "varchar"),
    ("connector_id", "integer"),
    ("transaction_id", "integer"),
    ("timestamp", "timestamptz"),
    ("value", "text"),
    ("context", "varchar"),
    ("format", "varchar"),
    ("measurand", "varchar"),
    ("phase", "varchar"),
    ("location", "varchar"),
    ("unit", "varchar"),
    ("source", "varchar"),
    ("received_at", "timestamptz"),
    ("signed", "text"),  # JSON text, cast below
)
_INSERT_ROWS = text(
    f"INSERT INTO {meter_values.fullname} ({', '.join(name for name, _ in _ROW_COLUMNS)})"
    f" SELECT {', '.join(name for name, _ in _ROW_COLUMNS[:-1])}, CAST(signed AS jsonb)"
    " FROM unnest("
    + ", ".join(f"CAST(:{name} AS {kind}[])" for name, kind in _ROW_COLUMNS)
    + f") AS v({', '.join(name for name, _ in _ROW_COLUMNS)})"
)


class MeterRow(TypedDict):
    """A sampledValue as stored (meter_values), every field as the CP sent it."""

    charge_point_id: str
    connector_id: int
    transaction_id: int | None
    timestamp: datetime
    value: str
    context: str | None
    format: str | None
    measurand: str | None
    phase: str | None
    location: str | None
    unit: str | None
    source: str
    received_at: datetime
    # The meter's signature over the reading, as JSON text (vocabulary.SignedData's camelCase).
    signed: str | None


def _enum(value: Enum | None) -> str | None:
    return None if value is None else str(value.value)


def sampled_rows(
    readings: list[MeterValue],
    *,
    cp_id: str,
    connector_id: int,
    transaction_id: int | None,
    source: str,
    received: datetime,
) -> list[MeterRow]:
    """One row per sampledValue, every field kept as sent."""
    return [
        MeterRow(
            charge_point_id=cp_id,
            connector_id=connector_id,
            transaction_id=transaction_id,
            timestamp=reading.timestamp,
            value=sv.value,
            context=_enum(sv.context),
            format=_enum(sv.format),
            measurand=_enum(sv.measurand),
            phase=_enum(sv.phase),
            location=_enum(sv.location),
            unit=_enum(sv.unit),
            source=source,
            received_at=received,
            # 1.6: a sample of format SignedData has the signed data as its value.
            signed=orjson.dumps({"signedMeterData": sv.value}).decode()
            if sv.format is ValueFormat.SIGNED_DATA
            else None,
        )
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


async def claim_messages(session: AsyncSession, keys: list[tuple[str, bytes]]) -> list[bool]:
    """For each (CP, digest): True the first time that content is seen, False for a copy
    (stored before, or earlier in `keys`)."""
    unique = list(dict.fromkeys(keys))
    result = await session.execute(
        _CLAIM, {"cps": [cp for cp, _ in unique], "digests": [d for _, d in unique]}
    )
    fresh = {(row.charge_point_id, bytes(row.digest)) for row in result}
    first: list[bool] = []
    for key in keys:
        first.append(key in fresh)
        fresh.discard(key)
    return first


async def insert_rows(session: AsyncSession, rows: Sequence[MeterRow]) -> None:
    """Store sampled values (`sampled_rows`): one statement, whatever the number of rows."""
    if rows:
        await session.execute(_INSERT_ROWS, _arrays(rows))


def _arrays(rows: Sequence[Mapping[str, object]]) -> dict[str, list[object]]:
    return {name: [row[name] for row in rows] for name, _ in _ROW_COLUMNS}


# A row of _LOCK: id, charge_point_id, last_meter_at, stale_since, stop_time.
Locked = Row[int, str, datetime | None, datetime | None, datetime | None]


async def lock_transactions(session: AsyncSession, ids: Iterable[int]) -> dict[int, Locked]:
    """The named transactions that exist, locked until the batch commits (in id order). An
    id past 32 bits names none of ours."""
    wanted = sorted({one for one in ids if fits(one, INT32)})
    if not wanted:
        return {}
    return {row.id: row for row in await session.execute(_LOCK, {"ids": wanted})}


@dataclass(slots=True)
class SignOfLife:
    """What a batch's meter values tell about one transaction."""

    row: Locked
    seen: datetime | None = None
    register: tuple[datetime, Decimal] | None = None

    def add(self, received: datetime, register: tuple[datetime, Decimal] | None) -> None:
        """One message's arrival and its newest register reading (the later message wins a tie)."""
        self.seen = received if self.seen is None else max(self.seen, received)
        if register is not None and (self.register is None or register[0] >= self.register[0]):
            self.register = register


async def signs_of_life(session: AsyncSession, signs: Iterable[SignOfLife]) -> None:
    """Meter values arrived for open or closed transactions: last seen, newest register, and
    no longer stale; one UPDATE for all of them."""
    ids: list[int] = []
    seen: list[datetime | None] = []
    meter_at: list[datetime | None] = []
    meter_wh: list[Decimal | None] = []
    alive: list[bool] = []
    for sign in signs:
        row, register = sign.row, sign.register
        if (
            register is not None
            and row.last_meter_at is not None
            and row.last_meter_at > register[0]
        ):
            register = None  # an older reading than the one stored
        ids.append(row.id)
        seen.append(sign.seen)
        meter_at.append(register[0] if register else None)
        meter_wh.append(register[1] if register else None)
        alive.append(wakes(row))
        if alive[-1]:
            await alive_again(session, row.id, "meter values")
    if ids:
        await session.execute(
            _SIGNS_OF_LIFE,
            {"ids": ids, "seen": seen, "meter_at": meter_at, "meter_wh": meter_wh, "alive": alive},
        )


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
