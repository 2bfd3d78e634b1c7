"""The registry's entrypoints: the CP calls it owns, presence events, RPC reads."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import case, func, or_
from sqlalchemy.dialects.postgresql import insert

from csms_shared.bus.events import event_body
from csms_shared.bus.router import CallContext
from csms_shared.ocpp._base import utcnow
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

from .db import charge_points, connectors, status_history
from .queries import seen, touch
from .router import router
from .settings import Settings, UnknownChargePointPolicy


def _received(ctx: CallContext) -> datetime:
    return ctx.received_at or utcnow()


@router.on(Action.BOOT_NOTIFICATION)
async def boot_notification(
    request: BootNotificationRequest, ctx: CallContext
) -> BootNotificationResponse:
    """Record or refresh the charge point and give it its heartbeat interval."""
    settings: Settings = ctx.settings
    at = _received(ctx)
    policy_status = {
        UnknownChargePointPolicy.ACCEPT: RegistrationStatus.ACCEPTED,
        UnknownChargePointPolicy.PENDING: RegistrationStatus.PENDING,
        UnknownChargePointPolicy.REJECT: RegistrationStatus.REJECTED,
    }[settings.unknown_charge_points]
    fields = {
        "vendor": request.charge_point_vendor,
        "model": request.charge_point_model,
        "serial_number": request.charge_point_serial_number,
        "charge_box_serial_number": request.charge_box_serial_number,
        "firmware_version": request.firmware_version,
        "iccid": request.iccid,
        "imsi": request.imsi,
        "meter_type": request.meter_type,
        "meter_serial_number": request.meter_serial_number,
        "last_boot_at": at,
    }
    # One statement: create or refresh the CP under its row lock. An Accepted CP stays
    # Accepted; any other (or a new one) gets what the registration policy says.
    cp = charge_points.c
    accepted = RegistrationStatus.ACCEPTED.value
    stmt = insert(charge_points).values(
        id=ctx.charge_point_id, registration_status=policy_status.value, last_seen_at=at, **fields
    )
    stored = await ctx.session.scalar(
        stmt.on_conflict_do_update(
            index_elements=[cp.id],
            set_={
                **fields,
                "registration_status": case(
                    (cp.registration_status == accepted, accepted),
                    else_=stmt.excluded.registration_status,
                ),
                "last_seen_at": func.greatest(
                    func.coalesce(cp.last_seen_at, stmt.excluded.last_seen_at),
                    stmt.excluded.last_seen_at,
                ),
            },
        ).returning(cp.registration_status)
    )
    status = RegistrationStatus(stored)
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
    # While Pending, the interval is how soon the CP boots again (OCPP 1.6 section 4.2).
    interval = (
        settings.heartbeat_interval
        if status is RegistrationStatus.ACCEPTED
        else settings.pending_interval
    )
    return BootNotificationResponse(status=status, current_time=utcnow(), interval=interval)


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
    await seen(ctx.session, ctx.charge_point_id, received)
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
