"""The REST resources: the models of what the owning services answer (csms_shared.contracts),
and command-api's own (the audit log's commands)."""

from pydantic import Field, JsonValue

from csms_shared.contracts.resources import (
    AppliedTariff,
    Approval,
    AuditEntry,
    CertificateRequest,
    ChargePoint,
    ChargePointSecurity,
    ConfigurationEntry,
    Connector,
    ConnectorOfChargePoint,
    DataTransferRecord,
    DeviceVariable,
    EnergyReport,
    EnergyRow,
    EnergyTariffTotal,
    EnergyTotal,
    GatewayStatus,
    IdTag,
    JsonObject,
    KeyRotationResult,
    LocalListVersion,
    LogEntry,
    MessageLogLevelSet,
    MessagePage,
    MessageRecord,
    MeterValue,
    NetworkSecurityEvent,
    Node,
    Number,
    Omit,
    Operation,
    OperationReport,
    Page,
    Reservation,
    Resource,
    SecurityEvent,
    Site,
    StationAssignment,
    StationMessage,
    StatusRecord,
    SuiteStatus,
    Tariff,
    Transaction,
    TransactionDetail,
    UnmatchedStop,
)
from csms_shared.contracts.resources_base import DateTime
from csms_shared.ocpp.version import OcppVersion


class Webhook(Resource):
    """A registered webhook (its secret is never shown)."""

    id: str
    url: str
    events: list[str]
    enabled: bool
    created_by: str
    created_at: DateTime
    failing_since: Omit[DateTime] = None
    disabled_at: Omit[DateTime] = None
    disabled_reason: Omit[str] = None
    consecutive_failures: int = Field(
        default=0, description="Failed attempts in a row that say the receiver is unwell"
    )
    paused_until: Omit[DateTime] = Field(
        default=None,
        description="While it fails, it gets nothing until then, then one probe; its backlog"
        " delays no other webhook",
    )


class Delivery(Resource):
    """One event for one webhook: pending (retried), delivered, failed (a test) or cancelled."""

    id: int
    event_id: str
    event_type: str
    status: str
    attempts: int
    last_status_code: Omit[int] = None
    last_error: Omit[str] = None
    failing_since: Omit[DateTime] = None
    created_at: DateTime
    next_attempt_at: Omit[DateTime] = None
    delivered_at: Omit[DateTime] = None


class CommandError(Resource):
    """The CALLERROR a CP answered."""

    code: str | None
    description: str | None
    details: JsonObject


class Command(Resource):
    """A command of the audit log: who sent what, when, and what came of it."""

    command_id: str
    charge_point_id: str
    action: str
    request: JsonObject = Field(description="The OCPP request payload (secrets redacted)")
    status: str = Field(
        description="pending, result, error, invalid, timeout, offline, unknown_charge_point, "
        "disconnected, busy or lost"
    )
    requested_by: str
    created_at: DateTime
    timeout: float
    completed_at: Omit[DateTime] = None
    latency_ms: Omit[float] = None
    charge_point_latency_ms: Omit[float] = None
    response: Omit[JsonObject] = None
    error: Omit[CommandError] = None
    request_id: Omit[str] = Field(
        default=None, description="The back office's requestId (ocpp.command-requests)"
    )
    batch_id: Omit[str] = Field(default=None, description="The fleet-wide command's batch")
    ocpp_version: Omit[OcppVersion] = Field(
        default=None, description="The OCPP version the request was checked against and sent in"
    )


__all__ = [
    "AppliedTariff",
    "Approval",
    "AuditEntry",
    "CertificateRequest",
    "ChargePoint",
    "ChargePointSecurity",
    "Command",
    "CommandError",
    "ConfigurationEntry",
    "Connector",
    "ConnectorOfChargePoint",
    "DataTransferRecord",
    "Delivery",
    "DeviceVariable",
    "EnergyReport",
    "EnergyRow",
    "EnergyTariffTotal",
    "EnergyTotal",
    "GatewayStatus",
    "IdTag",
    "KeyRotationResult",
    "LocalListVersion",
    "LogEntry",
    "MessageLogLevelSet",
    "MessagePage",
    "MessageRecord",
    "MeterValue",
    "NetworkSecurityEvent",
    "Node",
    "Number",
    "Omit",
    "Operation",
    "OperationReport",
    "Page",
    "Reservation",
    "Resource",
    "SecurityEvent",
    "Site",
    "StationAssignment",
    "StationMessage",
    "StatusRecord",
    "SuiteStatus",
    "Tariff",
    "Transaction",
    "TransactionDetail",
    "UnmatchedStop",
    "Webhook",
]


class MessageProperties(Resource):
    """The AMQP properties a dead letter was published with (those its publisher set)."""

    content_type: Omit[str] = None
    correlation_id: Omit[str] = None
    message_id: Omit[str] = None
    user_id: Omit[str] = None
    timestamp: Omit[DateTime] = None


class DeadLetterMessage(Resource):
    """One dead letter: why it died, where it was sent, its headers (x-death) and body."""

    id: str
    reason: str = Field(description="rejected, delivery_limit, expired or maxlen")
    exchange: str
    routing_key: str
    deaths: int
    headers: dict[str, JsonValue] = Field(
        description="The AMQP headers, bytes as text and times as RFC 3339"
    )
    properties: MessageProperties
    body: Omit[str] = None
    body_base64: Omit[str] = None
