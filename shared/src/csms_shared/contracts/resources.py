"""The resources the owning services answer over RPC, and command-api serves over REST.

In OCPP's camelCase. command-api validates each RPC answer against its model (its routes declare
them as response models). Fields an owning service leaves out stay out of the answer (routes
serialize with `exclude_unset`), and a field this version does not know is dropped rather than
failing the read, so a newer owning service rolls out before the API.

The base models are in `resources_base.py`, the message log's in `resources_messages.py`, the
tariffs and the energy report in `resources_reports.py`; this module names them all.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from ..ocpp._base import DateTime
from .resources_base import Number as Number
from .resources_base import Page as Page
from .resources_base import Resource as Resource
from .resources_messages import LogEntry as LogEntry
from .resources_messages import MessageLogLevelSet as MessageLogLevelSet
from .resources_messages import MessagePage as MessagePage
from .resources_messages import MessageRecord as MessageRecord
from .resources_reports import AppliedTariff as AppliedTariff
from .resources_reports import EnergyReport as EnergyReport
from .resources_reports import EnergyRow as EnergyRow
from .resources_reports import EnergyTariffTotal as EnergyTariffTotal
from .resources_reports import EnergyTotal as EnergyTotal
from .resources_reports import Tariff as Tariff

# -- charge points (station-registry) -------------------------------------------------------


class Connector(Resource):
    """A connector: its last StatusNotification and the availability last confirmed."""

    connector_id: int
    status: str | None = None
    error_code: str | None = None
    info: str | None = None
    vendor_id: str | None = None
    vendor_error_code: str | None = None
    status_at: DateTime | None = None
    availability: str
    connector_type: str | None = Field(default=None, description="Type2, CCS2, CHAdeMO, ...")
    max_power_kw: float | None = None


class ConnectorOfChargePoint(Connector):
    """A connector in a list across charge points."""

    charge_point_id: str


class ConfigurationEntry(Resource):
    """A configuration key as last read (GetConfiguration) or changed (ChangeConfiguration)."""

    key: str
    value: str | None = None
    readonly: bool | None = None
    updated_at: DateTime


class ChargePoint(Resource):
    """A charge point: presence, boot info and connectors (and, read alone, configuration)."""

    id: str
    online: bool
    gateway: str | None = Field(default=None, description="The gateway holding it, when online")
    last_seen: DateTime | None = None
    charge_point_vendor: str | None = None
    charge_point_model: str | None = None
    charge_point_serial_number: str | None = None
    charge_box_serial_number: str | None = None
    firmware_version: str | None = None
    iccid: str | None = None
    imsi: str | None = None
    meter_type: str | None = None
    meter_serial_number: str | None = None
    registration_status: str | None = None
    first_seen: DateTime
    last_boot: DateTime | None = None
    connected_at: DateTime | None = None
    disconnected_at: DateTime | None = None
    name: str | None = None
    description: str | None = None
    address: dict[str, str] | None = Field(
        default=None, description="street, postalCode, city, country"
    )
    coordinates: dict[str, float] | None = Field(default=None, description="latitude, longitude")
    timezone: str | None = Field(default=None, description="IANA time zone")
    tags: list[str] = Field(default_factory=list)
    decommissioned_at: DateTime | None = None
    connectors: list[Connector]
    configuration: list[ConfigurationEntry] | None = None


class StatusRecord(Resource):
    """A StatusNotification the CP sent."""

    connector_id: int
    status: str
    error_code: str
    timestamp: DateTime
    info: str | None = None


class GatewayStatus(Resource):
    """A gateway seen in the last hour: its state and how many CPs it holds."""

    id: str
    state: Literal["up", "silent", "stopped"] = Field(
        description="up: beating; silent: beats overdue, its CPs shown offline; stopped: drained"
    )
    connected: int
    started_at: DateTime
    last_beat: DateTime
    stopped_at: DateTime | None = None


class SuiteStatus(Resource):
    """Charge points known and connected, in all and per gateway; connectors by status."""

    charge_points_known: int
    charge_points_connected: int
    gateways: list[GatewayStatus]
    connectors_by_status: dict[str, int] = Field(
        default_factory=dict,
        description="Connectors (1 and up) of CPs in service by their last status; `unknown`:"
        " no StatusNotification yet",
    )


class ChargePointSecurity(Resource):
    """A CP's security settings after a change (the key itself is never shown)."""

    id: str
    security_profile: int
    registration_status: str | None = None
    authorization_key_set: bool


class Approval(Resource):
    """A CP accepted; `triggerCommandId` is the TriggerMessage sent when it is online."""

    id: str
    registration_status: str
    online: bool
    trigger_command_id: str | None = None


class KeyRotationResult(Resource):
    """The CP's answer to its new AuthorizationKey, and whether the key is now stored."""

    command_id: str
    status: str = Field(description="The CP's ChangeConfiguration status")
    key_stored: bool
    detail: str | None = None


class SecurityEvent(Resource):
    """A security event: reported by the CP (`cp`) or seen by the central system (`csms`)."""

    type: str
    timestamp: DateTime
    source: str
    tech_info: str | None = None


class NetworkSecurityEvent(SecurityEvent):
    """A security event of some charge point, in a list across the network."""

    charge_point_id: str


class OperationReport(Resource):
    """A status the CP reported for an operation."""

    status: str
    at: DateTime


class Operation(Resource):
    """A firmware update, diagnostics or log upload, with the statuses the CP reported."""

    operation_id: int
    kind: str
    status: str
    requested_at: DateTime
    status_at: DateTime
    reports: list[OperationReport]
    command_id: str | None = None
    request_id: int | None = None
    detail: str | None = Field(default=None, description="File name or firmware location")


class DataTransferRecord(Resource):
    """A DataTransfer the CP sent, with the status it was answered."""

    vendor_id: str
    status: str
    received_at: DateTime
    message_id: str | None = None
    data: str | None = None


class CertificateRequest(Resource):
    """A CSR the CP sent with SignCertificate."""

    request_id: int
    csr: str
    received_at: DateTime


class LocalListVersion(Resource):
    """The CP's Local Authorization List version, as its last answer about it said."""

    charge_point_id: str
    list_version: int
    source: str = Field(description="The command whose answer told it")
    updated_at: DateTime


# -- transactions, id tags, reservations, reports (session-service) -------------------------


class MeterValue(Resource):
    """One sampled value with its time and connector."""

    timestamp: DateTime
    connector_id: int
    transaction_id: int | None = None
    value: str
    context: str | None = None
    format: str | None = None
    measurand: str | None = None
    phase: str | None = None
    location: str | None = None
    unit: str | None = None


class AuditEntry(Resource):
    """Something that happened to a transaction besides its start and stop."""

    action: str
    actor: str
    reason: str | None = None
    details: dict[str, Any] | None = None
    at: DateTime


class Transaction(Resource):
    """A charging session."""

    transaction_id: int
    charge_point_id: str
    connector_id: int
    id_tag: str
    id_tag_status: str
    meter_start: int
    meter_stop: int | None = None
    start_time: DateTime
    stop_time: DateTime | None = None
    stop_reason: str | None = None
    stop_id_tag: str | None = None
    stopped_by: str | None = None
    close_reason: str | None = None
    reservation_id: int | None = None
    energy_wh: int | None = None
    duration_seconds: int | None = None
    cost: Number | None = None
    currency: str
    tariff_id: int | None = Field(
        default=None, description="The tariff it started under (none: the environment's prices)"
    )
    price_per_kwh: Number
    session_fee: Number
    per_minute_fee: Number = 0
    active: bool
    stale: bool
    stale_since: DateTime | None = None
    superseded_by: int | None = None
    last_seen: DateTime
    warnings: list[str]


class TransactionDetail(Transaction):
    """A transaction with a page of its meter values and its audit trail."""

    meter_values: list[MeterValue]
    meter_values_total: int
    audit: list[AuditEntry]


class UnmatchedStop(Resource):
    """A StopTransaction that matched no open transaction, kept for review."""

    id: int
    charge_point_id: str
    transaction_id: int | None = None
    kind: str
    id_tag: str | None = None
    meter_stop: int | None = None
    timestamp: DateTime
    reason: str | None = None
    received_at: DateTime
    payload: dict[str, Any] = Field(description="The StopTransaction payload as received")


class IdTag(Resource):
    """An entry of the authorization list."""

    id_tag: str
    status: str
    expiry_date: DateTime | None = None
    parent_id_tag: str | None = None
    max_concurrent_tx: int | None = None
    note: str | None = None
    created_at: DateTime
    updated_at: DateTime


class Reservation(Resource):
    """A reservation made by an accepted ReserveNow."""

    reservation_id: int
    charge_point_id: str
    connector_id: int
    id_tag: str
    parent_id_tag: str | None = None
    expiry_date: DateTime
    status: str
    transaction_id: int | None = None
    command_id: str
    reserved_at: DateTime
    ended_at: DateTime | None = None
