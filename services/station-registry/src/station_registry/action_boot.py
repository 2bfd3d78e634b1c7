"""BootNotification: create or refresh the charge point, answer its registration status."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, bindparam, case, func
from sqlalchemy.dialects.postgresql import insert

from csms_shared.bus.rounds import in_rounds
from csms_shared.contracts.events import StationBooted
from csms_shared.ocpp._base import utcnow
from csms_shared.ocpp.v16.actions import Action
from csms_shared.ocpp.v16.enums import RegistrationStatus
from csms_shared.ocpp.v16.messages import BootNotificationRequest, BootNotificationResponse

from .db import TIMESTAMP, charge_points
from .router import CallCtx, Ctx, router
from .settings import UnknownChargePointPolicy


def _received(ctx: CallCtx) -> datetime:
    return ctx.received_at or utcnow()


# BootNotification's upsert, built once (building it per call cost more CPU than running it):
# create or refresh the CP under its row lock. An Accepted CP stays Accepted; any other (or a
# new one) gets what the registration policy says.
_BOOT_FIELDS = (
    "vendor",
    "model",
    "serial_number",
    "charge_box_serial_number",
    "firmware_version",
    "iccid",
    "imsi",
    "meter_type",
    "meter_serial_number",
    "last_boot_at",
)
# A row it creates (policy `pending`: the handshake made none) is online at the sending gateway;
# its connection id comes with the CP's next station.connected.
_boot = insert(charge_points).values(
    id=bindparam("p_id", type_=String),
    registration_status=bindparam("p_status", type_=String),
    last_seen_at=bindparam("p_at", type_=TIMESTAMP),
    online=True,
    gateway=bindparam("p_gateway", type_=String),
    connected_at=bindparam("p_connected_at", type_=TIMESTAMP),
    **{
        name: bindparam(f"p_{name}", type_=TIMESTAMP if name == "last_boot_at" else String)
        for name in _BOOT_FIELDS
    },
)
BOOT_UPSERT = _boot.on_conflict_do_update(
    index_elements=[charge_points.c.id],
    set_={
        **{name: _boot.excluded[name] for name in _BOOT_FIELDS},
        "registration_status": case(
            (
                charge_points.c.registration_status == RegistrationStatus.ACCEPTED.value,
                RegistrationStatus.ACCEPTED.value,
            ),
            else_=_boot.excluded.registration_status,
        ),
        "last_seen_at": func.greatest(
            func.coalesce(charge_points.c.last_seen_at, _boot.excluded.last_seen_at),
            _boot.excluded.last_seen_at,
        ),
    },
).returning(charge_points.c.id, charge_points.c.registration_status)
_POLICY_STATUS = {
    UnknownChargePointPolicy.ACCEPT: RegistrationStatus.ACCEPTED,
    UnknownChargePointPolicy.PENDING: RegistrationStatus.PENDING,
    UnknownChargePointPolicy.REJECT: RegistrationStatus.REJECTED,
}


@router.on(Action.BOOT_NOTIFICATION)
async def boot_notification(
    request: BootNotificationRequest, ctx: CallCtx
) -> BootNotificationResponse:
    """Record or refresh the charge point and give it its heartbeat interval."""
    values = _boot_values(request, ctx)
    stored = (await ctx.session.execute(BOOT_UPSERT, values)).one()
    return await _booted(request, ctx, RegistrationStatus(stored.registration_status))


def _boot_values(
    request: BootNotificationRequest, ctx: CallCtx
) -> dict[str, str | datetime | None]:
    """BOOT_UPSERT's parameters for one BootNotification."""
    at = _received(ctx)
    return {
        "p_id": ctx.charge_point_id,
        "p_status": _POLICY_STATUS[ctx.settings.unknown_charge_points].value,
        "p_at": at,
        "p_gateway": ctx.gateway_id or None,
        "p_connected_at": at,
        "p_vendor": request.charge_point_vendor,
        "p_model": request.charge_point_model,
        "p_serial_number": request.charge_point_serial_number,
        "p_charge_box_serial_number": request.charge_box_serial_number,
        "p_firmware_version": request.firmware_version,
        "p_iccid": request.iccid,
        "p_imsi": request.imsi,
        "p_meter_type": request.meter_type,
        "p_meter_serial_number": request.meter_serial_number,
        "p_last_boot_at": at,
    }


async def _booted(
    request: BootNotificationRequest, ctx: CallCtx, status: RegistrationStatus
) -> BootNotificationResponse:
    """station.booted, and the answer: the status stored and the interval that goes with it."""
    settings = ctx.settings
    await ctx.emit(
        StationBooted(
            at=_received(ctx),
            charge_point_id=ctx.charge_point_id,
            registration_status=status,
            **request.to_payload(),
        )
    )
    # While Pending, the interval is how soon the CP boots again (OCPP 1.6 section 4.2).
    interval = (
        settings.heartbeat_interval
        if status is RegistrationStatus.ACCEPTED
        else settings.pending_interval
    )
    return BootNotificationResponse(status=status, current_time=utcnow(), interval=interval)


# A reconnect storm's BootNotifications: one upsert a round instead of one a call (the same kind
# of saving as the session-service's set-based groups, bench/RESULTS.md). Same rows and answers
# as `boot_notification` call after call (tests/integration/test_boot_groups.py).
@router.on_batch(Action.BOOT_NOTIFICATION)
async def boot_notification_batch(
    calls: list[tuple[BootNotificationRequest, CallCtx]], ctx: Ctx
) -> list[BootNotificationResponse]:
    """`boot_notification` for many CPs: one upsert a round; a CP's second one in a later round."""
    return await in_rounds(
        calls, lambda call: [call[1].charge_point_id], lambda part: _boot_round(part)
    )


async def _boot_round(
    calls: list[tuple[BootNotificationRequest, CallCtx]],
) -> list[BootNotificationResponse]:
    """Upsert the CPs of `calls` (no two the same) in one statement; answer each."""
    values = [_boot_values(request, call) for request, call in calls]
    session = calls[0][1].session
    stored = {row.id: row.registration_status for row in await session.execute(BOOT_UPSERT, values)}
    return [
        await _booted(request, call, RegistrationStatus(stored[call.charge_point_id]))
        for request, call in calls
    ]
