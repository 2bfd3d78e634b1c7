"""Event bodies on `ocpp.events`: one model per routing key, past-tense names.

Every body carries the envelope `{"v": 1, "event": "<name>", "at": "<RFC 3339, Z>"}` and the
fields of its event in camelCase. A body is what its emitter set, nothing more: fields left
unset are left out (`body()`), so the JSON is the one consumers have always read.
"""

from __future__ import annotations

from pydantic import ValidationError

from . import problems
from .event_base import (
    EVENT_VERSION,
    At,
    Event,
)
from .load_events import SiteAllocationChanged
from .roaming_events import RoamingTokenChanged
from .session_events import (
    CommandCompleted,
    IdTagChanged,
    MessageLogLevelChanged,
    MeterCurrent,
    MeterValues,
    SessionWarning,
    TariffChanged,
    TransactionChargingStateChanged,
    TransactionStarted,
    TransactionStopped,
    WebhookDisabled,
    WebhookTest,
)
from .station_events import (
    CertificateSignRequested,
    ChargePointUpdated,
    ConnectorStatus,
    CredentialsChanged,
    DataTransferReceived,
    DiagnosticsStatus,
    FirmwareStatus,
    GatewayHeartbeat,
    GatewayStopped,
    LogStatus,
    SecurityEvent,
    SignedFirmwareStatus,
    StationBooted,
    StationConnected,
    StationDisconnected,
    StationSeen,
)

__all__ = [
    "EVENTS",
    "EVENT_VERSION",
    "At",
    "CertificateSignRequested",
    "ChargePointUpdated",
    "CommandCompleted",
    "ConnectorStatus",
    "CredentialsChanged",
    "DataTransferReceived",
    "DiagnosticsStatus",
    "Event",
    "FirmwareStatus",
    "GatewayHeartbeat",
    "GatewayStopped",
    "IdTagChanged",
    "InvalidEvent",
    "LogStatus",
    "MessageLogLevelChanged",
    "MeterCurrent",
    "MeterValues",
    "RoamingTokenChanged",
    "SecurityEvent",
    "SessionWarning",
    "SignedFirmwareStatus",
    "SiteAllocationChanged",
    "StationBooted",
    "StationConnected",
    "StationDisconnected",
    "StationSeen",
    "TariffChanged",
    "TransactionChargingStateChanged",
    "TransactionStarted",
    "TransactionStopped",
    "WebhookDisabled",
    "WebhookTest",
    "charge_point_of",
    "event_model",
    "read_event",
]


EVENTS: dict[str, type[Event]] = {
    model.key(): model
    for model in (
        StationConnected,
        StationDisconnected,
        StationSeen,
        GatewayHeartbeat,
        GatewayStopped,
        StationBooted,
        CredentialsChanged,
        ChargePointUpdated,
        ConnectorStatus,
        SecurityEvent,
        DiagnosticsStatus,
        FirmwareStatus,
        SignedFirmwareStatus,
        LogStatus,
        CertificateSignRequested,
        DataTransferReceived,
        TransactionStarted,
        TransactionStopped,
        TransactionChargingStateChanged,
        MeterValues,
        MeterCurrent,
        SessionWarning,
        IdTagChanged,
        TariffChanged,
        CommandCompleted,
        WebhookDisabled,
        MessageLogLevelChanged,
        SiteAllocationChanged,
        RoamingTokenChanged,
    )
}


def event_model(routing_key: str) -> type[Event]:
    """The model of the events published with `routing_key` (the envelope alone if unknown)."""
    return EVENTS.get(routing_key, Event)


class InvalidEvent(ValueError):
    """A body that does not fit the model of its routing key."""


def read_event(routing_key: str, body: bytes) -> Event:
    """The event a message on `ocpp.events` carries (raises InvalidEvent saying what is wrong)."""
    try:
        return event_model(routing_key).model_validate_json(body)
    except ValidationError as exc:
        raise InvalidEvent(problems(exc)) from None


def charge_point_of(event: Event) -> str:
    """The charge point an event is about ("" for a gateway's own events)."""
    return str(getattr(event, "charge_point_id", "") or "")
