"""The registry's entrypoints: the CP calls it owns, presence events, RPC reads."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert

from csms_shared.bus.events import event_body
from csms_shared.bus.router import CallContext, Context, Router
from csms_shared.bus.rpc import RpcError
from csms_shared.ocpp._base import format_datetime, utcnow
from csms_shared.ocpp.v16.actions import Action
from csms_shared.ocpp.v16.enums import RegistrationStatus
from csms_shared.ocpp.v16.messages import (
    BootNotificationRequest,
    BootNotificationResponse,
    HeartbeatRequest,
    HeartbeatResponse,
    StatusNotificationRequest,
    StatusNotificationResponse,
)

from .db import charge_points, connectors, gateways, status_history
from .queries import charge_point_doc, ensure_charge_point, load_charge_points, touch
from .settings import Settings, UnknownChargePointPolicy

router = Router(service="station-registry")


def _received(ctx: CallContext) -> datetime:
    return ctx.received_at or utcnow()


@router.on(Action.BOOT_NOTIFICATION)
async def boot_notification(
    request: BootNotificationRequest, ctx: CallContext
) -> BootNotificationResponse:
    """Record or refresh the charge point and give it its heartbeat interval."""
    settings: Settings = ctx.settings
    at = _received(ctx)
    await ensure_charge_point(ctx.session, ctx.charge_point_id)
    previous = await ctx.session.scalar(
        select(charge_points.c.registration_status)
        .where(charge_points.c.id == ctx.charge_point_id)
        .with_for_update()
    )
    accepted = (
        settings.unknown_charge_points is UnknownChargePointPolicy.ACCEPT
        or previous == RegistrationStatus.ACCEPTED.value
    )
    status = RegistrationStatus.ACCEPTED if accepted else RegistrationStatus.REJECTED
    await ctx.session.execute(
        update(charge_points)
        .where(charge_points.c.id == ctx.charge_point_id)
        .values(
            vendor=request.charge_point_vendor,
            model=request.charge_point_model,
            serial_number=request.charge_point_serial_number,
            charge_box_serial_number=request.charge_box_serial_number,
            firmware_version=request.firmware_version,
            iccid=request.iccid,
            imsi=request.imsi,
            meter_type=request.meter_type,
            meter_serial_number=request.meter_serial_number,
            registration_status=status.value,
            last_boot_at=at,
            last_seen_at=func.greatest(func.coalesce(charge_points.c.last_seen_at, at), at),
        )
    )
    await ctx.emit(
        "station.booted",
        event_body(
            "station.booted",
            at=at,
            chargePointId=ctx.charge_point_id,
            registrationStatus=status.value,
            **request.to_payload(),
        ),
    )
    return BootNotificationResponse(
        status=status, current_time=utcnow(), interval=settings.heartbeat_interval
    )


@router.on(Action.HEARTBEAT)
async def heartbeat(request: HeartbeatRequest, ctx: CallContext) -> HeartbeatResponse:
    """Last seen; the gateway has already answered with its clock."""
    await touch(ctx.session, ctx.charge_point_id, _received(ctx))
    return HeartbeatResponse(current_time=utcnow())


@router.on(Action.STATUS_NOTIFICATION)
async def status_notification(
    request: StatusNotificationRequest, ctx: CallContext
) -> StatusNotificationResponse:
    """Connector status (connector 0 is the whole CP), kept with its history."""
    received = _received(ctx)
    # Queued notifications arrive late: order them by the CP's own timestamp when it sent one.
    at = request.timestamp or received
    fields = {
        "status": request.status.value,
        "error_code": request.error_code.value,
        "info": request.info,
        "vendor_id": request.vendor_id,
        "vendor_error_code": request.vendor_error_code,
    }
    await ensure_charge_point(ctx.session, ctx.charge_point_id)
    await touch(ctx.session, ctx.charge_point_id, received)
    stmt = insert(connectors).values(
        charge_point_id=ctx.charge_point_id,
        connector_id=request.connector_id,
        status_at=at,
        **fields,
    )
    await ctx.session.execute(
        stmt.on_conflict_do_update(
            index_elements=[connectors.c.charge_point_id, connectors.c.connector_id],
            set_={**fields, "status_at": at},
            where=or_(connectors.c.status_at.is_(None), connectors.c.status_at <= at),
        )
    )
    inserted = await ctx.session.execute(
        insert(status_history)
        .values(
            charge_point_id=ctx.charge_point_id,
            connector_id=request.connector_id,
            timestamp=at,
            received_at=received,
            **fields,
        )
        .on_conflict_do_nothing(constraint="uq_status")
        .returning(status_history.c.id)
    )
    if inserted.first() is not None:
        await ctx.emit(
            "connector.status",
            event_body(
                "connector.status",
                at=at,
                chargePointId=ctx.charge_point_id,
                **request.to_payload(),
            ),
        )
    return StatusNotificationResponse()


# -- presence --------------------------------------------------------------------------------


@router.event("station.connected")
async def station_connected(event: dict[str, Any], ctx: Context) -> None:
    """The CP holds a connection on `gateway`; the newest connection wins."""
    connected_at = datetime.fromisoformat(event["connectedAt"])
    cp = charge_points.c
    await ctx.session.execute(
        insert(charge_points).values(id=event["chargePointId"]).on_conflict_do_nothing()
    )
    await ctx.session.execute(
        update(charge_points)
        .where(
            and_(
                cp.id == event["chargePointId"],
                or_(cp.connected_at.is_(None), cp.connected_at <= connected_at),
            )
        )
        .values(
            online=True,
            gateway=event["gateway"],
            connection_id=event["connectionId"],
            connected_at=connected_at,
            last_seen_at=func.greatest(func.coalesce(cp.last_seen_at, connected_at), connected_at),
        )
    )


@router.event("station.disconnected")
async def station_disconnected(event: dict[str, Any], ctx: Context) -> None:
    """Offline, unless a newer connection has already taken over."""
    cp = charge_points.c
    await ctx.session.execute(
        update(charge_points)
        .where(and_(cp.id == event["chargePointId"], cp.connection_id == event["connectionId"]))
        .values(online=False, disconnected_at=datetime.fromisoformat(event["at"]))
    )


@router.event("gateway.heartbeat")
async def gateway_heartbeat(event: dict[str, Any], ctx: Context) -> None:
    """A gateway is alive; its beat time is taken from the registry's clock (no skew)."""
    values = {
        "last_beat_at": func.now(),
        "beat_interval": float(event.get("interval", 5.0)),
        "connections": int(event.get("connections", 0)),
    }
    await ctx.session.execute(
        insert(gateways)
        .values(id=event["gateway"], **values)
        .on_conflict_do_update(index_elements=[gateways.c.id], set_=values)
    )


@router.event("gateway.stopped")
async def gateway_stopped(event: dict[str, Any], ctx: Context) -> None:
    """A gateway drained and stopped: none of its CPs is online through it."""
    await ctx.session.execute(
        insert(gateways)
        .values(id=event["gateway"], stopped_at=func.now())
        .on_conflict_do_update(index_elements=[gateways.c.id], set_={"stopped_at": func.now()})
    )
    await ctx.session.execute(
        update(charge_points)
        .where(and_(charge_points.c.gateway == event["gateway"], charge_points.c.online.is_(True)))
        .values(online=False, disconnected_at=func.now())
    )


# -- RPC reads -------------------------------------------------------------------------------


def _page(params: dict[str, Any]) -> tuple[int, int]:
    try:
        limit = int(params.get("limit", 50))
        offset = int(params.get("offset", 0))
    except (TypeError, ValueError):
        raise RpcError("invalid", "limit and offset are integers") from None
    if not 1 <= limit <= 1000 or offset < 0:
        raise RpcError("invalid", "limit is 1..1000 and offset >= 0")
    return limit, offset


@router.rpc("list_charge_points")
async def list_charge_points(params: dict[str, Any], ctx: Context) -> dict[str, Any]:
    """A page of charge points with their connectors."""
    limit, offset = _page(params)
    online = params.get("online")
    items, total = await load_charge_points(
        ctx.session, limit=limit, offset=offset, online=None if online is None else bool(online)
    )
    return {"items": items, "total": total, "limit": limit, "offset": offset}


@router.rpc("get_charge_point")
async def get_charge_point(params: dict[str, Any], ctx: Context) -> dict[str, Any]:
    """One charge point with its connectors."""
    cp_id = params.get("id")
    if not isinstance(cp_id, str):
        raise RpcError("invalid", "id is a string")
    row = (
        await ctx.session.execute(select(charge_points).where(charge_points.c.id == cp_id))
    ).first()
    if row is None:
        raise RpcError("not_found", f"charge point {cp_id!r} was never seen")
    connector_rows = (
        await ctx.session.execute(
            select(connectors)
            .where(connectors.c.charge_point_id == cp_id)
            .order_by(connectors.c.connector_id)
        )
    ).all()
    return charge_point_doc(row, list(connector_rows))


@router.rpc("status_history")
async def get_status_history(params: dict[str, Any], ctx: Context) -> dict[str, Any]:
    """A CP's status notifications, newest first."""
    limit, offset = _page(params)
    cp_id = params.get("id")
    h = status_history.c
    rows = (
        await ctx.session.execute(
            select(status_history)
            .where(h.charge_point_id == cp_id)
            .order_by(h.timestamp.desc(), h.id.desc())
            .limit(limit)
            .offset(offset)
        )
    ).all()
    total = await ctx.session.scalar(
        select(func.count()).select_from(status_history).where(h.charge_point_id == cp_id)
    )
    items = [
        {
            "connectorId": r.connector_id,
            "status": r.status,
            "errorCode": r.error_code,
            "timestamp": format_datetime(r.timestamp),
            **({"info": r.info} if r.info else {}),
        }
        for r in rows
    ]
    return {"items": items, "total": int(total or 0), "limit": limit, "offset": offset}


@router.rpc("status_summary")
async def status_summary(params: dict[str, Any], ctx: Context) -> dict[str, Any]:
    """Charge points known and connected, in all and per live gateway."""
    cp = charge_points.c
    known = await ctx.session.scalar(select(func.count()).select_from(charge_points))
    rows = (
        await ctx.session.execute(
            select(cp.gateway, func.count())
            .where(cp.online.is_(True))
            .group_by(cp.gateway)
            .order_by(cp.gateway)
        )
    ).all()
    live = (
        await ctx.session.execute(
            select(gateways).where(gateways.c.stopped_at.is_(None)).order_by(gateways.c.id)
        )
    ).all()
    online_by_gateway: dict[str, int] = dict(rows)  # type: ignore[arg-type]
    return {
        "chargePointsKnown": int(known or 0),
        "chargePointsConnected": sum(online_by_gateway.values()),
        "gateways": [
            {
                "id": g.id,
                "connected": online_by_gateway.get(g.id, 0),
                "lastBeat": format_datetime(g.last_beat_at),
            }
            for g in live
            if online_by_gateway.get(g.id) or g.connections
        ],
    }
