"""What a 2.0.1 station reports: its device model, security events, firmware and log progress,
CSRs, DataTransfer, and the notifications the suite keeps without acting on them yet.

Each reuses the 1.6 handler's storage and rules where 1.6 has the message (`action_reports`);
what 1.6 lacks and has no table of its own (NotifyEvent, NotifyMonitoringReport, smart charging
and display-message reports, ...) is kept as sent in `station_messages`, one row per message.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

import orjson
from pydantic import JsonValue
from sqlalchemy.dialects.postgresql import insert

from csms_shared.ocpp._base import OcppModel, utcnow
from csms_shared.ocpp.redaction import redact_request, secret_keys
from csms_shared.ocpp.v201 import messages as m
from csms_shared.ocpp.v201.actions import ACTIONS, Action
from csms_shared.ocpp.v201.datatypes import StatusInfo
from csms_shared.ocpp.v201.enums import (
    CertificateSigningUseEnum,
    DataTransferStatusEnum,
    GenericStatusEnum,
    GetCertificateStatusEnum,
    Iso15118EVCertificateStatusEnum,
    NotifyEVChargingNeedsStatusEnum,
)

from .db import station_messages
from .device_model import device_model_full, store_report
from .reports import csr_received, data_received, report_status, security_event_reported
from .router import CallCtx, router
from .store import ensure_charge_point

# statusInfo.reasonCode is at most 20 characters: "NoCertificateProvider" does not fit.
NO_PROVIDER = StatusInfo(
    reason_code="NoCertProvider",
    additional_info="No ISO 15118 certificate provider (contract certificates, OCSP) is set up.",
)


def _received(ctx: CallCtx) -> datetime:
    return ctx.received_at or utcnow()


async def record(ctx: CallCtx, request: OcppModel) -> None:
    """Keep a station's message as sent (its part of a multi-part report by the requestId,
    seqNo and tbc it carries, where it has them) in `station_messages`, pruned after
    REGISTRY_STATION_MESSAGES_RETENTION_DAYS."""
    # The generated models are named after their action (NotifyEventRequest: NotifyEvent).
    action = type(request).__name__.removesuffix("Request")
    # One rule for every store: a secret variable's value (NotifyEvent's actualValue, a
    # monitor of BasicAuthPassword) and URL passwords never reach the table.
    secrets = secret_keys(ctx.settings.secret_configuration_keys)
    await ctx.session.execute(
        insert(station_messages).values(
            charge_point_id=ctx.charge_point_id,
            action=action,
            request_id=getattr(request, "request_id", None),
            seq_no=getattr(request, "seq_no", None),
            tbc=bool(getattr(request, "tbc", False)),
            payload=redact_request(action, request.to_payload(), secrets),
            received_at=_received(ctx),
        )
    )


@router.on(Action.NOTIFY_REPORT)
async def notify_report(request: m.NotifyReportRequest, ctx: CallCtx) -> m.NotifyReportResponse:
    """A part of the station's device model (GetBaseReport / GetReport): each part's
    attributes are upserted, so the parts of one report (seqNo, tbc) add up to the whole; new
    ones past the station's cap are refused (a DeviceModelFull security event), the rest kept."""
    await ensure_charge_point(ctx.session, ctx.charge_point_id)
    refused = await store_report(
        ctx.session,
        ctx.charge_point_id,
        request.report_data or [],
        _received(ctx),
        secret_keys(ctx.settings.secret_configuration_keys),
        ctx.settings.device_model_max_attributes,
    )
    await device_model_full(ctx, ctx.charge_point_id, refused, "NotifyReport")
    return m.NotifyReportResponse()


@router.on(Action.SECURITY_EVENT_NOTIFICATION)
async def security_event_notification(
    request: m.SecurityEventNotificationRequest, ctx: CallCtx
) -> m.SecurityEventNotificationResponse:
    """A security event the station reports, kept in its security log as 1.6's."""
    await security_event_reported(ctx, request.type, request.tech_info, request.timestamp)
    return m.SecurityEventNotificationResponse()


@router.on(Action.FIRMWARE_STATUS_NOTIFICATION)
async def firmware_status_notification(
    request: m.FirmwareStatusNotificationRequest, ctx: CallCtx
) -> m.FirmwareStatusNotificationResponse:
    """Progress of a firmware update, attached to its operation by requestId when one has it."""
    await report_status(ctx, "firmware", request.status.value, request.request_id)
    return m.FirmwareStatusNotificationResponse()


@router.on(Action.LOG_STATUS_NOTIFICATION)
async def log_status_notification(
    request: m.LogStatusNotificationRequest, ctx: CallCtx
) -> m.LogStatusNotificationResponse:
    """Progress of a log upload started by GetLog (2.0.1 spells its statuses as 1.6's)."""
    await report_status(ctx, "log", request.status.value, request.request_id)
    return m.LogStatusNotificationResponse()


@router.on(Action.SIGN_CERTIFICATE)
async def sign_certificate(
    request: m.SignCertificateRequest, ctx: CallCtx
) -> m.SignCertificateResponse:
    """A CSR for the station's own certificate, kept and handed to the CA integration as
    1.6's; one for an ISO 15118 (V2G) certificate is refused: no provider signs those."""
    if request.certificate_type is CertificateSigningUseEnum.V2G_CERTIFICATE:
        return m.SignCertificateResponse(status=GenericStatusEnum.REJECTED, status_info=NO_PROVIDER)
    problem = await csr_received(ctx, request.csr)
    if problem is None:
        return m.SignCertificateResponse(status=GenericStatusEnum.ACCEPTED)
    return m.SignCertificateResponse(
        status=GenericStatusEnum.REJECTED,
        status_info=StatusInfo(reason_code="InvalidCSR", additional_info=problem[:512]),
    )


@router.on(Action.DATA_TRANSFER)
async def data_transfer(request: m.DataTransferRequest, ctx: CallCtx) -> m.DataTransferResponse:
    """Vendor-specific data, answered and kept as 1.6's (UnknownVendorId unless configured)."""
    status = await data_received(ctx, request.vendor_id, request.message_id, _as_text(request.data))
    return m.DataTransferResponse(status=DataTransferStatusEnum(status.value))


def _as_text(data: JsonValue) -> str | None:
    """2.0.1's data is any JSON, 1.6's a string: a string stays itself, anything else is kept
    as its JSON text."""
    if data is None or isinstance(data, str):
        return data
    return orjson.dumps(data).decode()


@router.on(Action.GET15118_EV_CERTIFICATE)
async def get_15118_ev_certificate(
    request: m.Get15118EVCertificateRequest, ctx: CallCtx
) -> m.Get15118EVCertificateResponse:
    """Failed: no ISO 15118 certificate provider is configured to install or update an EV's
    contract certificate with (the EXI response is then empty)."""
    return m.Get15118EVCertificateResponse(
        status=Iso15118EVCertificateStatusEnum.FAILED, exi_response="", status_info=NO_PROVIDER
    )


@router.on(Action.GET_CERTIFICATE_STATUS)
async def get_certificate_status(
    request: m.GetCertificateStatusRequest, ctx: CallCtx
) -> m.GetCertificateStatusResponse:
    """Failed: no OCSP responder is configured to ask for a V2G certificate's status."""
    return m.GetCertificateStatusResponse(
        status=GetCertificateStatusEnum.FAILED, status_info=NO_PROVIDER
    )


@router.on(Action.NOTIFY_EV_CHARGING_NEEDS)
async def notify_ev_charging_needs(
    request: m.NotifyEVChargingNeedsRequest, ctx: CallCtx
) -> m.NotifyEVChargingNeedsResponse:
    """Rejected: the suite computes no TxProfile from an EV's needs, so none will follow
    (Accepted would promise one, Processing one later, K15.FR.04); the EV charges within the
    profiles the station already holds (a site's allocation among them). The needs are kept."""
    await record(ctx, request)
    return m.NotifyEVChargingNeedsResponse(status=NotifyEVChargingNeedsStatusEnum.REJECTED)


@router.on(Action.NOTIFY_EV_CHARGING_SCHEDULE)
async def notify_ev_charging_schedule(
    request: m.NotifyEVChargingScheduleRequest, ctx: CallCtx
) -> m.NotifyEVChargingScheduleResponse:
    """Accepted: the station derives what it offers the EV from the profiles it holds, the
    CSMS's limits included, so the EV's schedule stays within them. Kept."""
    await record(ctx, request)
    return m.NotifyEVChargingScheduleResponse(status=GenericStatusEnum.ACCEPTED)


# Notifications kept as sent, nothing acted on yet: each answered with its empty response.
KEPT: dict[Action, str] = {
    Action.NOTIFY_EVENT: "Events of the station's components (faults, monitors tripped)",
    Action.NOTIFY_MONITORING_REPORT: "A part of the station's monitors report",
    Action.NOTIFY_CHARGING_LIMIT: "A limit set by an external system (an EMS, the grid)",
    Action.CLEARED_CHARGING_LIMIT: "An external limit was lifted",
    Action.REPORT_CHARGING_PROFILES: "A part of the GetChargingProfiles report",
    Action.NOTIFY_DISPLAY_MESSAGES: "A part of the GetDisplayMessages report",
    Action.NOTIFY_CUSTOMER_INFORMATION: "A part of what the station holds about a customer",
    Action.PUBLISH_FIRMWARE_STATUS_NOTIFICATION: "A Local Controller's firmware publishing",
}


def _keeper(action: Action, what: str) -> Callable[[OcppModel, CallCtx], Awaitable[OcppModel]]:
    """The handler of a notification that is only kept: `record`, then the empty response."""
    response = ACTIONS[action.value].response

    async def keep(request: OcppModel, ctx: CallCtx) -> OcppModel:
        await record(ctx, request)
        return response()

    keep.__name__ = keep.__qualname__ = f"keep_{action.value}"
    keep.__doc__ = f"{what}: kept."
    return keep


for _action, _what in KEPT.items():
    router.on(_action)(_keeper(_action, _what))
