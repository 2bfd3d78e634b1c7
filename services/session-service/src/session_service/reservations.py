"""Reservations: made by an accepted ReserveNow, ended by use, CancelReservation or expiry."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, and_, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from csms_shared.ocpp.v16.messages import ReserveNowRequest

from .auth import reservation_admits
from .db import connectors, reservations

ACTIVE = "Active"
USED = "Used"
CANCELLED = "Cancelled"
EXPIRED = "Expired"

r = reservations.c


def _active_at(at: datetime) -> Any:
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
    """One reservation of a CP."""
    return (
        await session.execute(
            select(reservations).where(
                r.charge_point_id == cp_id, r.reservation_id == reservation_id
            )
        )
    ).first()


async def active_for_connector(
    session: AsyncSession, cp_id: str, connector_id: int, at: datetime
) -> list[Row[Any]]:
    """Reservations in force at `at` for this connector or the whole CP (connector 0)."""
    return list(
        (
            await session.execute(
                select(reservations)
                .where(
                    r.charge_point_id == cp_id,
                    r.connector_id.in_([connector_id, 0]),
                    _active_at(at),
                )
                .order_by(r.connector_id.desc(), r.reserved_at)
            )
        ).all()
    )


async def held_for_others(
    session: AsyncSession, cp_id: str, id_tag: str, parent_id_tag: str | None, at: datetime
) -> tuple[int, bool]:
    """How many reservations on the CP hold a connector for other tags; and if one is ours."""
    rows = (
        await session.execute(
            select(r.id_tag, r.parent_id_tag).where(r.charge_point_id == cp_id, _active_at(at))
        )
    ).all()
    ours = [reservation_admits(x.id_tag, x.parent_id_tag, id_tag, parent_id_tag) for x in rows]
    return ours.count(False), any(ours)


async def known_connectors(session: AsyncSession, cp_id: str) -> set[int]:
    """The connectors (1 and up) this CP has reported in StatusNotification."""
    rows = await session.scalars(
        select(connectors.c.connector_id).where(
            connectors.c.charge_point_id == cp_id, connectors.c.connector_id > 0
        )
    )
    return set(rows)


async def remember_connector(session: AsyncSession, cp_id: str, connector_id: int) -> None:
    """A CP reported this connector."""
    await session.execute(
        insert(connectors)
        .values(charge_point_id=cp_id, connector_id=connector_id)
        .on_conflict_do_nothing()
    )


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
        where.append(_active_at(now))
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
