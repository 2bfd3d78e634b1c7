"""Writes of transactions: start, supersede, stop, unmatched stops, stale flags, audit."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, bindparam, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from .db import transaction_audit, transactions, unmatched_stops
from .energy import cost, energy_wh

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
    details: dict[str, Any] | None = None,
) -> None:
    """Record what happened to a transaction besides its start and stop."""
    await session.execute(
        insert(transaction_audit).values(
            transaction_id=transaction_id,
            action=action,
            actor=actor,
            reason=reason,
            details=details or {},
        )
    )


# Built once (the values come as parameters): building a statement costs more than running it.
_INSERT_START = (
    pg_insert(transactions)
    .on_conflict_do_nothing(constraint="uq_transactions_start")
    .returning(transactions)
)
_OPEN_ON_CONNECTOR = (
    select(tx.id, tx.start_time)
    .where(
        tx.charge_point_id == bindparam("cp"),
        tx.connector_id == bindparam("connector"),
        tx.stop_time.is_(None),
        tx.superseded_by.is_(None),
    )
    .order_by(tx.start_time.desc(), tx.id.desc())
    .with_for_update()
)
_STOP = update(transactions).where(tx.id == bindparam("tx_id")).returning(transactions)


async def insert_start(session: AsyncSession, values: dict[str, Any]) -> tuple[Row[Any], bool]:
    """The transaction of a StartTransaction, and whether it is new (False: a re-send)."""
    row = (await session.execute(_INSERT_START, values)).first()
    if row is not None:
        return row, True
    # A concurrent copy committed first (the INSERT waited for it) or an earlier one did.
    existing = (
        await session.execute(
            select(transactions).where(
                tx.charge_point_id == values["charge_point_id"],
                tx.connector_id == values["connector_id"],
                tx.id_tag == values["id_tag"],
                tx.start_time == values["start_time"],
                tx.meter_start == values["meter_start"],
            )
        )
    ).one()
    return existing, False


async def supersede_open(session: AsyncSession, cp_id: str, connector_id: int) -> list[int]:
    """Flag every open transaction on the connector but the newest; their ids."""
    params = {"cp": cp_id, "connector": connector_id}
    rows = (await session.execute(_OPEN_ON_CONNECTOR, params)).all()
    if len(rows) < 2:
        return []
    newest, older = rows[0].id, [row.id for row in rows[1:]]
    await session.execute(update(transactions).where(tx.id.in_(older)).values(superseded_by=newest))
    for old in older:
        await audit(
            session,
            old,
            "superseded",
            reason="a newer transaction started on its connector; it was never stopped",
            details={"supersededBy": newest},
        )
    return older


async def load_for_update(session: AsyncSession, transaction_id: int) -> Row[Any] | None:
    """A transaction, locked until this message commits."""
    return (
        await session.execute(select(transactions).where(tx.id == transaction_id).with_for_update())
    ).first()


async def apply_stop(
    session: AsyncSession,
    row: Row[Any],
    *,
    meter_stop: int,
    stop_time: datetime,
    reason: str | None,
    stop_id_tag: str | None,
    stopped_by: str,
    close_reason: str | None = None,
    warnings: Sequence[str] = (),
) -> Row[Any]:
    """Stop a transaction: meterStop, energy, cost; returns the updated row."""
    energy, warning = energy_wh(row.meter_start, meter_stop)
    notes = [*warnings, *([warning] if warning else [])]
    if stop_time < row.start_time:
        notes.append("the stop timestamp is earlier than the start timestamp")
    values = {
        "tx_id": row.id,
        "meter_stop": meter_stop,
        "stop_time": stop_time,
        "stop_reason": reason,
        "stop_id_tag": stop_id_tag,
        "stopped_by": stopped_by,
        "close_reason": close_reason,
        "energy_wh": energy,
        "cost": cost(energy, row.price_per_kwh, row.session_fee),
        "warnings": [*(row.warnings or []), *notes],
    }
    updated: Row[Any] = (await session.execute(_STOP, values)).one()
    return updated


async def record_unmatched(
    session: AsyncSession,
    cp_id: str,
    kind: str,
    payload: dict[str, Any],
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


async def flag_stale(session: AsyncSession, now: datetime, stale_after: float) -> list[int]:
    """Flag open transactions with no sign of life for `stale_after` seconds; their ids."""
    cutoff = now - timedelta(seconds=stale_after)
    result = await session.execute(
        update(transactions)
        .where(tx.stop_time.is_(None), tx.stale_since.is_(None), tx.last_seen_at < cutoff)
        .values(stale_since=now)
        .returning(tx.id, tx.last_seen_at)
    )
    flagged = result.all()
    for row in flagged:
        await audit(
            session,
            row.id,
            "flagged_stale",
            reason=f"no sign of life for {int(stale_after)} s",
            details={"lastSeen": row.last_seen_at.isoformat()},
        )
    return [row.id for row in flagged]
