"""Reads of the authorization list and of the transactions an id tag holds open."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Row, Select, func, literal_column, select
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from csms_shared.ocpp.v16.enums import AuthorizationStatus

from . import reservations
from .auth import IdTagRecord
from .db import id_tags, transactions


def _status(value: str | None) -> AuthorizationStatus | None:
    try:
        return AuthorizationStatus(value) if value is not None else None
    except ValueError:
        return AuthorizationStatus.INVALID


def _tag_query(id_tag: str, *extra: Any) -> Select[Any]:
    t = id_tags
    parent = aliased(id_tags)
    return (
        select(
            t.c.id_tag,
            t.c.status,
            t.c.expiry_date,
            t.c.parent_id_tag,
            t.c.max_concurrent_tx,
            parent.c.status.label("parent_status"),
            *extra,
        )
        .outerjoin(parent, func.lower(parent.c.id_tag) == func.lower(t.c.parent_id_tag))
        .where(func.lower(t.c.id_tag) == id_tag.lower())
    )


def _record(row: Row[Any] | None) -> IdTagRecord | None:
    if row is None:
        return None
    return IdTagRecord(
        id_tag=row.id_tag,
        status=_status(row.status) or AuthorizationStatus.INVALID,
        expiry_date=row.expiry_date,
        parent_id_tag=row.parent_id_tag,
        max_concurrent_tx=row.max_concurrent_tx,
        parent_status=_status(row.parent_status),
    )


async def load_id_tag(
    session: AsyncSession, id_tag: str, *, lock: bool = False
) -> IdTagRecord | None:
    """The list entry of `id_tag` (any case) with its parent's status; `lock` serializes starts."""
    stmt = _tag_query(id_tag)
    if lock:
        stmt = stmt.with_for_update(of=id_tags)
    return _record((await session.execute(stmt)).first())


async def load_id_tag_and_reservations(
    session: AsyncSession, id_tag: str, cp_id: str, at: datetime, *, lock: bool = False
) -> tuple[IdTagRecord | None, list[reservations.Held]]:
    """`load_id_tag` and the reservations in force on the CP at `at` (`reservations.in_force`)
    in one statement while the tag is on the list (the usual case), two otherwise."""
    r = reservations.reservations.c
    reservation = func.json_build_array(r.reservation_id, r.connector_id, r.id_tag, r.parent_id_tag)
    held = (
        select(
            func.coalesce(
                func.json_agg(
                    aggregate_order_by(reservation, r.connector_id.desc(), r.reserved_at)
                ),
                literal_column("'[]'::json"),
                type_=JSON,
            )
        )
        .where(r.charge_point_id == cp_id, reservations.active_at(at))
        .scalar_subquery()
        .label("held")
    )
    stmt = _tag_query(id_tag, held)
    if lock:
        stmt = stmt.with_for_update(of=id_tags)
    row = (await session.execute(stmt)).first()
    if row is None:
        return None, await reservations.in_force(session, cp_id, at)
    return _record(row), [reservations.Held(*item) for item in row.held]


async def count_open_transactions(
    session: AsyncSession,
    id_tag: str,
    *,
    except_connector: tuple[str, int] | None = None,
    except_charge_point: str | None = None,
) -> int:
    """Accepted transactions `id_tag` holds open; stale or superseded ones hold it no more."""
    tx = transactions.c
    stmt = (
        select(func.count())
        .select_from(transactions)
        .where(
            func.lower(tx.id_tag) == id_tag.lower(),
            tx.stop_time.is_(None),
            tx.id_tag_status == AuthorizationStatus.ACCEPTED.value,
            tx.stale_since.is_(None),
            tx.superseded_by.is_(None),
        )
    )
    if except_connector is not None:
        # A new start on this connector supersedes what is open there.
        cp, connector = except_connector
        stmt = stmt.where((tx.charge_point_id != cp) | (tx.connector_id != connector))
    if except_charge_point is not None:
        stmt = stmt.where(tx.charge_point_id != except_charge_point)
    return int(await session.scalar(stmt) or 0)
