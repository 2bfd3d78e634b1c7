"""BootNotification: create or refresh the charge point, answer its registration status.

One set of rules for both versions: each version's request is first read as `Boot` (1.6's
field names, the neutral ones), which the upsert, the policy and `station.booted` take; only
the answer is spelled per version.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TypedDict, TypeVar

from sqlalchemy import String, bindparam, case, func
from sqlalchemy.dialects.postgresql import insert

from csms_shared.bus.rounds import in_rounds
from csms_shared.contracts.events import StationBooted
from csms_shared.ocpp._base import utcnow
from csms_shared.ocpp.v16.actions import Action
from csms_shared.ocpp.v16.enums import RegistrationStatus
from csms_shared.ocpp.v16.messages import BootNotificationRequest, BootNotificationResponse
from csms_shared.ocpp.v201 import messages as v201
from csms_shared.ocpp.v201.actions import Action as V201Action
from csms_shared.ocpp.v201.enums import RegistrationStatusEnum

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
    "last_boot_reason",
    # The version of the connection the boot came over: station.connected records it too, but
    # a row the boot creates (policy `pending`) is newer than that connection's event.
    "ocpp_version",
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


class Boot(TypedDict):
    """A BootNotification in the registry's terms, whatever the version that sent it."""

    charge_point_vendor: str
    charge_point_model: str
    charge_point_serial_number: str | None
    charge_box_serial_number: str | None
    firmware_version: str | None
    iccid: str | None
    imsi: str | None
    meter_type: str | None
    meter_serial_number: str | None
    reason: str | None


def boot_of_v16(request: BootNotificationRequest) -> Boot:
    """A 1.6 BootNotification: its fields are the neutral ones; 1.6 gives no reason."""
    return Boot(
        charge_point_vendor=request.charge_point_vendor,
        charge_point_model=request.charge_point_model,
        charge_point_serial_number=request.charge_point_serial_number,
        charge_box_serial_number=request.charge_box_serial_number,
        firmware_version=request.firmware_version,
        iccid=request.iccid,
        imsi=request.imsi,
        meter_type=request.meter_type,
        meter_serial_number=request.meter_serial_number,
        reason=None,
    )


def boot_of_v201(request: v201.BootNotificationRequest) -> Boot:
    """A 2.0.1 BootNotification: chargingStation's vendorName, model, serialNumber,
    firmwareVersion and modem (iccid, imsi) are 1.6's fields of the same meaning. 2.0.1 has no
    charge box serial number and no meter fields (its meters are device-model components)."""
    station = request.charging_station
    modem = station.modem
    return Boot(
        charge_point_vendor=station.vendor_name,
        charge_point_model=station.model,
        charge_point_serial_number=station.serial_number,
        charge_box_serial_number=None,
        firmware_version=station.firmware_version,
        iccid=modem.iccid if modem else None,
        imsi=modem.imsi if modem else None,
        meter_type=None,
        meter_serial_number=None,
        reason=request.reason.value,
    )


@router.on(Action.BOOT_NOTIFICATION)
async def boot_notification(
    request: BootNotificationRequest, ctx: CallCtx
) -> BootNotificationResponse:
    """Record or refresh the charge point and give it its heartbeat interval."""
    return _v16_answer(*await _register(boot_of_v16(request), ctx))


@router.on(V201Action.BOOT_NOTIFICATION)
async def boot_notification_v201(
    request: v201.BootNotificationRequest, ctx: CallCtx
) -> v201.BootNotificationResponse:
    """`boot_notification` for a 2.0.1 station: the same row, rules and event."""
    return _v201_answer(*await _register(boot_of_v201(request), ctx))


def _v16_answer(status: RegistrationStatus, interval: int) -> BootNotificationResponse:
    return BootNotificationResponse(status=status, current_time=utcnow(), interval=interval)


def _v201_answer(status: RegistrationStatus, interval: int) -> v201.BootNotificationResponse:
    # Both versions spell the three registration statuses alike.
    return v201.BootNotificationResponse(
        status=RegistrationStatusEnum(status.value), current_time=utcnow(), interval=interval
    )


async def _register(boot: Boot, ctx: CallCtx) -> tuple[RegistrationStatus, int]:
    """Upsert one boot; the status stored and its interval."""
    stored = (await ctx.session.execute(BOOT_UPSERT, _boot_values(boot, ctx))).one()
    return await _booted(boot, ctx, RegistrationStatus(stored.registration_status))


def _boot_values(boot: Boot, ctx: CallCtx) -> dict[str, str | datetime | None]:
    """BOOT_UPSERT's parameters for one BootNotification."""
    at = _received(ctx)
    return {
        "p_id": ctx.charge_point_id,
        "p_status": _POLICY_STATUS[ctx.settings.unknown_charge_points].value,
        "p_at": at,
        "p_gateway": ctx.gateway_id or None,
        "p_connected_at": at,
        "p_vendor": boot["charge_point_vendor"],
        "p_model": boot["charge_point_model"],
        "p_serial_number": boot["charge_point_serial_number"],
        "p_charge_box_serial_number": boot["charge_box_serial_number"],
        "p_firmware_version": boot["firmware_version"],
        "p_iccid": boot["iccid"],
        "p_imsi": boot["imsi"],
        "p_meter_type": boot["meter_type"],
        "p_meter_serial_number": boot["meter_serial_number"],
        "p_last_boot_reason": boot["reason"],
        "p_ocpp_version": ctx.ocpp_version.value,
        "p_last_boot_at": at,
    }


async def _booted(
    boot: Boot, ctx: CallCtx, status: RegistrationStatus
) -> tuple[RegistrationStatus, int]:
    """station.booted, and what the answer says: the status stored and its interval."""
    settings = ctx.settings
    await ctx.emit(
        StationBooted(
            at=_received(ctx),
            charge_point_id=ctx.charge_point_id,
            registration_status=status,
            ocpp_version=ctx.ocpp_version,
            **boot,
        )
    )
    # While Pending, the interval is how soon the CP boots again (OCPP 1.6 section 4.2; 2.0.1
    # B02.FR.01).
    interval = (
        settings.heartbeat_interval
        if status is RegistrationStatus.ACCEPTED
        else settings.pending_interval
    )
    return status, interval


# A reconnect storm's BootNotifications: one upsert a round instead of one a call (the same kind
# of saving as the session-service's set-based groups, bench/RESULTS.md). Same rows and answers
# as `boot_notification` call after call (tests/integration/test_boot_groups.py).
@router.on_batch(Action.BOOT_NOTIFICATION)
async def boot_notification_batch(
    calls: list[tuple[BootNotificationRequest, CallCtx]], ctx: Ctx
) -> list[BootNotificationResponse]:
    """`boot_notification` for many CPs: one upsert a round; a CP's second one in a later round."""
    return await _boot_batch(calls, boot_of_v16, _v16_answer)


@router.on_batch(V201Action.BOOT_NOTIFICATION)
async def boot_notification_v201_batch(
    calls: list[tuple[v201.BootNotificationRequest, CallCtx]], ctx: Ctx
) -> list[v201.BootNotificationResponse]:
    """`boot_notification_v201` for many stations, as `boot_notification_batch`."""
    return await _boot_batch(calls, boot_of_v201, _v201_answer)


R = TypeVar("R")
A = TypeVar("A")


async def _boot_batch(
    calls: list[tuple[R, CallCtx]],
    read: Callable[[R], Boot],
    answer: Callable[[RegistrationStatus, int], A],
) -> list[A]:
    """Boots read by `read`, upserted a round at a time, each answered by `answer`."""
    boots = [(read(request), call) for request, call in calls]

    async def round_of(part: list[tuple[Boot, CallCtx]]) -> list[A]:
        return [answer(*booted) for booted in await _boot_round(part)]

    return await in_rounds(boots, lambda boot: [boot[1].charge_point_id], round_of)


async def _boot_round(calls: list[tuple[Boot, CallCtx]]) -> list[tuple[RegistrationStatus, int]]:
    """Upsert the CPs of `calls` (no two the same) in one statement; each one's status and
    interval."""
    values = [_boot_values(boot, call) for boot, call in calls]
    session = calls[0][1].session
    stored = {row.id: row.registration_status for row in await session.execute(BOOT_UPSERT, values)}
    return [
        await _booted(boot, call, RegistrationStatus(stored[call.charge_point_id]))
        for boot, call in calls
    ]
