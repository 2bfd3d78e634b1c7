"""The suite's tariffs as published to the platforms (OCPI tariffs, sender): each change the
session-service announces is stored as an OCPI Tariff and PUT to every tariffs receiver (a
deleted one DELETEd), through the push outbox; platforms also pull them (GET)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from csms_shared.contracts.session_events import TariffChanged

from . import tariff_documents
from .db import tariffs
from .location_documents import Publisher
from .ocpi.versions import ModuleId
from .platforms import now
from .push_queue import Push, enqueue


async def follow(session: AsyncSession, event: TariffChanged, publisher: Publisher) -> None:
    """Store the tariff as it is now (or that it is gone) and push it to every receiver."""
    ocpi_id = tariff_documents.ocpi_tariff_id(event.tariff_id)
    at = now()
    document: dict[str, Any] | None = None
    if event.change != "deleted" and event.tariff is not None:
        given = event.tariff
        document = tariff_documents.tariff(
            publisher,
            tariff_id=given.tariff_id,
            currency=given.currency,
            session_fee=given.session_fee,
            price_per_kwh=given.price_per_kwh,
            per_minute_fee=given.per_minute_fee,
            parking_per_minute_fee=given.parking_per_minute_fee,
            last_updated=at,
            vat=given.vat,
            name=given.name,
            valid_from=given.valid_from,
            valid_to=given.valid_to,
        ).wire()
    values = {
        "id": ocpi_id,
        "tariff_id": event.tariff_id,
        "document": document,
        "last_updated": at,
        "deleted_at": None if document is not None else at,
    }
    stmt = insert(tariffs).values(values)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[tariffs.c.id],
            set_={k: stmt.excluded[k] for k in ("document", "last_updated", "deleted_at")},
        )
    )
    await enqueue(
        session,
        Push(
            module=ModuleId.TARIFFS,
            object_key=f"tariff:{ocpi_id}",
            method="PUT" if document is not None else "DELETE",
            path=f"/{publisher.country_code}/{publisher.party_id}/{ocpi_id}",
            body=document or {},
            supersedes="object",
        ),
    )


async def page(
    session: AsyncSession,
    *,
    offset: int,
    limit: int,
    date_from: datetime | None,
    date_to: datetime | None,
) -> tuple[list[dict[str, Any]], int]:
    """The tariffs in force (not deleted), by id, last updated in [date_from, date_to)."""
    where: list[Any] = [tariffs.c.deleted_at.is_(None)]
    if date_from is not None:
        where.append(tariffs.c.last_updated >= date_from)
    if date_to is not None:
        where.append(tariffs.c.last_updated < date_to)
    total = (
        await session.execute(select(func.count()).select_from(tariffs).where(*where))
    ).scalar_one()
    rows = await session.execute(
        select(tariffs.c.document)
        .where(*where)
        .order_by(tariffs.c.tariff_id)
        .offset(offset)
        .limit(limit)
    )
    return [r.document for r in rows], total
