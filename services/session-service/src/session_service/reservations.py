"""Reservations: made by an accepted ReserveNow, ended by use, CancelReservation or expiry."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, Row, and_, bindparam, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from csms_shared.ocpp.v16.messages import ReserveNowRequest

from .auth import reservation_admits
from .checks import INT32, fits
from .db import connectors, reservations

ACTIVE = "Active"
USED = "Used"
CANCELLED = "Cancelled"
EXPIRED = "Expired"

r = reservations.c

# The connectors each CP reported, as last read or followed here. Connectors are only ever
# added, so a cached set that holds a connector is a right answer; anything else is read again.
_KNOWN: dict[str, frozenset[int]] = {}
KNOWN_CACHE_MAX = 100_000


_KNOWN_CONNECTORS = select(connectors.c.connector_id).where(
    connectors.c.charge_point_id == bindparam("cp"), connectors.c.connector_id > 0
)


class Held(NamedTuple):
    """A reservation in force, as Authorize and StartTransaction weigh it."""

    reservation_id: int
    connector_id: int
    id_tag: str
    parent_id_tag: str | None


def active_at(at: datetime | ColumnElement[Any]) -> Any:
    """Reservations in force at `at` (a time, or a column of times)."""
    return and_(r.status == ACTIVE, r.expiry_date > at)


async def reserve(
    session: AsyncSession, cp_id: str, command_id: str, request: ReserveNowRequest, at: datetime
) -> bool:
    """Record an accepted ReserveNow; a new one with the same reservationId replaces it (5.13)."""
    values = {
        "connector_id": request.connector_id,
        "id_tag": request.id_tag,
        "parent_id_tag": request.parent_id_tag,
        "expiry_date": request.expiry_date,
        "status": ACTIVE,
        "command_id": command_id,
        "reserved_at": at,
        "transaction_id": None,
        "ended_at": None,
    }
    stmt = insert(reservations).values(
        charge_point_id=cp_id, reservation_id=request.reservation_id, **values
    )
    result = await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[r.charge_point_id, r.reservation_id],
            set_=values,
            # The same command delivered again changes nothing (it may have been used since).
            where=r.command_id != stmt.excluded.command_id,
        ).returning(r.reservation_id)
    )
    return result.first() is not None


async def end(
    session: AsyncSession, cp_id: str, reservation_id: int, status: str, at: datetime
) -> bool:
    """End an active reservation as Cancelled, Used or Expired; False if it was not active."""
    result = await session.execute(
        update(reservations)
        .where(r.charge_point_id == cp_id, r.reservation_id == reservation_id, r.status == ACTIVE)
        .values(status=status, ended_at=at)
        .returning(r.reservation_id)
    )
    return result.first() is not None


async def use(
    session: AsyncSession, cp_id: str, reservation_id: int, transaction_id: int, at: datetime
) -> None:
    """The reservation was consumed by a transaction."""
    await session.execute(
        update(reservations)
        .where(r.charge_point_id == cp_id, r.reservation_id == reservation_id, r.status == ACTIVE)
        .values(status=USED, ended_at=at, transaction_id=transaction_id)
    )


async def expire(session: AsyncSession, now: datetime) -> int:
    """End every active reservation whose expiryDate has passed; how many."""
    result = await session.execute(
        update(reservations)
        .where(r.status == ACTIVE, r.expiry_date <= now)
        .values(status=EXPIRED, ended_at=r.expiry_date)
        .returning(r.reservation_id)
    )
    return len(result.all())


async def get(session: AsyncSession, cp_id: str, reservation_id: int) -> Row[Any] | None:
    """One reservation of a CP (None: none has that id; a station's id past 32 bits names
    none of ours, rather than failing the statement)."""
    if not fits(reservation_id, INT32):
        return None
    return (
        await session.execute(
            select(reservations).where(
                r.charge_point_id == cp_id, r.reservation_id == reservation_id
            )
        )
    ).first()


async def in_force(session: AsyncSession, cp_id: str, at: datetime) -> list[Held]:
    """Every reservation in force on the CP at `at`, by connector (highest first), then age."""
    rows = await session.execute(
        select(r.reservation_id, r.connector_id, r.id_tag, r.parent_id_tag)
        .where(r.charge_point_id == cp_id, active_at(at))
        .order_by(r.connector_id.desc(), r.reserved_at)
    )
    return [Held(*row) for row in rows]


def held_for_others(held: list[Held], id_tag: str, parent_id_tag: str | None) -> tuple[int, bool]:
    """How many reservations on the CP hold a connector for other tags; and if one is ours."""
    ours = [reservation_admits(x.id_tag, x.parent_id_tag, id_tag, parent_id_tag) for x in held]
    return ours.count(False), any(ours)


async def known_connectors(
    session: AsyncSession, cp_id: str, connector_id: int | None = None
) -> set[int]:
    """The connectors (1 and up) this CP has reported in StatusNotification.

    With `connector_id`, a cached set that holds it is enough; otherwise the table is read.
    """
    if connector_id is not None:
        cached = _KNOWN.get(cp_id)
        if cached is not None and connector_id in cached:
            return set(cached)
    known = set(await session.scalars(_KNOWN_CONNECTORS, {"cp": cp_id}))
    _cache_known(cp_id, known)
    return known


def _cache_known(cp_id: str, known: set[int] | frozenset[int]) -> None:
    if len(_KNOWN) >= KNOWN_CACHE_MAX and cp_id not in _KNOWN:
        _KNOWN.clear()
    _KNOWN[cp_id] = frozenset(known)


def connector_known(cp_id: str, connector_id: int) -> bool:
    """Whether this process has seen the connector stored (read, or remembered and committed)."""
    cached = _KNOWN.get(cp_id)
    return cached is not None and connector_id in cached


def connector_remembered(cp_id: str, connector_id: int) -> None:
    """After `remember_connectors` committed: add it to the cached set."""
    cached = _KNOWN.get(cp_id)
    if cached is None or connector_id not in cached:
        _cache_known(cp_id, (cached or frozenset()) | {connector_id})


_REMEMBER = text(
    f"INSERT INTO {connectors.fullname} (charge_point_id, connector_id)"
    " SELECT * FROM unnest(CAST(:cps AS varchar[]), CAST(:ids AS integer[]))"
    " ON CONFLICT DO NOTHING"
)


async def remember_connectors(session: AsyncSession, pairs: list[tuple[str, int]]) -> None:
    """CPs reported these (CP, connector) pairs: one statement for them all."""
    await session.execute(_REMEMBER, {"cps": [cp for cp, _ in pairs], "ids": [c for _, c in pairs]})


async def page(
    session: AsyncSession,
    *,
    cp_id: str | None,
    status: str | None,
    active: bool | None,
    limit: int,
    offset: int,
    now: datetime,
) -> tuple[list[Row[Any]], int]:
    """A page of reservations, newest first, and the total."""
    where: list[Any] = []
    if cp_id is not None:
        where.append(r.charge_point_id == cp_id)
    if status is not None:
        where.append(r.status == status)
    if active is True:
        where.append(active_at(now))
    elif active is False:
        where.append(or_(r.status != ACTIVE, r.expiry_date <= now))
    total = await session.scalar(select(func.count()).select_from(reservations).where(*where))
    rows = (
        await session.execute(
            select(reservations)
            .where(*where)
            .order_by(r.reserved_at.desc(), r.charge_point_id, r.reservation_id)
            .limit(limit)
            .offset(offset)
        )
    ).all()
    return list(rows), int(total or 0)
