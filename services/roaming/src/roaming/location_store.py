"""The locations this CPO publishes, as stored: the operator puts one (settings replaced whole,
EVSEs taken out kept as REMOVED), the stations' statuses move its EVSEs' OCPI status, and every
change is pushed to the platforms' locations receivers in the same transaction (`pushes`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from csms_shared.contracts.rpc_roaming_locations import (
    LocationEvse,
    LocationSettings,
)
from csms_shared.vocabulary.connectors import ConnectorState

from .db import location_evses, locations, station_connectors, station_presence
from .location_documents import (
    EvseRecord,
    Publisher,
    check,
    document,
    evse_uid,
    ocpi_status,
)
from .ocpi.locations import EvseStatus, Location
from .ocpi.types import ci_key, format_datetime
from .ocpi.versions import ModuleId
from .platforms import now
from .push_queue import Push, enqueue


class LocationConflict(ValueError):
    """An EVSE of the settings is published in another location."""


@dataclass(frozen=True, slots=True)
class StoredLocation:
    """A location as stored, and as OCPI publishes it."""

    id: str
    settings: LocationSettings
    evses: list[EvseRecord]
    created_at: datetime
    last_updated: datetime
    document: Location


def _object(location_id: str) -> str:
    return f"location:{ci_key(location_id)}"


async def statuses(
    session: AsyncSession, stations: list[tuple[str, int]]
) -> dict[tuple[str, int], EvseStatus]:
    """The OCPI status of each (station, EVSE) from what the stations said."""
    if not stations:
        return {}
    ids = sorted({cp for cp, _ in stations})
    # One statement: each station's connectors (none: a row of NULLs) with its presence.
    rows = await session.execute(
        select(
            station_presence.c.charge_point_id.label("presence_of"),
            station_presence.c.online,
            station_connectors.c.charge_point_id,
            station_connectors.c.evse_id,
            station_connectors.c.status,
        )
        .select_from(
            station_presence.outerjoin(
                station_connectors,
                station_connectors.c.charge_point_id == station_presence.c.charge_point_id,
                full=True,
            )
        )
        .where(
            or_(
                station_presence.c.charge_point_id.in_(ids),
                station_connectors.c.charge_point_id.in_(ids),
            )
        )
    )
    online: dict[str, bool] = {}
    reported: dict[tuple[str, int], list[ConnectorState]] = {}
    for row in rows:
        if row.presence_of is not None:
            online[row.presence_of] = row.online
        if row.charge_point_id is not None:
            reported.setdefault((row.charge_point_id, row.evse_id), []).append(
                ConnectorState(row.status)
            )
    return {key: ocpi_status(online.get(key[0]), reported.get(key, [])) for key in stations}


async def _records(session: AsyncSession, key: str) -> list[EvseRecord]:
    """The location's EVSEs: current ones in the settings' order first, removed ones after."""
    rows = (
        await session.execute(
            select(location_evses)
            .where(location_evses.c.location_key == key)
            .order_by(location_evses.c.removed_at.desc().nulls_first(), location_evses.c.uid_key)
        )
    ).all()
    return [
        EvseRecord(
            uid=row.uid,
            settings=LocationEvse.model_validate(row.settings),
            status=EvseStatus(row.status),
            status_at=row.status_at,
            removed=row.removed_at is not None,
        )
        for row in rows
    ]


def _ordered(records: list[EvseRecord], settings: LocationSettings) -> list[EvseRecord]:
    order = {ci_key(evse_uid(e)): n for n, e in enumerate(settings.evses)}
    return sorted(records, key=lambda r: (r.removed, order.get(ci_key(r.uid), 0)))


async def load(
    session: AsyncSession, location_id: str, publisher: Publisher
) -> StoredLocation | None:
    row = (
        await session.execute(select(locations).where(locations.c.key == ci_key(location_id)))
    ).first()
    return None if row is None else await _stored(session, row, publisher)


async def _stored(session: AsyncSession, row: Any, publisher: Publisher) -> StoredLocation:
    settings = LocationSettings.model_validate(row.settings)
    records = _ordered(await _records(session, row.key), settings)
    return StoredLocation(
        id=row.id,
        settings=settings,
        evses=records,
        created_at=row.created_at,
        last_updated=row.last_updated,
        document=document(row.id, settings, records, row.updated_at, publisher),
    )


async def page(
    session: AsyncSession,
    publisher: Publisher,
    *,
    offset: int,
    limit: int,
    date_from: datetime | None = None,
    date_to: datetime | None = None,
) -> tuple[list[StoredLocation], int]:
    """Locations by id, those last updated in [date_from, date_to) (the end excluded, as OCPI
    says), and how many there are."""
    where = []
    if date_from is not None:
        where.append(locations.c.last_updated >= date_from)
    if date_to is not None:
        where.append(locations.c.last_updated < date_to)
    total = (
        await session.execute(select(func.count()).select_from(locations).where(*where))
    ).scalar_one()
    rows = (
        await session.execute(
            select(locations).where(*where).order_by(locations.c.key).offset(offset).limit(limit)
        )
    ).all()
    return [await _stored(session, row, publisher) for row in rows], total


async def put(
    session: AsyncSession, location_id: str, settings: LocationSettings, publisher: Publisher
) -> StoredLocation:
    """Publish `settings` as location `location_id` (created or replaced) and push the whole
    Location to every locations receiver. LocationRefused when they do not make an OCPI
    Location; LocationConflict when an EVSE is another location's."""
    check(settings)
    key = ci_key(location_id)
    at = now()
    wanted = {ci_key(evse_uid(e)): e for e in settings.evses}
    taken = None
    if settings.evses:
        taken = (
            await session.execute(
                select(
                    location_evses.c.location_key,
                    location_evses.c.charge_point_id,
                    location_evses.c.evse_id,
                ).where(
                    location_evses.c.removed_at.is_(None),
                    location_evses.c.location_key != key,
                    tuple_(location_evses.c.charge_point_id, location_evses.c.evse_id).in_(
                        [(e.charge_point_id, e.evse_id) for e in settings.evses]
                    ),
                )
            )
        ).first()
    if taken is not None:
        raise LocationConflict(
            f"EVSE {taken.evse_id} of {taken.charge_point_id!r} is published in location"
            f" {taken.location_key}: take it out there first"
        )
    stored = {
        row.uid_key: row
        for row in (
            await session.execute(
                select(location_evses).where(location_evses.c.location_key == key).with_for_update()
            )
        ).all()
    }
    derived = await statuses(session, [(e.charge_point_id, e.evse_id) for e in settings.evses])
    settings_json = settings.model_dump(mode="json", by_alias=True, exclude_none=True)
    upsert = insert(locations).values(
        key=key, id=location_id, settings=settings_json, updated_at=at, last_updated=at
    )
    await session.execute(
        upsert.on_conflict_do_update(
            index_elements=[locations.c.key],
            set_={
                "id": location_id,
                "settings": settings_json,
                "updated_at": at,
                "last_updated": at,
            },
        )
    )
    for uid_key, row in stored.items():
        if uid_key not in wanted and row.removed_at is None:
            await session.execute(
                update(location_evses)
                .where(location_evses.c.location_key == key, location_evses.c.uid_key == uid_key)
                .values(removed_at=at, status=EvseStatus.REMOVED, status_at=at)
            )
    for uid_key, evse in wanted.items():
        status = derived[(evse.charge_point_id, evse.evse_id)]
        before = stored.get(uid_key)
        same = before is not None and before.removed_at is None and before.status == status
        values = {
            "uid": evse_uid(evse),
            "charge_point_id": evse.charge_point_id,
            "evse_id": evse.evse_id,
            "settings": evse.model_dump(mode="json", by_alias=True, exclude_none=True),
            "status": status,
            "status_at": before.status_at if same and before is not None else at,
            "removed_at": None,
        }
        row_insert = insert(location_evses).values(location_key=key, uid_key=uid_key, **values)
        try:
            await session.execute(
                row_insert.on_conflict_do_update(
                    index_elements=[location_evses.c.location_key, location_evses.c.uid_key],
                    set_=values,
                )
            )
        except IntegrityError as exc:
            # Another location took it since the check above (its PUT committed first).
            if "location_evses_station" not in str(exc.orig):
                raise
            raise LocationConflict(
                f"EVSE {evse.evse_id} of {evse.charge_point_id!r} was just published in another"
                " location: take it out there first"
            ) from None
    found = await load(session, location_id, publisher)
    assert found is not None
    await _push_whole(session, found, publisher)
    return found


async def _push_whole(session: AsyncSession, found: StoredLocation, publisher: Publisher) -> int:
    return await enqueue(
        session,
        Push(
            module=ModuleId.LOCATIONS,
            object_key=_object(found.id),
            method="PUT",
            path=f"/{publisher.country_code}/{publisher.party_id}/{found.id}",
            body=found.document.wire(),
            supersedes="object",
        ),
    )


async def repush(session: AsyncSession, location_id: str, publisher: Publisher) -> int | None:
    """The whole Location pushed again to every locations receiver (what is pending of it
    superseded): how many pushes; None when there is no such location."""
    # The row lock orders this push with a status change's (follow_status updates this row
    # before it queues its PATCH): a PATCH queued before commits first, one after comes after.
    await session.execute(
        select(locations.c.key).where(locations.c.key == ci_key(location_id)).with_for_update()
    )
    found = await load(session, location_id, publisher)
    return None if found is None else await _push_whole(session, found, publisher)


async def stations_published(session: AsyncSession, stations: set[str]) -> set[str]:
    """Of `stations`, those with an EVSE in a published location (not taken out): the ones
    whose reports `follow_status` has anything to do for."""
    if not stations:
        return set()
    rows = await session.execute(
        select(location_evses.c.charge_point_id)
        .where(
            location_evses.c.charge_point_id.in_(stations),
            location_evses.c.removed_at.is_(None),
        )
        .distinct()
    )
    return set(rows.scalars())


async def follow_status(
    session: AsyncSession, charge_point_id: str, publisher: Publisher, evse_id: int | None = None
) -> int:
    """The station's EVSEs (one, or all) in published locations take the status its reports
    now say; each that changed is PATCHed to every locations receiver. How many changed."""
    where = [
        location_evses.c.charge_point_id == charge_point_id,
        location_evses.c.removed_at.is_(None),
    ]
    if evse_id is not None:
        where.append(location_evses.c.evse_id == evse_id)
    rows = (
        await session.execute(
            select(location_evses, locations.c.id.label("location_id"))
            .join(locations, locations.c.key == location_evses.c.location_key)
            .where(*where)
            .with_for_update(of=location_evses)
        )
    ).all()
    if not rows:
        return 0
    derived = await statuses(session, [(row.charge_point_id, row.evse_id) for row in rows])
    changed = 0
    for row in rows:
        status = derived[(row.charge_point_id, row.evse_id)]
        if status == row.status:
            continue
        at = now()
        changed += 1
        await session.execute(
            update(location_evses)
            .where(
                and_(
                    location_evses.c.location_key == row.location_key,
                    location_evses.c.uid_key == row.uid_key,
                )
            )
            .values(status=status, status_at=at)
        )
        await session.execute(
            update(locations)
            .where(locations.c.key == row.location_key)
            .values(last_updated=func.greatest(locations.c.last_updated, at))
        )
        await enqueue(
            session,
            Push(
                module=ModuleId.LOCATIONS,
                object_key=_object(row.location_id),
                method="PATCH",
                path=f"/{publisher.country_code}/{publisher.party_id}/{row.location_id}/{row.uid}",
                body={"status": status.value, "last_updated": format_datetime(at)},
                supersedes="path",
            ),
        )
    return changed
