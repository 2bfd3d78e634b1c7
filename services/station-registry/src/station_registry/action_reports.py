"""The CP's own reports (1.6): firmware/diagnostics/log progress, security events, CSRs,
DataTransfer; the rules they share with 2.0.1 are in `reports.py`."""

from __future__ import annotations

from csms_shared.ocpp.v16.actions import Action
from csms_shared.ocpp.v16.enums import GenericStatus
from csms_shared.ocpp.v16.messages import (
    DataTransferRequest,
    DataTransferResponse,
    DiagnosticsStatusNotificationRequest,
    DiagnosticsStatusNotificationResponse,
    FirmwareStatusNotificationRequest,
    FirmwareStatusNotificationResponse,
    LogStatusNotificationRequest,
    LogStatusNotificationResponse,
    SecurityEventNotificationRequest,
    SecurityEventNotificationResponse,
    SignCertificateRequest,
    SignCertificateResponse,
    SignedFirmwareStatusNotificationRequest,
    SignedFirmwareStatusNotificationResponse,
)

from .reports import (
    csr_received,
    data_received,
    report_status,
    security_event_reported,
)
from .router import CallCtx, router


@router.on(Action.DIAGNOSTICS_STATUS_NOTIFICATION)
async def diagnostics_status_notification(
    request: DiagnosticsStatusNotificationRequest, ctx: CallCtx
) -> DiagnosticsStatusNotificationResponse:
    """Progress of a diagnostics upload started by GetDiagnostics."""
    await report_status(ctx, "diagnostics", request.status.value, None)
    return DiagnosticsStatusNotificationResponse()


@router.on(Action.FIRMWARE_STATUS_NOTIFICATION)
async def firmware_status_notification(
    request: FirmwareStatusNotificationRequest, ctx: CallCtx
) -> FirmwareStatusNotificationResponse:
    """Progress of a firmware update started by UpdateFirmware."""
    await report_status(ctx, "firmware", request.status.value, None)
    return FirmwareStatusNotificationResponse()


@router.on(Action.SIGNED_FIRMWARE_STATUS_NOTIFICATION)
async def signed_firmware_status_notification(
    request: SignedFirmwareStatusNotificationRequest, ctx: CallCtx
) -> SignedFirmwareStatusNotificationResponse:
    """Progress of a signed firmware update started by SignedUpdateFirmware."""
    await report_status(ctx, "signed_firmware", request.status.value, request.request_id)
    return SignedFirmwareStatusNotificationResponse()


@router.on(Action.LOG_STATUS_NOTIFICATION)
async def log_status_notification(
    request: LogStatusNotificationRequest, ctx: CallCtx
) -> LogStatusNotificationResponse:
    """Progress of a log upload started by GetLog."""
    await report_status(ctx, "log", request.status.value, request.request_id)
    return LogStatusNotificationResponse()


@router.on(Action.SECURITY_EVENT_NOTIFICATION)
async def security_event_notification(
    request: SecurityEventNotificationRequest, ctx: CallCtx
) -> SecurityEventNotificationResponse:
    """A security event the CP reports, kept in its security log."""
    await security_event_reported(ctx, request.type, request.tech_info, request.timestamp)
    return SecurityEventNotificationResponse()


@router.on(Action.SIGN_CERTIFICATE)
async def sign_certificate(
    request: SignCertificateRequest, ctx: CallCtx
) -> SignCertificateResponse:
    """Keep a CSR for this CP and hand it to the CA integration (`certificate.sign_requested`)."""
    problem = await csr_received(ctx, request.csr)
    return SignCertificateResponse(
        status=GenericStatus.REJECTED if problem else GenericStatus.ACCEPTED
    )


@router.on(Action.DATA_TRANSFER)
async def data_transfer(request: DataTransferRequest, ctx: CallCtx) -> DataTransferResponse:
    """Vendor-specific data: accepted for configured vendors and messages, always recorded."""
    status = await data_received(ctx, request.vendor_id, request.message_id, request.data)
    return DataTransferResponse(status=status)
