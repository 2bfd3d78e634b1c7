"""Reads of the authorization list and of the transactions an id tag holds open."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Row, Select, bindparam, func, literal, literal_column, select, true
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


def _tag_query(*extra: Any) -> Select[Any]:
    """The list entry whose lower-cased idTag is the parameter `tag`, with its parent's status."""
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
        .where(func.lower(t.c.id_tag) == bindparam("tag"))
    )


def _record(row: Row[Any] | None, prefix: str = "") -> IdTagRecord | None:
    if row is None:
        return None
    m = row._mapping
    if m[f"{prefix}id_tag"] is None:
        return None
    return IdTagRecord(
        id_tag=m[f"{prefix}id_tag"],
        status=_status(m[f"{prefix}status"]) or AuthorizationStatus.INVALID,
        expiry_date=m[f"{prefix}expiry_date"],
        parent_id_tag=m[f"{prefix}parent_id_tag"],
        max_concurrent_tx=m[f"{prefix}max_concurrent_tx"],
        parent_status=_status(m[f"{prefix}parent_status"]),
    )


# The statements below are built once, with parameters: building a SELECT of subqueries costs
# more CPU than running it.
_ONE = select(literal(1).label("one")).subquery("one")  # one row, to outer-join the optional


def _tag_and_held(lock: bool) -> Select[Any]:
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
        .where(r.charge_point_id == bindparam("cp"), reservations.active_at(bindparam("at")))
        .scalar_subquery()
        .label("held")
    )
    tag = _tag_query()
    if lock:
        tag = tag.with_for_update(of=id_tags)
    found = tag.subquery("tag")
    # One row whether or not the tag is on the list (idTags of free vending are not).
    return select(held, *found.c).select_from(_ONE.outerjoin(found, true()))


def _for_stop() -> Select[Any]:
    locked = (
        select(transactions)
        .where(transactions.c.id == bindparam("tx_id"))
        .with_for_update()
        .subquery("tx")
    )
    tag = _tag_query().subquery("tag")
    return select(locked, *(c.label(f"tag_{c.name}") for c in tag.c)).select_from(
        _ONE.outerjoin(locked, true()).outerjoin(tag, true())
    )


_LOAD = {False: _tag_query(), True: _tag_query().with_for_update(of=id_tags)}
_LOAD_WITH_HELD = {False: _tag_and_held(False), True: _tag_and_held(True)}
_LOAD_FOR_STOP = _for_stop()


async def load_id_tag(
    session: AsyncSession, id_tag: str, *, lock: bool = False
) -> IdTagRecord | None:
    """The list entry of `id_tag` (any case) with its parent's status; `lock` serializes starts."""
    return _record((await session.execute(_LOAD[lock], {"tag": id_tag.lower()})).first())


async def load_id_tag_and_reservations(
    session: AsyncSession, id_tag: str, cp_id: str, at: datetime, *, lock: bool = False
) -> tuple[IdTagRecord | None, list[reservations.Held]]:
    """`load_id_tag` and the reservations in force on the CP at `at` (`reservations.in_force`)
    in one statement."""
    params = {"tag": id_tag.lower(), "cp": cp_id, "at": at}
    row = (await session.execute(_LOAD_WITH_HELD[lock], params)).one()
    return _record(row), [reservations.Held(*item) for item in row.held]


async def load_for_stop(
    session: AsyncSession, transaction_id: int, id_tag: str
) -> tuple[Row[Any] | None, IdTagRecord | None]:
    """A StopTransaction's reads in one statement: the transaction, locked until the commit
    (`transactions.load_for_update`), and the list entry of its idTag (`load_id_tag`)."""
    params = {"tx_id": transaction_id, "tag": id_tag.lower()}
    row = (await session.execute(_LOAD_FOR_STOP, params)).one()
    return (row if row.id is not None else None), _record(row, "tag_")


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
