"""The rules on a station's own reports, for both versions: an operation's status reports
attached to the operation a command started (`start_operation`, `report_status`), security
events, CSRs and DataTransfers kept and published. The entry modules (`action_reports.py` for
1.6, `action_reports_v201.py`) and `follow_commands.py` call them; each is written once."""

from __future__ import annotations

from datetime import datetime

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.x509.oid import NameOID
from sqlalchemy import and_, select, update
from sqlalchemy.dialects.postgresql import insert

from csms_shared.contracts.events import (
    CertificateSignRequested,
    CommandCompleted,
    DataTransferReceived,
    DiagnosticsStatus,
    Event,
    FirmwareStatus,
    LogStatus,
    SignedFirmwareStatus,
)
from csms_shared.ocpp import v201
from csms_shared.ocpp._base import utcnow
from csms_shared.ocpp.v16.enums import (
    DataTransferStatus,
    UpdateFirmwareStatus,
)
from csms_shared.ocpp.v16.enums import LogStatus as LogAnswer
from csms_shared.ocpp.v16.messages import (
    GetDiagnosticsRequest,
    GetDiagnosticsResponse,
    GetLogRequest,
    GetLogResponse,
    SignedUpdateFirmwareRequest,
    SignedUpdateFirmwareResponse,
    UpdateFirmwareRequest,
    UpdateFirmwareResponse,
)
from csms_shared.ocpp.version import OcppVersion

from .db import certificate_requests, data_transfers, operation_statuses, operations
from .router import CallCtx, Ctx
from .security_log import record_security_event
from .store import ensure_charge_point

# The command that starts each kind of operation, and the kind its status reports belong to.
STARTED_BY = {
    "GetDiagnostics": "diagnostics",
    "UpdateFirmware": "firmware",
    "SignedUpdateFirmware": "signed_firmware",
    "GetLog": "log",
}


# The event each kind of operation reports its progress with.
_STATUS_EVENTS: dict[str, type[Event]] = {
    "diagnostics": DiagnosticsStatus,
    "firmware": FirmwareStatus,
    "signed_firmware": SignedFirmwareStatus,
    "log": LogStatus,
}


async def report_status(ctx: CallCtx, kind: str, status: str, request_id: int | None) -> None:
    """Attach a status report to the operation it belongs to, keep it, publish it."""
    cp_id = ctx.charge_point_id
    at = ctx.received_at or utcnow()
    op = operations.c
    match = [op.charge_point_id == cp_id, op.kind == kind]
    if request_id is not None:
        match.append(op.request_id == request_id)
    operation_id = await ctx.session.scalar(
        select(op.id).where(and_(*match)).order_by(op.id.desc()).limit(1).with_for_update()
    )
    if operation_id is not None:
        await ctx.session.execute(
            # Notifications are consumed concurrently: the latest report by the gateway's
            # receive time wins, whatever order the handlers commit in.
            update(operations)
            .where(and_(op.id == operation_id, op.status_at <= at))
            .values(status=status, status_at=at)
        )
    await ctx.session.execute(
        insert(operation_statuses).values(
            charge_point_id=cp_id,
            kind=kind,
            operation_id=operation_id,
            request_id=request_id,
            status=status,
            received_at=at,
        )
    )
    fields: dict[str, str | int] = {"charge_point_id": cp_id, "kind": kind, "status": status}
    if request_id is not None:
        fields["request_id"] = request_id
    if operation_id is not None:
        fields["operation_id"] = operation_id
    await ctx.emit(_STATUS_EVENTS[kind](at=at, **fields))


async def security_event_reported(
    ctx: CallCtx, kind: str, tech_info: str | None, at: datetime
) -> None:
    """A SecurityEventNotification of either version: kept in the CP's security log."""
    await ensure_charge_point(ctx.session, ctx.charge_point_id)
    await record_security_event(ctx, ctx.charge_point_id, kind, tech_info, "cp", at)


def csr_problem(csr: str, cp_id: str) -> str | None:
    """Why a SignCertificate CSR is not one to sign for this CP, or None when it is."""
    try:
        request = x509.load_pem_x509_csr(csr.encode())
        signed = request.is_signature_valid
    except (ValueError, UnsupportedAlgorithm) as exc:
        # The error names the fault, never the input (the CSR may be up to 5500 characters).
        return f"the CSR is not a PEM certificate signing request ({type(exc).__name__})"
    if not signed:
        return "the CSR's signature does not match its public key"
    names = request.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(names) != 1:
        return f"the CSR's subject has {len(names)} commonNames, not one"
    cn = str(names[0].value)
    if cn != cp_id:
        return f"the CSR's commonName {cn[:64]!r} is not this charge point's id"
    return None


async def csr_received(ctx: CallCtx, csr: str) -> str | None:
    """A SignCertificate's CSR of either version: kept and handed to the CA integration; or,
    when it is not one to sign for this CP, why not (recorded as a security event)."""
    problem = csr_problem(csr, ctx.charge_point_id)
    if problem is not None:
        # A CSR for another CP's id would get this CP a certificate it can impersonate with.
        await record_security_event(ctx, ctx.charge_point_id, "InvalidCsr", problem)
        return problem
    at = ctx.received_at or utcnow()
    request_id = await ctx.session.scalar(
        insert(certificate_requests)
        .values(charge_point_id=ctx.charge_point_id, csr=csr, received_at=at)
        .returning(certificate_requests.c.id)
    )
    await ctx.emit(
        CertificateSignRequested(
            at=at, charge_point_id=ctx.charge_point_id, request_id=request_id, csr=csr
        )
    )
    return None


async def data_received(
    ctx: CallCtx, vendor_id: str, message_id: str | None, data: str | None
) -> DataTransferStatus:
    """A DataTransfer of either version: its answer (by the configured vendors and messages),
    kept and published whatever it is."""
    settings = ctx.settings
    accepted_messages = settings.data_transfer_vendors.get(vendor_id)
    if accepted_messages is None:
        status = DataTransferStatus.UNKNOWN_VENDOR_ID
    elif accepted_messages and message_id not in accepted_messages:
        status = DataTransferStatus.UNKNOWN_MESSAGE_ID
    else:
        status = DataTransferStatus.ACCEPTED
    at = ctx.received_at or utcnow()
    await ctx.session.execute(
        insert(data_transfers).values(
            charge_point_id=ctx.charge_point_id,
            vendor_id=vendor_id,
            message_id=message_id,
            data=data,
            status=status.value,
            received_at=at,
        )
    )
    await ctx.emit(
        DataTransferReceived(
            at=at,
            charge_point_id=ctx.charge_point_id,
            status=status.value,
            vendor_id=vendor_id,
            message_id=message_id,
            data=data,
        )
    )
    return status


def _started(event: CommandCompleted) -> tuple[int | None, str | None] | None:
    """The requestId and the detail (the file or location) of an operation the CP accepted;
    None if it refused. ValidationError if the request or answer breaks its model."""
    if event.ocpp_version is OcppVersion.V201:
        return _started_v201(event)
    match event.action:
        case "GetDiagnostics":
            diagnostics, named = event.read(GetDiagnosticsRequest, GetDiagnosticsResponse)
            return None, named.file_name or diagnostics.location
        case "UpdateFirmware":
            firmware, _ = event.read(UpdateFirmwareRequest, UpdateFirmwareResponse)
            return None, firmware.location
        case "SignedUpdateFirmware":
            signed, answer = event.read(SignedUpdateFirmwareRequest, SignedUpdateFirmwareResponse)
            if answer.status not in (
                UpdateFirmwareStatus.ACCEPTED,
                UpdateFirmwareStatus.ACCEPTED_CANCELED,
            ):
                return None
            return signed.request_id, signed.firmware.location
        case "GetLog":
            log_request, log_answer = event.read(GetLogRequest, GetLogResponse)
            if log_answer.status not in (LogAnswer.ACCEPTED, LogAnswer.ACCEPTED_CANCELED):
                return None
            return log_request.request_id, log_answer.filename
    return None


# 2.0.1 answers that start what was asked (AcceptedCanceled: it replaced one in progress).
_V201_STARTED = frozenset({"Accepted", "AcceptedCanceled"})


def _started_v201(event: CommandCompleted) -> tuple[int | None, str | None] | None:
    """`_started` of a 2.0.1 UpdateFirmware or GetLog: both carry the requestId their status
    notifications will name."""
    match event.action:
        case "UpdateFirmware":
            firmware, updating = event.read(v201.UpdateFirmwareRequest, v201.UpdateFirmwareResponse)
            if updating.status.value not in _V201_STARTED:
                return None
            return firmware.request_id, firmware.firmware.location
        case "GetLog":
            asked, logging_ = event.read(v201.GetLogRequest, v201.GetLogResponse)
            if logging_.status.value not in _V201_STARTED:
                return None
            return asked.request_id, logging_.filename
    return None


async def start_operation(ctx: Ctx, event: CommandCompleted) -> None:
    """A GetDiagnostics / UpdateFirmware / GetLog / SignedUpdateFirmware the CP accepted."""
    kind = STARTED_BY.get(event.action or "")
    started = _started(event) if kind is not None else None
    if started is None:
        return
    request_id, detail = started
    await ctx.session.execute(
        insert(operations)
        .values(
            charge_point_id=event.charge_point_id,
            kind=kind,
            request_id=request_id,
            command_id=event.command_id,
            detail=detail,
            status="Requested",
        )
        .on_conflict_do_nothing(constraint="uq_operations_command")
    )
