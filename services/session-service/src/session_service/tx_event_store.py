"""Reads and writes of 2.0.1 transactions: the row by the station's transactionId, locked; the
TransactionEvents applied to it (one per seqNo, with their answers).

One event's transaction (`lock_transaction`, creating it when new; `write`), or a group's
(`lock_many`, `write_many`); earlier answers (`stored_responses`) and applied events
(`record_events`) for one event or many: fixed statements, arrays in, so asyncpg prepares each
once per connection and SQLAlchemy compiles each once, as meter_values.py does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple, Required, TypedDict

import orjson
from sqlalchemy import ColumnElement, Row, Text, cast, literal, select, text, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from csms_shared.ocpp.v201.messages import TransactionEventResponse
from csms_shared.ocpp.version import OcppVersion

from .db import transaction_events, transactions
from .settings import Settings
from .tariffs import prices
from .tx_events import EventSummary
from .tx_fold import Fold

tx = transactions.c
ev = transaction_events.c
V201 = OcppVersion.V201.value


class TransactionValues(TypedDict, total=False):
    """The columns a TransactionEvent writes to its transaction (`write`; `write_many` writes
    the `WRITTEN` ones)."""

    connector_id: Required[int]
    evse_connector_id: Required[int | None]
    id_tag: Required[str | None]
    id_token_type: Required[str | None]
    id_tag_status: Required[str | None]
    charging_priority: Required[int]
    meter_start: Required[int]
    start_time: Required[datetime]
    remote_start_id: Required[int | None]
    reservation_id: Required[int | None]
    last_seen_at: Required[datetime]
    last_meter_wh: Required[Decimal | None]
    last_meter_at: Required[datetime | None]
    warnings: Required[list[str]]
    event_fold: Required[Fold]
    # The prices, when a late Started moved the start.
    tariff_id: int | None
    price_per_kwh: Decimal
    session_fee: Decimal
    per_minute_fee: Decimal
    parking_per_minute_fee: Decimal
    currency: str
    vat: Decimal | None
    # Where the first token's decision came from, once decided (auth.token_source).
    id_token_source: str
    roaming_party: str | None
    stale_since: None  # alive again
    # The end, when the events ended it, is written as 1.6's is (transactions.apply_stops).


def _jsonb(fold: Fold) -> ColumnElement[Any]:
    # The fold's own JSON, cast by Postgres: the jsonb type's bind would encode it again.
    return cast(literal(fold.to_json().decode(), Text), JSONB)


def _locked(cp_id: str, station_tx: str) -> Any:
    return (
        select(transactions)
        .where(tx.charge_point_id == cp_id, tx.station_transaction_id == station_tx)
        .with_for_update()
    )


class StartedWith(NamedTuple):
    """What a stored transaction was started with: its first idToken and the status that got
    (None: not started by a token, or not judged yet), its EVSE (0: none named yet) and the
    reservation its events named."""

    id_tag: str | None
    status: str | None
    connector_id: int
    reservation_id: int | None


async def started_with(session: AsyncSession, cp_id: str, station_tx: str) -> StartedWith | None:
    """What transaction `station_tx` of the CP was started with (None: not stored yet). A
    plain read, no lock."""
    row = (
        await session.execute(
            select(tx.id_tag, tx.id_tag_status, tx.connector_id, tx.reservation_id).where(
                tx.charge_point_id == cp_id, tx.station_transaction_id == station_tx
            )
        )
    ).first()
    return StartedWith(*row) if row is not None else None


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
                parking_per_minute_fee=price.parking_per_minute_fee,
                currency=price.currency,
                vat=price.vat,
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


async def write(session: AsyncSession, transaction_id: int, values: TransactionValues) -> Row[Any]:
    """Write a transaction's columns; the row as it is now."""
    columns = {**values, "event_fold": _jsonb(values["event_fold"])}
    return (
        await session.execute(
            update(transactions)
            .where(tx.id == transaction_id)
            .values(columns)
            .returning(*transactions.c)
        )
    ).one()


# -- a group's events ------------------------------------------------------------------------

Key = tuple[str, str]  # (charge point, the station's transactionId)
Seq = tuple[str, str, int]  # (charge point, the station's transactionId, seqNo)
_COLUMNS = ", ".join(f"t.{c.name}" for c in transactions.c)
_LOCK_MANY = text(
    f"SELECT {_COLUMNS} FROM {transactions.fullname} AS t"
    " JOIN unnest(CAST(:cps AS varchar[]), CAST(:txs AS varchar[])) AS k(cp, stx)"
    " ON t.charge_point_id = k.cp AND t.station_transaction_id = k.stx"
    " ORDER BY t.id FOR UPDATE OF t"
).columns(*transactions.c)
_STORED_MANY = text(
    "SELECT e.charge_point_id, e.station_transaction_id, e.seq_no, e.response, e.digest"
    f" FROM {transaction_events.fullname} AS e"
    " JOIN unnest(CAST(:cps AS varchar[]), CAST(:txs AS varchar[]), CAST(:seqs AS bigint[]))"
    " AS k(cp, stx, seq)"
    " ON e.charge_point_id = k.cp AND e.station_transaction_id = k.stx AND e.seq_no = k.seq"
).columns(ev.charge_point_id, ev.station_transaction_id, ev.seq_no, ev.response, ev.digest)
# What an Updated event that decides nothing changes (tx_event_values's `values_of` for a
# transaction that has not ended, without a new price).
WRITTEN = (
    ("connector_id", "integer"),
    ("evse_connector_id", "integer"),
    ("meter_start", "bigint"),
    ("remote_start_id", "integer"),
    ("reservation_id", "integer"),
    ("last_seen_at", "timestamptz"),
    ("last_meter_wh", "numeric"),
    ("last_meter_at", "timestamptz"),
    ("warnings", "jsonb"),
    ("event_fold", "jsonb"),
)
_JSON = {"warnings", "event_fold"}
_WRITE_MANY = text(
    f"UPDATE {transactions.fullname} AS t SET "
    + ", ".join(f"{name} = v.{name}" for name, _ in WRITTEN)
    + " FROM unnest(CAST(:id AS integer[]), "
    + ", ".join(f"CAST(:{name} AS {kind}[])" for name, kind in WRITTEN)
    + ") AS v(id, "
    + ", ".join(name for name, _ in WRITTEN)
    + ") WHERE t.id = v.id"
)
_RECORD_MANY = text(
    f"INSERT INTO {transaction_events.fullname} (charge_point_id, station_transaction_id,"
    " seq_no, transaction_id, event_type, summary, response, digest)"
    " SELECT * FROM unnest(CAST(:cps AS varchar[]), CAST(:txs AS varchar[]),"
    " CAST(:seqs AS bigint[]), CAST(:ids AS integer[]), CAST(:types AS varchar[]),"
    " CAST(:summaries AS jsonb[]), CAST(:responses AS jsonb[]), CAST(:digests AS bytea[]))"
)


async def lock_many(session: AsyncSession, keys: Sequence[Key]) -> dict[Key, Row[Any]]:
    """The named transactions that exist, locked until the commit (in id order)."""
    unique = list(dict.fromkeys(keys))
    rows = await session.execute(
        _LOCK_MANY, {"cps": [cp for cp, _ in unique], "txs": [stx for _, stx in unique]}
    )
    return {(row.charge_point_id, row.station_transaction_id): row for row in rows}


async def stored_responses(
    session: AsyncSession, keys: Sequence[Seq]
) -> dict[Seq, tuple[TransactionEventResponse, bytes]]:
    """The answers given before to these (CP, transactionId, seqNo), with their digests."""
    rows = await session.execute(
        _STORED_MANY,
        {
            "cps": [cp for cp, _, _ in keys],
            "txs": [stx for _, stx, _ in keys],
            "seqs": [seq for _, _, seq in keys],
        },
    )
    return {
        (row.charge_point_id, row.station_transaction_id, row.seq_no): (
            TransactionEventResponse.model_validate(row.response),
            bytes(row.digest),
        )
        for row in rows
    }


async def write_many(
    session: AsyncSession, written: Sequence[tuple[int, TransactionValues]]
) -> None:
    """Write the `WRITTEN` columns of many transactions (id, values): one UPDATE."""
    if not written:
        return
    params: dict[str, list[object]] = {"id": [transaction_id for transaction_id, _ in written]}
    rows: list[Mapping[str, object]] = [values for _, values in written]
    for name, _ in WRITTEN:
        if name not in _JSON:
            params[name] = [row[name] for row in rows]
    # The JSON columns as text, cast to jsonb by the statement.
    params["warnings"] = [orjson.dumps(values["warnings"]).decode() for _, values in written]
    params["event_fold"] = [values["event_fold"].to_json().decode() for _, values in written]
    await session.execute(_WRITE_MANY, params)


@dataclass(frozen=True, slots=True)
class Applied:
    """An event applied to its transaction, to keep (`record_event`'s arguments)."""

    cp_id: str
    station_tx: str
    transaction_id: int
    summary: EventSummary
    response: TransactionEventResponse
    digest: bytes


async def record_events(session: AsyncSession, applied: Sequence[Applied]) -> None:
    """`record_event` for many events: one INSERT."""
    if not applied:
        return
    await session.execute(
        _RECORD_MANY,
        {
            "cps": [a.cp_id for a in applied],
            "txs": [a.station_tx for a in applied],
            "seqs": [a.summary.seq_no for a in applied],
            "ids": [a.transaction_id for a in applied],
            "types": [a.summary.event_type for a in applied],
            "summaries": [a.summary.to_json().decode() for a in applied],
            "responses": [orjson.dumps(a.response.to_payload()).decode() for a in applied],
            "digests": [a.digest for a in applied],
        },
    )
