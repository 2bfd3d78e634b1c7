"""The resources the owning services answer over RPC, and command-api serves over REST.

In OCPP's camelCase. command-api validates each RPC answer against its model (its routes declare
them as response models). Fields an owning service leaves out stay out of the answer (routes
serialize with `exclude_unset`), and a field this version does not know is dropped rather than
failing the read, so a newer owning service rolls out before the API.

The base models are in `resources_base.py`, the message log's in `resources_messages.py`, the
transactions, id tags and reservations in `resources_sessions.py`, the tariffs and the energy
report in `resources_reports.py`, the sites in `resources_loads.py`; this module holds the
station-registry's and names them all.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .resources_base import DateTime as DateTime
from .resources_base import JsonObject as JsonObject
from .resources_base import Number as Number
from .resources_base import Omit as Omit
from .resources_base import Page as Page
from .resources_base import Resource as Resource
from .resources_loads import Node as Node
from .resources_loads import Site as Site
from .resources_loads import StationAssignment as StationAssignment
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
from .resources_sessions import AuditEntry as AuditEntry
from .resources_sessions import IdTag as IdTag
from .resources_sessions import MeterValue as MeterValue
from .resources_sessions import Reservation as Reservation
from .resources_sessions import RunningCost as RunningCost
from .resources_sessions import Transaction as Transaction
from .resources_sessions import TransactionDetail as TransactionDetail
from .resources_sessions import UnmatchedStop as UnmatchedStop

# -- charge points (station-registry) -------------------------------------------------------


class Connector(Resource):
    """A connector: its last StatusNotification and the availability last confirmed. For a
    2.0.1 station `connectorId` is the EVSE (what 1.6 calls a connector; 0: the station)."""

    connector_id: int
    evse_connector_id: Omit[int] = Field(
        default=None, description="2.0.1: the connector within the EVSE that last reported"
    )
    status: Omit[str] = None
    error_code: Omit[str] = None
    info: Omit[str] = None
    vendor_id: Omit[str] = None
    vendor_error_code: Omit[str] = None
    status_at: Omit[DateTime] = None
    availability: str
    connector_type: Omit[str] = Field(default=None, description="Type2, CCS2, CHAdeMO, ...")
    max_power_kw: Omit[float] = None


class EvseConnector(Resource):
    """A connector of an EVSE in our terms (docs/vocabulary.md): its status, what a car on it
    is doing while it is Occupied, and what is wrong."""

    connector_id: int = Field(description="Within the EVSE (a 1.6 connector is connector 1)")
    status: str = Field(description="Available, Occupied, Reserved, Unavailable or Faulted")
    charging_state: Omit[str] = Field(
        default=None,
        description="Occupied only: EVConnected, Charging, SuspendedEV, SuspendedEVSE or Idle",
    )
    error_code: str
    info: Omit[str] = None
    vendor_error_code: Omit[str] = None
    status_at: DateTime
    charging_state_at: Omit[DateTime] = None


class Evse(Resource):
    """An EVSE (a 1.6 connector n is EVSE n) with its connectors; its status is derived from
    theirs (the first of Occupied, Reserved, Available, Unavailable, Faulted any has)."""

    evse_id: int
    status: str
    connectors: list[EvseConnector]


class ConnectorOfChargePoint(Connector):
    """A connector in a list across charge points."""

    charge_point_id: str


class ConfigurationEntry(Resource):
    """A configuration key as last read (GetConfiguration) or changed (ChangeConfiguration)."""

    key: str
    value: str | None = None
    readonly: bool | None = None
    updated_at: DateTime


class DeviceVariable(Resource):
    """One attribute of a variable of an OCPP 2.0.1 station's device model, as NotifyReport
    described it and GetVariables/SetVariables last showed or changed it."""

    component: str
    component_instance: Omit[str] = None
    evse_id: Omit[int] = None
    connector_id: Omit[int] = None
    variable: str
    variable_instance: Omit[str] = None
    attribute_type: str = Field(description="Actual, Target, MinSet or MaxSet")
    value: Omit[str] = Field(default=None, description="Absent when write-only or secret")
    mutability: Omit[str] = Field(default=None, description="ReadOnly, WriteOnly or ReadWrite")
    persistent: Omit[bool] = None
    constant: Omit[bool] = None
    data_type: Omit[str] = None
    unit: Omit[str] = None
    min_limit: Omit[float] = None
    max_limit: Omit[float] = None
    values_list: Omit[str] = None
    supports_monitoring: Omit[bool] = None
    updated_at: DateTime


class OnSite(Resource):
    """The site, and the node of it, a charge point is on (the load-manager's)."""

    site_id: int
    node_id: int


class ChargePoint(Resource):
    """A charge point: presence, boot info and connectors (and, read alone, configuration and
    the site it is on)."""

    id: str
    online: bool
    gateway: Omit[str] = Field(default=None, description="The gateway holding it, when online")
    last_seen: Omit[DateTime] = None
    charge_point_vendor: Omit[str] = None
    charge_point_model: Omit[str] = None
    charge_point_serial_number: Omit[str] = None
    charge_box_serial_number: Omit[str] = None
    firmware_version: Omit[str] = None
    iccid: Omit[str] = None
    imsi: Omit[str] = None
    meter_type: Omit[str] = None
    meter_serial_number: Omit[str] = None
    registration_status: Omit[str] = None
    ocpp_version: Omit[str] = Field(
        default=None,
        description='The OCPP version its connection speaks: "1.6" or "2.0.1"; absent until it'
        " first connects (a registered station's version is not assumed)",
    )
    first_seen: DateTime
    last_boot: Omit[DateTime] = None
    connected_at: Omit[DateTime] = None
    disconnected_at: Omit[DateTime] = None
    name: Omit[str] = None
    description: Omit[str] = None
    address: Omit[dict[str, str]] = Field(
        default=None, description="street, postalCode, city, country"
    )
    coordinates: Omit[dict[str, float]] = Field(default=None, description="latitude, longitude")
    timezone: Omit[str] = Field(default=None, description="IANA time zone")
    tags: list[str] = Field(default_factory=list)
    decommissioned_at: Omit[DateTime] = None
    site: Omit[OnSite] = Field(
        default=None,
        description="Read alone: the site and node it is on (absent when on none, or when the"
        " load-manager did not answer)",
    )
    connectors: list[Connector] = Field(
        description="1.6's view, one per EVSE and 0 for the station (read `evses` for ours)"
    )
    evses: list[Evse] = Field(
        default_factory=list, description="Its EVSEs and their connectors in our terms"
    )
    configuration: Omit[list[ConfigurationEntry]] = None


class StatusRecord(Resource):
    """A StatusNotification the CP sent: in our terms (docs/vocabulary.md) and, until the
    1.6-shaped fields go, in 1.6's."""

    connector_id: int = Field(description="The EVSE (what 1.6 calls a connector; 0: the station)")
    evse_connector_id: Omit[int] = Field(
        default=None, description="The connector within the EVSE (2.0.1 stations only)"
    )
    connector_status: str = Field(
        description="Available, Occupied, Reserved, Unavailable or Faulted"
    )
    charging_state: Omit[str] = Field(
        default=None,
        description="What the car was doing, when the notification said (1.6's Preparing to"
        " Finishing); a 2.0.1 station tells it by TransactionEvent",
    )
    connector_error_code: str = Field(description="Our error code (docs/vocabulary.md)")
    status: str = Field(description="1.6's status (a 2.0.1 Occupied reads Preparing)")
    error_code: str = Field(description="1.6's error code")
    timestamp: DateTime
    info: Omit[str] = None


class GatewayStatus(Resource):
    """A gateway seen in the last hour: its state and how many CPs it holds."""

    id: str
    state: Literal["up", "late", "silent", "stopped"] = Field(
        description="up: beating; late: beats overdue but the broker still holds its connection,"
        " its CPs stay online; silent: beats overdue and its connection gone (or not yet asked"
        " after), its CPs shown offline; stopped: drained"
    )
    connected: int
    started_at: DateTime
    last_beat: DateTime
    stopped_at: Omit[DateTime] = None


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
    tech_info: Omit[str] = None
    address: Omit[str] = Field(
        default=None, description="The client address of a refused handshake (source `csms`)"
    )
    count: int = Field(
        default=1, description="How many such events this row stands for (within a minute)"
    )


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
    command_id: Omit[str] = None
    request_id: Omit[int] = None
    detail: Omit[str] = Field(default=None, description="File name or firmware location")


class StationMessage(Resource):
    """A report a 2.0.1 station sent that has no table of its own (NotifyEvent,
    NotifyMonitoringReport, NotifyChargingLimit, NotifyCustomerInformation, ...), as sent."""

    action: str
    received_at: DateTime
    request_id: Omit[int] = Field(default=None, description="The request it answers, if any")
    seq_no: Omit[int] = Field(default=None, description="Its part of a multi-part report")
    tbc: bool = Field(default=False, description="More parts follow")
    payload: JsonObject


class DataTransferRecord(Resource):
    """A DataTransfer the CP sent, with the status it was answered."""

    vendor_id: str
    status: str
    received_at: DateTime
    message_id: Omit[str] = None
    data: Omit[str] = None


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
