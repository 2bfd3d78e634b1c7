"""Writes of transactions: start, stop, unmatched stops, audit (what a start, a sign of life
and an end do besides: tx_lifecycle.py)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypedDict

import orjson
from pydantic import JsonValue
from sqlalchemy import Row, RowMapping, bindparam, insert, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from csms_shared.ocpp import JsonObject

from . import charging_states
from .db import tariffs, transaction_audit, transactions, unmatched_stops
from .energy import cost, duration_seconds, energy_wh

tx = transactions.c

CHARGE_POINT = "ChargePoint"
OPERATOR = "operator"
SERVICE = "session-service"


def digest(*parts: Any) -> bytes:
    """A stable SHA-256 of JSON-able parts: the identity of a message's content."""
    # json, not orjson: a CP may send integers beyond 64 bits, which orjson refuses.
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).digest()


async def audit(
    session: AsyncSession,
    transaction_id: int,
    action: str,
    *,
    actor: str = SERVICE,
    reason: str | None = None,
    details: Mapping[str, JsonValue] | None = None,
) -> None:
    """Record what happened to a transaction besides its start and stop."""
    await session.execute(
        insert(transaction_audit).values(
            transaction_id=transaction_id,
            action=action,
            actor=actor,
            reason=reason,
            details=dict(details or {}),
        )
    )


# Every column by name: `RETURNING *` would map them by position, and a column a migration
# added sits last in the table but wherever db.py declares it.
_ALL_COLUMNS = ", ".join(column.name for column in transactions.c)

# Built once (the values come as parameters, arrays for a group of calls): building a statement
# costs more than running it, and asyncpg prepares each once per connection.
_START_COLUMNS = (
    ("charge_point_id", "varchar"),
    ("connector_id", "integer"),
    ("evse_connector_id", "integer"),
    ("id_tag", "varchar"),
    ("id_token_type", "varchar"),
    ("id_tag_status", "varchar"),
    ("meter_start", "bigint"),
    ("start_time", "timestamptz"),
    ("reservation_id", "integer"),
    ("charging_priority", "smallint"),
    ("tariff_id", "integer"),
    ("price_per_kwh", "numeric"),
    ("session_fee", "numeric"),
    ("per_minute_fee", "numeric"),
    ("parking_per_minute_fee", "numeric"),
    ("currency", "varchar"),
    ("last_seen_at", "timestamptz"),
    ("ocpp_version", "varchar"),
    ("id_token_source", "varchar"),
    ("roaming_party", "varchar"),
    ("warnings", "text"),  # JSON text, cast below
)
# A tariff's prices (its parking fee among them) and VAT rate are copied from its row as this
# statement reads it, all from one snapshot: were the tariff changed since `tariffs.prices` chose
# it, the start is priced as if it came after the change, never by old prices with a new rate.
# The start's own prices stand when it names no tariff (SESSION_TARIFF_*, which state no VAT).
# Rows are inserted in the order given (the join may reorder them), so ids follow the group's
# charge point order.
_PRICES = ("price_per_kwh", "session_fee", "per_minute_fee", "parking_per_minute_fee", "currency")
_START_VALUES = ", ".join(
    f"COALESCE(p.{name}, v.{name})" if name in _PRICES else f"v.{name}"
    for name, _ in _START_COLUMNS[:-1]
)
_INSERT_STARTS = text(
    f"INSERT INTO {transactions.fullname}"
    f" ({', '.join(name for name, _ in _START_COLUMNS)}, vat)"
    f" SELECT {_START_VALUES}, CAST(v.warnings AS jsonb), p.vat"
    " FROM unnest("
    + ", ".join(f"CAST(:{name} AS {kind}[])" for name, kind in _START_COLUMNS)
    + f") WITH ORDINALITY AS v({', '.join(name for name, _ in _START_COLUMNS)}, n)"
    f" LEFT JOIN {tariffs.fullname} AS p ON p.id = v.tariff_id"
    " ORDER BY v.n"
    " ON CONFLICT ON CONSTRAINT uq_transactions_start DO NOTHING"
    f" RETURNING {_ALL_COLUMNS}"
).columns(*transactions.c)
_EXISTING_START = select(transactions).where(
    tx.charge_point_id == bindparam("charge_point_id"),
    tx.connector_id == bindparam("connector_id"),
    tx.id_tag == bindparam("id_tag"),
    tx.start_time == bindparam("start_time"),
    tx.meter_start == bindparam("meter_start"),
    tx.station_transaction_id.is_(None),
)
_STOP_COLUMNS = (
    ("id", "integer"),
    ("meter_stop", "bigint"),
    ("stop_time", "timestamptz"),
    ("stop_reason", "varchar"),
    ("stop_id_tag", "varchar"),
    ("stopped_by", "varchar"),
    ("close_reason", "text"),
    ("energy_wh", "bigint"),
    ("cost", "numeric"),
    ("cost_excl_vat", "numeric"),
    ("parking_seconds", "integer"),
    ("warnings", "text"),  # JSON text, cast below
)
_APPLY_STOPS = text(
    f"UPDATE {transactions.fullname} AS t SET "
    + ", ".join(f"{name} = v.{name}" for name, _ in _STOP_COLUMNS[1:-1])
    + ", warnings = CAST(v.warnings AS jsonb) FROM unnest("
    + ", ".join(f"CAST(:{name} AS {kind}[])" for name, kind in _STOP_COLUMNS)
    + f") AS v({', '.join(name for name, _ in _STOP_COLUMNS)})"
    " WHERE t.id = v.id RETURNING " + ", ".join(f"t.{column.name}" for column in transactions.c)
).columns(*transactions.c)


@dataclass(frozen=True, slots=True)
class Priced:
    """A transaction's start figures and prices, as `stop_values` reads them (a stored row
    serves as well): a 2.0.1 transaction's come from its events (tx_events.fold)."""

    id: int
    meter_start: int
    start_time: datetime
    price_per_kwh: Decimal
    session_fee: Decimal
    per_minute_fee: Decimal
    parking_per_minute_fee: Decimal
    vat: Decimal | None
    warnings: list[str]


class StartRow(TypedDict):
    """What a StartTransaction writes: a new transaction (`insert_starts`, which copies a
    tariff's prices and VAT rate from its row)."""

    charge_point_id: str
    connector_id: int
    evse_connector_id: int | None
    id_tag: str
    id_token_type: str
    id_tag_status: str
    meter_start: int
    start_time: datetime
    reservation_id: int | None
    charging_priority: int
    tariff_id: int | None
    price_per_kwh: Decimal
    session_fee: Decimal
    per_minute_fee: Decimal
    parking_per_minute_fee: Decimal
    currency: str
    last_seen_at: datetime
    ocpp_version: str  # the version of the call that opened it (never assumed)
    id_token_source: str
    roaming_party: str | None
    warnings: list[str]


class StopRow(TypedDict):
    """What stopping a transaction writes (`stop_values`, `apply_stops`)."""

    id: int
    meter_stop: int
    stop_time: datetime
    stop_reason: str | None
    stop_id_tag: str | None
    stopped_by: str
    close_reason: str | None
    energy_wh: int
    cost: Decimal  # what the driver pays: incl. VAT when the transaction has a rate
    cost_excl_vat: Decimal
    parking_seconds: int
    warnings: list[str]


_START_KEY = ("charge_point_id", "connector_id", "id_tag", "start_time", "meter_start")


def _start_key(values: Mapping[str, Any] | RowMapping) -> tuple[Any, ...]:
    # The unique constraint uq_transactions_start; times compared as instants.
    return (
        values["charge_point_id"],
        values["connector_id"],
        values["id_tag"],
        values["start_time"].astimezone(UTC),
        values["meter_start"],
    )


def _start_params(values: Mapping[str, object]) -> dict[str, object]:
    return {name: values[name] for name in _START_KEY}


def _arrays(
    rows: Sequence[Mapping[str, object]], columns: tuple[tuple[str, str], ...]
) -> dict[str, list[object]]:
    """One array parameter per column; `warnings` (the last column) as JSON text."""
    params: dict[str, list[object]] = {name: [] for name, _ in columns}
    for values in rows:
        for name, _ in columns[:-1]:
            params[name].append(values[name])
        params["warnings"].append(orjson.dumps(values["warnings"]).decode())
    return params


async def insert_starts(
    session: AsyncSession, starts: Sequence[StartRow]
) -> list[tuple[Row[Any], bool]]:
    """The transaction of each StartTransaction, and whether it is new (False: a re-send).

    One INSERT for them all; no two may share a charge point (StartTransaction inserts one).
    """
    params = _arrays(starts, _START_COLUMNS)
    inserted = {
        _start_key(row._mapping): row for row in await session.execute(_INSERT_STARTS, params)
    }
    found: list[tuple[Row[Any], bool]] = []
    for values in starts:
        row = inserted.get(_start_key(values))
        if row is not None:
            found.append((row, True))
        else:
            # A concurrent copy committed first (the INSERT waited for it) or an earlier one did.
            keys = _start_params(values)
            found.append(((await session.execute(_EXISTING_START, keys)).one(), False))
    return found


async def load_for_update(session: AsyncSession, transaction_id: int) -> Row[Any] | None:
    """A transaction, locked until this message commits."""
    return (
        await session.execute(select(transactions).where(tx.id == transaction_id).with_for_update())
    ).first()


def stop_values(
    row: Row[Any] | Priced,
    *,
    meter_stop: int,
    stop_time: datetime,
    reason: str | None,
    stop_id_tag: str | None,
    stopped_by: str,
    close_reason: str | None = None,
    warnings: Sequence[str] = (),
    parking_seconds: int = 0,
) -> StopRow:
    """What stopping a transaction writes: meterStop, energy, its parking time (counted from
    its charging states: `charging_states.parking_of`), cost (excl. VAT beside it), warnings."""
    energy, warning = energy_wh(row.meter_start, meter_stop)
    notes = [*warnings, *([warning] if warning else [])]
    if stop_time < row.start_time:
        notes.append("the stop timestamp is earlier than the start timestamp")
    priced = cost(
        energy,
        row.price_per_kwh,
        row.session_fee,
        per_minute_fee=row.per_minute_fee,
        seconds=duration_seconds(row.start_time, stop_time),
        parking_per_minute_fee=row.parking_per_minute_fee,
        parking_seconds=parking_seconds,
        vat=row.vat,
    )
    return StopRow(
        id=row.id,
        meter_stop=meter_stop,
        stop_time=stop_time,
        stop_reason=reason,
        stop_id_tag=stop_id_tag,
        stopped_by=stopped_by,
        close_reason=close_reason,
        energy_wh=energy,
        cost=priced.billed,
        cost_excl_vat=priced.excl_vat,
        parking_seconds=parking_seconds,
        warnings=[*(row.warnings or []), *notes],
    )


async def apply_stops(session: AsyncSession, stops: Sequence[StopRow]) -> dict[int, Row[Any]]:
    """Write `stop_values` of several transactions in one UPDATE; the updated rows by id."""
    if not stops:
        return {}
    params = _arrays(stops, _STOP_COLUMNS)
    return {row.id: row for row in await session.execute(_APPLY_STOPS, params)}


async def apply_stop(session: AsyncSession, row: Row[Any], **stop: Any) -> Row[Any]:
    """Stop one transaction (`stop_values`, with its parking time); returns the updated row."""
    spans = [(row.id, row.start_time, stop["stop_time"])]
    parked = (await charging_states.parking_of(session, spans))[row.id]
    return (await apply_stops(session, [stop_values(row, parking_seconds=parked, **stop)]))[row.id]


async def record_unmatched(
    session: AsyncSession,
    cp_id: str,
    kind: str,
    payload: JsonObject,
    *,
    transaction_id: int | None,
    id_tag: str | None,
    meter_stop: int | None,
    timestamp: datetime,
    reason: str | None,
    received: datetime,
) -> bool:
    """Keep a StopTransaction for review (once per content); False if it was kept already."""
    result = await session.execute(
        pg_insert(unmatched_stops)
        .values(
            charge_point_id=cp_id,
            transaction_id=transaction_id,
            kind=kind,
            id_tag=id_tag,
            meter_stop=meter_stop,
            timestamp=timestamp,
            reason=reason,
            payload=payload,
            digest=digest(kind, payload),
            received_at=received,
        )
        .on_conflict_do_nothing(constraint="uq_unmatched_stops_digest")
        .returning(unmatched_stops.c.id)
    )
    return result.first() is not None
