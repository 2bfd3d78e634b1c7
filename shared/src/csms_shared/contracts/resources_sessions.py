"""The session-service's resources: transactions with their meter values and audit trail,
unmatched stops, id tags, reservations (named in `resources.py`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..vocabulary.readings import SignedData
from .resources_base import DateTime, JsonObject, Number, Omit, Resource


class MeterValue(Resource):
    """One sampled value with its time and connector."""

    timestamp: DateTime
    connector_id: int
    transaction_id: Omit[int] = None
    value: str
    context: Omit[str] = None
    format: Omit[str] = None
    measurand: Omit[str] = None
    phase: Omit[str] = None
    location: Omit[str] = None
    unit: Omit[str] = None
    signed: Omit[SignedData] = Field(
        default=None,
        description="The meter's signature over the reading (2.0.1 signedMeterValue; 1.6: a"
        " sample of format SignedData), as the station sent it",
    )


class AuditEntry(Resource):
    """Something that happened to a transaction besides its start and stop."""

    action: str
    actor: str
    reason: Omit[str] = None
    details: Omit[JsonObject] = None
    at: DateTime


class Transaction(Resource):
    """A charging session, of either OCPP version (the same document for both)."""

    transaction_id: int = Field(description="Ours: the id the API and 1.6 CPs use")
    charge_point_id: str
    ocpp_version: str = Field(description="1.6 or 2.0.1")
    station_transaction_id: str = Field(
        description="The id the station knows it by: 2.0.1's CP-chosen transactionId, for 1.6"
        " our transactionId as text"
    )
    connector_id: int = Field(description="The EVSE (what 1.6 calls a connector)")
    evse_connector_id: Omit[int] = Field(
        default=None, description="The connector of the EVSE, when the station said (1.6: 1)"
    )
    id_tag: Omit[str] = Field(
        default=None, description="Absent while a 2.0.1 transaction has no idToken (yet)"
    )
    id_token_type: Omit[str] = Field(default=None, description="2.0.1: ISO14443, eMAID, ...")
    id_tag_status: Omit[str] = None
    id_token_source: Omit[Literal["list", "roaming", "none"]] = Field(
        default=None,
        description="Where its first id token's decision came from: `list` (the authorization"
        " list), `roaming` (a token an eMSP pushed over OCPI, `roamingParty`), `none` (no entry:"
        " the unknown-token policy, or a token that needs none); absent before it had one, and"
        " on transactions from before this field",
    )
    roaming_party: Omit[str] = Field(
        default=None, description="The eMSP (CC-PID) whose token it started with, if `roaming`"
    )
    remote_start_id: Omit[int] = None
    meter_start: int
    meter_stop: Omit[int] = None
    start_time: DateTime
    stop_time: Omit[DateTime] = None
    stop_reason: Omit[str] = None
    stop_id_tag: Omit[str] = None
    stopped_by: Omit[str] = None
    close_reason: Omit[str] = None
    reservation_id: Omit[int] = None
    charging_priority: int = Field(
        default=0,
        description="The chargingPriority of the id tag it started with (0 for a tag not on"
        " the list, or a 2.0.1 transaction started without an idToken)",
    )
    energy_wh: Omit[int] = None
    duration_seconds: Omit[int] = None
    parking_seconds: Omit[int] = Field(
        default=None,
        description="Once stopped, the seconds of its duration spent parked: in EVConnected,"
        " SuspendedEV or Idle (never SuspendedEVSE, nor before the station first said its"
        " charging state); absent while it runs and on transactions from before this field",
    )
    cost: Omit[Number] = Field(
        default=None,
        description="Once stopped, what the driver pays, the totalCost a 2.0.1 station is told:"
        " incl. VAT when `vat` is known, else the prices' total",
    )
    cost_excl_vat: Omit[Number] = Field(default=None, description="Once stopped, excl. VAT")
    cost_incl_vat: Omit[Number] = Field(
        default=None, description="Once stopped, incl. VAT; absent when `vat` is not known"
    )
    currency: str
    tariff_id: Omit[int] = Field(
        default=None, description="The tariff it started under (none: the environment's prices)"
    )
    price_per_kwh: Number = Field(description="Excl. VAT, as the fees are")
    session_fee: Number
    per_minute_fee: Number = Field(default=0, description="For every minute, by the second")
    parking_per_minute_fee: Number = Field(
        default=0, description="For every minute of parking, by the second, on top"
    )
    vat: Omit[Number] = Field(
        default=None,
        description="The VAT rate in percent its tariff stated at the start; absent: none stated",
    )
    active: bool
    stale: bool
    stale_since: Omit[DateTime] = None
    superseded_by: Omit[int] = None
    last_seen: DateTime
    warnings: list[str]


class RunningCost(Resource):
    """What a transaction costs so far, by the session-service's one cost formula over its
    energy (the newest register reading less its meter start), its time and parking time up to
    `at`, at the prices it copied at its start; once it ended, its final cost."""

    transaction_id: int
    at: DateTime
    ended: bool
    energy_wh: int
    duration_seconds: int
    parking_seconds: int
    currency: str
    cost_excl_vat: Number
    cost_incl_vat: Omit[Number] = Field(default=None, description="With a VAT rate only")


class TransactionDetail(Transaction):
    """A transaction with a page of its meter values and its audit trail."""

    meter_values: list[MeterValue]
    meter_values_total: int
    audit: list[AuditEntry]


class UnmatchedStop(Resource):
    """A StopTransaction that matched no open transaction, kept for review."""

    id: int
    charge_point_id: str
    transaction_id: Omit[int] = None
    kind: str
    id_tag: Omit[str] = None
    meter_stop: Omit[int] = None
    timestamp: DateTime
    reason: Omit[str] = None
    received_at: DateTime
    payload: JsonObject = Field(description="The StopTransaction payload as received")


class IdTag(Resource):
    """An entry of the authorization list."""

    id_tag: str
    status: str
    type: str = Field(default="ISO14443", description="The 2.0.1 idToken type it is presented as")
    expiry_date: Omit[DateTime] = None
    parent_id_tag: Omit[str] = None
    max_concurrent_tx: Omit[int] = None
    charging_priority: int = Field(
        default=0,
        description="-9..9, OCPP 2.0.1's chargingPriority: higher is served first by a site's"
        " allocator (added to the station's priority); told to 2.0.1 stations when not 0",
    )
    note: Omit[str] = None
    created_at: DateTime
    updated_at: DateTime


class Reservation(Resource):
    """A reservation made by an accepted ReserveNow."""

    reservation_id: int
    charge_point_id: str
    connector_id: int
    id_tag: str
    parent_id_tag: Omit[str] = None
    expiry_date: DateTime
    status: str
    transaction_id: Omit[int] = None
    command_id: str
    reserved_at: DateTime
    ended_at: Omit[DateTime] = None
