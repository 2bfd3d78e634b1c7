"""Reads and writes of schema `registry` that handlers share."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy import (
    ColumnElement,
    Row,
    Select,
    Table,
    and_,
    func,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from csms_shared.contracts.resources import ChargePoint, Connector, Evse, EvseConnector, Page
from csms_shared.contracts.rpc import PageOfChargePoint
from csms_shared.vocabulary.connectors import ConnectorState, evse_status

from .db import charge_points, connectors, evse_connectors, gateways

T = TypeVar("T", bound=BaseModel)


def locked_in_id_order(*where: ColumnElement[bool]) -> Select[Any]:
    """The ids of the CPs matching `where`, locked in id order.

    Every statement that writes many charge point rows takes its row locks in this order, as do
    the runtime's groups and batches (sorted by charge point id): two of them that meet on the
    same rows then wait for each other instead of deadlocking.
    """
    cp = charge_points.c
    return (
        select(cp.id)
        .where(*where)
        .order_by(cp.id)
        .with_for_update(of=charge_points)
        .correlate(None)  # a FROM of its own, inside the UPDATE of the same table
    )


async def ensure_charge_point(session: AsyncSession, cp_id: str) -> None:
    """Create the CP's row if this is the first we hear of it."""
    await session.execute(insert(charge_points).values(id=cp_id).on_conflict_do_nothing())


async def restore_swept(session: AsyncSession, gateway: str, started: datetime) -> int:
    """Back online: CPs the sweep took offline while `gateway`, still the process that started
    at `started` and has not stopped, had lost its broker connection. Returns how many."""
    gw, cp = gateways.c, charge_points.c
    which = and_(
        cp.offline_by_sweep.is_(True),
        cp.gateway == gw.id,
        cp.connected_at >= started,
        gw.id == gateway,
        gw.started_at == started,
        gw.stopped_at.is_(None),
    )
    result = await session.execute(
        update(charge_points)
        .where(which, cp.id.in_(locked_in_id_order(which)))
        .values(online=True, offline_by_sweep=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def connector_of(row: Row[Any]) -> Connector:
    """A connector as the REST API shows it."""
    return Connector(
        connector_id=row.connector_id,
        evse_connector_id=row.evse_connector_id,
        status=row.status,
        error_code=row.error_code,
        info=row.info,
        vendor_id=row.vendor_id,
        vendor_error_code=row.vendor_error_code,
        status_at=row.status_at,
        availability=row.availability,
        connector_type=row.connector_type,
        max_power_kw=row.max_power_kw,
    )


def evses_of(rows: Sequence[Row[Any]]) -> list[Evse]:
    """One CP's `evse_connectors` rows (in EVSE, connector order) as its EVSEs."""
    found: dict[int, list[EvseConnector]] = {}
    for row in rows:
        found.setdefault(row.evse_id, []).append(
            EvseConnector(
                connector_id=row.connector_id,
                status=row.status,
                charging_state=row.charging_state if row.status == "Occupied" else None,
                error_code=row.error_code,
                info=row.info,
                vendor_error_code=row.vendor_error_code,
                status_at=row.status_at,
                charging_state_at=row.charging_state_at if row.charging_state else None,
            )
        )
    return [
        Evse(
            evse_id=evse_id,
            status=str(evse_status(ConnectorState(c.status) for c in found[evse_id])),
            connectors=found[evse_id],
        )
        for evse_id in found
    ]


async def load_evses(session: AsyncSession, ids: Sequence[str]) -> dict[str, list[Evse]]:
    """The EVSEs of each CP of `ids` (an empty list for one that reported none)."""
    rows: dict[str, list[Row[Any]]] = {cp: [] for cp in ids}
    if ids:
        c = evse_connectors.c
        for row in await session.execute(
            select(evse_connectors)
            .where(c.charge_point_id.in_(ids))
            .order_by(c.charge_point_id, c.evse_id, c.connector_id)
        ):
            rows[row.charge_point_id].append(row)
    return {cp: evses_of(found) for cp, found in rows.items()}


async def charge_point_read(session: AsyncSession, row: Row[Any]) -> ChargePoint:
    """One CP (its `charge_points` row) with its connectors and EVSEs, as reads show it."""
    connector_rows = (
        await session.execute(
            select(connectors)
            .where(connectors.c.charge_point_id == row.id)
            .order_by(connectors.c.connector_id)
        )
    ).all()
    found = charge_point_of(row, list(connector_rows))
    found.evses = (await load_evses(session, [row.id]))[row.id]
    return found


def charge_point_of(row: Row[Any], connector_rows: list[Row[Any]]) -> ChargePoint:
    """A charge point as the REST API shows it (OCPP's field names)."""
    has_place = row.latitude is not None and row.longitude is not None
    return ChargePoint(
        id=row.id,
        online=row.online,
        gateway=row.gateway if row.online else None,
        last_seen=row.last_seen_at,
        charge_point_vendor=row.vendor,
        charge_point_model=row.model,
        charge_point_serial_number=row.serial_number,
        charge_box_serial_number=row.charge_box_serial_number,
        firmware_version=row.firmware_version,
        iccid=row.iccid,
        imsi=row.imsi,
        meter_type=row.meter_type,
        meter_serial_number=row.meter_serial_number,
        registration_status=row.registration_status,
        ocpp_version=row.ocpp_version,
        first_seen=row.first_seen_at,
        last_boot=row.last_boot_at,
        connected_at=row.connected_at,
        disconnected_at=row.disconnected_at,
        name=row.name,
        description=row.description,
        address=row.address,
        coordinates={"latitude": row.latitude, "longitude": row.longitude} if has_place else None,
        timezone=row.timezone,
        decommissioned_at=row.decommissioned_at,
        tags=list(row.tags or []),
        connectors=[connector_of(c) for c in connector_rows],
    )


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _searched(text: str) -> ColumnElement[bool]:
    """Part of the id, name, description, vendor, model or address, in any case: one
    trigram-indexed text (migration 0013), not six columns scanned."""
    return charge_points.c.search_text.like(_like(text.lower()), escape="\\")


def charge_point_filter(
    *,
    online: bool | None = None,
    tag: str | None = None,
    q: str | None = None,
    decommissioned: bool = False,
) -> list[ColumnElement[bool]]:
    """Conditions of a CP list: presence, a tag, a search in id, name, description, address,
    vendor and model; decommissioned CPs only when asked for."""
    cp = charge_points.c
    where: list[ColumnElement[bool]] = [
        cp.decommissioned_at.is_not(None) if decommissioned else cp.decommissioned_at.is_(None)
    ]
    if online is not None:
        where.append(cp.online.is_(online))
    if tag is not None:
        where.append(cp.tags.contains([tag]))
    if q:
        where.append(_searched(q))
    return where


async def load_charge_points(
    session: AsyncSession,
    *,
    limit: int,
    offset: int,
    online: bool | None = None,
    search: str | None = None,
    status: str | None = None,
    tag: str | None = None,
    q: str | None = None,
    decommissioned: bool = False,
    registration_status: str | None = None,
    ocpp_version: str | None = None,
) -> tuple[list[ChargePoint], int]:
    """A page of charge points with their connectors, and the total count; `search` is `q`
    (the console's name for it), `status` a connector's last status,
    `registration_status` what the CP was last told at boot, `ocpp_version` the version it
    speaks; `tag`, `q` and `decommissioned`
    as `charge_point_filter`."""
    where = charge_point_filter(online=online, tag=tag, q=q, decommissioned=decommissioned)
    if registration_status:
        where.append(charge_points.c.registration_status == registration_status)
    if ocpp_version:
        where.append(charge_points.c.ocpp_version == ocpp_version)
    if search:
        where.append(_searched(search))
    if status:
        where.append(
            select(connectors.c.charge_point_id)
            .where(
                connectors.c.charge_point_id == charge_points.c.id, connectors.c.status == status
            )
            .exists()
        )
    total = await session.scalar(select(func.count()).select_from(charge_points).where(*where))
    rows = (
        await session.execute(
            select(charge_points)
            .where(*where)
            .order_by(charge_points.c.id)
            .limit(limit)
            .offset(offset)
        )
    ).all()
    ids = [row.id for row in rows]
    by_cp: dict[str, list[Row[Any]]] = {cp: [] for cp in ids}
    if ids:
        for c in await session.execute(
            select(connectors)
            .where(connectors.c.charge_point_id.in_(ids))
            .order_by(connectors.c.charge_point_id, connectors.c.connector_id)
        ):
            by_cp[c.charge_point_id].append(c)
    evses = await load_evses(session, ids)
    found = [charge_point_of(row, by_cp[row.id]) for row in rows]
    for cp in found:
        cp.evses = evses[cp.id]
    return found, int(total or 0)


async def charge_point_page(
    session: AsyncSession,
    table: Table,
    params: PageOfChargePoint,
    order_by: Sequence[ColumnElement[Any]],
    item: Callable[[Row[Any]], T],
    page: type[Page[T]],
) -> Page[T]:
    """A page of one CP's rows of `table` (params: id, limit, offset), each as `item` makes it,
    as a `page` (the method's result class, `Page[StatusRecord]`)."""
    limit, offset = params.limit, params.offset
    where = table.c.charge_point_id == params.id
    total = await session.scalar(select(func.count()).select_from(table).where(where))
    rows = await session.execute(
        select(table).where(where).order_by(*order_by).limit(limit).offset(offset)
    )
    return page(
        items=[item(row) for row in rows], total=int(total or 0), limit=limit, offset=offset
    )
