"""The CDRs sent to eMSPs (written once by session_store.stopped): the push of one, sending it
again, the operator's page of them; and the pages of Sessions and CDRs a platform pulls, each
of its own parties only."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from .db import cdrs
from .ocpi.versions import ModuleId
from .push_queue import Push, enqueue, receivers


async def push_cdr(
    session: AsyncSession, record: dict[str, Any], platform_id: str, owner: tuple[str, str]
) -> int:
    if platform_id not in await receivers(session, ModuleId.CDRS):
        return 0  # it pulls them (GET)
    return await enqueue(
        session,
        Push(
            module=ModuleId.CDRS,
            object_key=f"cdr:{record['id']}",
            method="POST",
            path="",
            body=record,
            supersedes="object",
            to=owner,
        ),
        [platform_id],
    )


async def repush_cdr(session: AsyncSession, cdr_id: str) -> int | None:
    """The CDR POSTed again to its eMSP, the same document (a pending POST of it superseded):
    how many pushes (0: the eMSP has no CDRs receiver); None when there is no such CDR."""
    row = (await session.execute(select(cdrs).where(cdrs.c.id == cdr_id))).first()
    if row is None:
        return None
    return await push_cdr(session, row.document, row.platform_id, (row.country_code, row.party_id))


async def cdr_page(
    session: AsyncSession, *, platform_id: str | None, offset: int, limit: int
) -> tuple[list[Any], int]:
    """A page of the CDRs, newest first (of one platform, or all), and how many there are."""
    where = [] if platform_id is None else [cdrs.c.platform_id == platform_id]
    total = (
        await session.execute(select(func.count()).select_from(cdrs).where(*where))
    ).scalar_one()
    rows = await session.execute(
        select(cdrs)
        .where(*where)
        .order_by(cdrs.c.last_updated.desc(), cdrs.c.id)
        .offset(offset)
        .limit(limit)
    )
    return list(rows), total


async def owned_page(
    session: AsyncSession,
    table: Any,
    owners: set[tuple[str, str]] | None,
    platform_id: str,
    *,
    offset: int,
    limit: int,
    date_from: datetime | None,
    date_to: datetime | None,
) -> tuple[list[dict[str, Any]], int]:
    """A page of `table`'s documents (sessions or cdrs) of `owners` (None: every owner's) that
    went to `platform_id` (a hub reads those it routed, never another platform's), by last
    update then id, those updated in [date_from, date_to); and how many there are."""
    where: list[Any] = [table.c.platform_id == platform_id]
    if owners is not None:
        if not owners:
            return [], 0
        where.append(tuple_(table.c.country_code, table.c.party_id).in_(sorted(owners)))
    if date_from is not None:
        where.append(table.c.last_updated >= date_from)
    if date_to is not None:
        where.append(table.c.last_updated < date_to)
    total = (
        await session.execute(select(func.count()).select_from(table).where(*where))
    ).scalar_one()
    rows = await session.execute(
        select(table.c.document)
        .where(*where)
        .order_by(table.c.last_updated, table.c.id)
        .offset(offset)
        .limit(limit)
    )
    return [r.document for r in rows], total
