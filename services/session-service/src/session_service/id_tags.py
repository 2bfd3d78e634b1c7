"""Reads of the authorization list and of the transactions an id tag holds open."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from csms_shared.ocpp.v16.enums import AuthorizationStatus

from .auth import IdTagRecord
from .db import id_tags, transactions


def _status(value: str | None) -> AuthorizationStatus | None:
    try:
        return AuthorizationStatus(value) if value is not None else None
    except ValueError:
        return AuthorizationStatus.INVALID


async def load_id_tag(
    session: AsyncSession, id_tag: str, *, lock: bool = False
) -> IdTagRecord | None:
    """The list entry of `id_tag` (any case) with its parent's status; `lock` serializes starts."""
    t = id_tags
    parent = aliased(id_tags)
    stmt = (
        select(
            t.c.id_tag,
            t.c.status,
            t.c.expiry_date,
            t.c.parent_id_tag,
            t.c.max_concurrent_tx,
            parent.c.status.label("parent_status"),
        )
        .outerjoin(parent, func.lower(parent.c.id_tag) == func.lower(t.c.parent_id_tag))
        .where(func.lower(t.c.id_tag) == id_tag.lower())
    )
    if lock:
        stmt = stmt.with_for_update(of=t)
    row = (await session.execute(stmt)).first()
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
