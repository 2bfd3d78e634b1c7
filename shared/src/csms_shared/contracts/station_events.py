"""Events of CP presence, boots, connectors, security and operations, and of gateways."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..ocpp.v16.enums import ChargePointErrorCode, ChargePointStatus, RegistrationStatus
from ..ocpp.version import OcppVersion
from ..vocabulary.connectors import ChargingState, ErrorCode, StatusReport
from ..vocabulary.connectors import ConnectorState as Status
from .event_base import (
    At,
    Event,
)


class StationConnected(Event):
    """A gateway accepted a CP's WebSocket (after any older connection of the same id)."""

    emitter = "ws-gateway"

    event: Literal["station.connected"] = "station.connected"
    charge_point_id: str
    gateway: str
    connection_id: str
    connected_at: At
    remote_address: str | None = None
    subprotocol: str | None = None


class StationDisconnected(Event):
    """A CP's WebSocket closed; `code` and `reason` are the close frame's."""

    emitter = "ws-gateway"

    event: Literal["station.disconnected"] = "station.disconnected"
    charge_point_id: str
    connection_id: str
    gateway: str = ""
    connected_at: At | None = None
    code: int | None = None
    reason: str = ""


class StationSeen(Event):
    """When a gateway last heard from each of its CPs (chunks of its periodic flush)."""

    emitter = "ws-gateway"

    event: Literal["station.seen"] = "station.seen"
    gateway: str
    seen: dict[str, At] = Field(description="Charge point id -> last frame received")


class GatewayHeartbeat(Event):
    """A gateway is alive and holds `connections` CPs; it beats every `interval` seconds."""

    emitter = "ws-gateway"

    event: Literal["gateway.heartbeat"] = "gateway.heartbeat"
    gateway: str
    started_at: At | None = None
    connections: int = 0
    interval: float = 5.0


class GatewayStopped(Event):
    """A gateway drained and stopped: the CPs it held are offline unless another took them."""

    emitter = "ws-gateway"

    event: Literal["gateway.stopped"] = "gateway.stopped"
    gateway: str
    started_at: At | None = None


class StationBooted(Event):
    """A CP sent BootNotification: its fields, and the registration status it was answered.

    The same document whatever the version: 1.6's field names are the neutral ones (a 2.0.1
    station's chargingStation.vendorName is `chargePointVendor`, and so on)."""

    emitter = "station-registry"

    event: Literal["station.booted"] = "station.booted"
    charge_point_id: str
    registration_status: RegistrationStatus
    charge_point_vendor: str
    charge_point_model: str
    charge_point_serial_number: str | None = None
    charge_box_serial_number: str | None = None
    firmware_version: str | None = None
    iccid: str | None = None
    imsi: str | None = None
    meter_type: str | None = None
    meter_serial_number: str | None = None
    ocpp_version: OcppVersion = Field(description="The version the station booted with")
    reason: str | None = Field(
        default=None, description="Why it booted (2.0.1's BootReason: PowerUp, Watchdog, ...)"
    )


class CredentialsChanged(Event):
    """A CP's security profile or AuthorizationKey changed: gateways forget cached admissions,
    and close its connections when `disconnect`."""

    emitter = "station-registry"

    event: Literal["station.credentials_changed"] = "station.credentials_changed"
    charge_point_id: str
    security_profile: int
    disconnect: bool


class ChargePointUpdated(Event):
    """An admin changed what the registry says about a CP (its metadata) or decommissioned it:
    its tags as they are now (the session-service prices by them)."""

    emitter = "station-registry"

    event: Literal["charge_point.updated"] = "charge_point.updated"
    charge_point_id: str
    tags: list[str]
    name: str | None = None
    decommissioned: bool = False


# When the 1.6-shaped `connectorId`, `status` and `errorCode` of `connector.status` go
# (docs/vocabulary.md): read `evseId`, `evseConnectorId`, `connectorStatus`, `chargingState`.
STATUS_V16_RETIRED_ON = "2027-06-30"


class ConnectorStatus(Event):
    """A StatusNotification: the connector's (or, for connector 0, the CP's) new status.

    The same document whatever the version. In our terms (docs/vocabulary.md): `evseId` and
    `evseConnectorId` name the connector, `connectorStatus` is its status (Available, Occupied,
    Reserved, Unavailable, Faulted), `chargingState` what a car on it is doing when the station
    said (1.6's Preparing, Charging, SuspendedEV, SuspendedEVSE and Finishing are Occupied with
    one), `connectorErrorCode` what is wrong. Until STATUS_V16_RETIRED_ON also in 1.6's terms:
    `connectorId` the EVSE, `status` the 1.6 status (a 2.0.1 Occupied reads Preparing) and
    `errorCode` 1.6's code."""

    emitter = "station-registry"

    event: Literal["connector.status"] = "connector.status"
    charge_point_id: str
    connector_id: int = Field(
        description=f"Deprecated, published until {STATUS_V16_RETIRED_ON}: the EVSE as 1.6's"
        " connectorId; read `evseId`",
        json_schema_extra={"deprecated": True},
    )
    status: ChargePointStatus = Field(
        description=f"Deprecated, published until {STATUS_V16_RETIRED_ON}: the status as 1.6"
        " spells it (Occupied reads Preparing); read `connectorStatus` and `chargingState`",
        json_schema_extra={"deprecated": True},
    )
    error_code: ChargePointErrorCode = Field(
        description=f"Deprecated, published until {STATUS_V16_RETIRED_ON}: read"
        " `connectorErrorCode`",
        json_schema_extra={"deprecated": True},
    )
    info: str | None = None
    timestamp: At | None = None
    vendor_id: str | None = None
    vendor_error_code: str | None = None
    ocpp_version: OcppVersion
    evse_connector_id: int | None = Field(
        default=None,
        description="The connector within the EVSE (1.6: 1, or 0 for the station as a whole)",
    )
    evse_id: int | None = Field(
        default=None, description="The EVSE (0: the station as a whole); absent before 2026-11"
    )
    connector_status: Status | None = Field(
        default=None, description="Our status of the connector; absent before 2026-11"
    )
    charging_state: ChargingState | None = Field(
        default=None,
        description="What a car on the connector is doing, when the station said (Occupied only)",
    )
    connector_error_code: ErrorCode | None = Field(
        default=None, description="Our error code; absent before 2026-11"
    )

    def report(self) -> StatusReport:
        """The status in our terms: the fields that say it, or for a document from before
        them (always 1.6-shaped then) what its 1.6 status and error code say."""
        if self.connector_status is None:
            return StatusReport.from_v16(self.status, self.error_code)
        error = self.connector_error_code or ErrorCode.NO_ERROR
        return StatusReport(self.connector_status, self.charging_state, error)


class SecurityEvent(Event):
    """A security event: reported by the CP (SecurityEventNotification) or seen by the CSMS.

    The registry keeps the CP's security log: it publishes what it records, and records what
    another service raises (`service` set; the load-manager's ImplausibleCurrentReading)."""

    emitter = "station-registry"

    event: Literal["security.event"] = "security.event"
    charge_point_id: str
    type: str
    tech_info: str | None = None
    source: str = Field(description="cp (the station reported it) or csms (the suite saw it)")
    service: str | None = Field(
        default=None,
        description="The service that raised it, when not the station-registry (which then"
        " records it in the station's security log)",
    )


class _OperationStatus(Event):
    """Progress of a firmware update, diagnostics or log upload the CP reported."""

    emitter = "station-registry"

    charge_point_id: str
    kind: str
    status: str
    request_id: int | None = None
    operation_id: int | None = Field(
        default=None, description="The operation it was attached to, when one matched"
    )


class DiagnosticsStatus(_OperationStatus):
    """DiagnosticsStatusNotification."""

    event: Literal["diagnostics.status"] = "diagnostics.status"


class FirmwareStatus(_OperationStatus):
    """FirmwareStatusNotification."""

    event: Literal["firmware.status"] = "firmware.status"


class SignedFirmwareStatus(_OperationStatus):
    """SignedFirmwareStatusNotification (the Security Whitepaper's)."""

    routing_key = "signed.firmware.status"
    event: Literal["signed_firmware.status"] = "signed_firmware.status"


class LogStatus(_OperationStatus):
    """LogStatusNotification (the Security Whitepaper's)."""

    event: Literal["log.status"] = "log.status"


class CertificateSignRequested(Event):
    """A CP sent a CSR with SignCertificate; a CA integration signs it (CertificateSigned)."""

    emitter = "station-registry"

    event: Literal["certificate.sign_requested"] = "certificate.sign_requested"
    charge_point_id: str
    request_id: int
    csr: str


class DataTransferReceived(Event):
    """A CP's DataTransfer and the status it was answered."""

    emitter = "station-registry"

    event: Literal["datatransfer.received"] = "datatransfer.received"
    charge_point_id: str
    status: str
    vendor_id: str
    message_id: str | None = None
    data: str | None = None
