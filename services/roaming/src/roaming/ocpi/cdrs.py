"""OCPI 2.2.1's CDRs module (mod_cdrs.asciidoc): the Charge Detail Record a CPO sends when a
session ends, and the classes it shares with Sessions (CdrToken, ChargingPeriod, CdrDimension,
AuthMethod). This module does not import sessions.py: sessions.py imports from here."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Self

from pydantic import Field, model_validator

from roaming.ocpi.locations import (
    ConnectorFormat,
    ConnectorType,
    GeoLocation,
    NonNegativeInt,
    PowerType,
)
from roaming.ocpi.tariffs import Tariff
from roaming.ocpi.tokens import TokenType
from roaming.ocpi.types import (
    CiString32,
    CiString36,
    CiString39,
    CiString48,
    CountryCode,
    DateTime,
    Number,
    OcpiModel,
    PartyId,
    Price,
    String3,
    String10,
    String20,
    String45,
    String255,
    String512,
    String5000,
)


class AuthMethod(StrEnum):
    """AuthMethod: how a session's Token was authorized (request, command, whitelist)."""

    AUTH_REQUEST = "AUTH_REQUEST"
    COMMAND = "COMMAND"
    WHITELIST = "WHITELIST"


class CdrDimensionType(StrEnum):
    """CdrDimensionType: what a CdrDimension measures; some are for Sessions only."""

    CURRENT = "CURRENT"
    ENERGY = "ENERGY"
    ENERGY_EXPORT = "ENERGY_EXPORT"
    ENERGY_IMPORT = "ENERGY_IMPORT"
    MAX_CURRENT = "MAX_CURRENT"
    MIN_CURRENT = "MIN_CURRENT"
    MAX_POWER = "MAX_POWER"
    MIN_POWER = "MIN_POWER"
    PARKING_TIME = "PARKING_TIME"
    POWER = "POWER"
    RESERVATION_TIME = "RESERVATION_TIME"
    STATE_OF_CHARGE = "STATE_OF_CHARGE"
    TIME = "TIME"


class CdrDimension(OcpiModel):
    """CdrDimension: one measured value (its type and volume) of a ChargingPeriod."""

    type: CdrDimensionType
    volume: Number


class ChargingPeriod(OcpiModel):
    """ChargingPeriod: a part of a session from `start_date_time` on, with its measured values."""

    start_date_time: DateTime
    dimensions: Annotated[list[CdrDimension], Field(min_length=1)]
    tariff_id: CiString36 | None = None


class CdrToken(OcpiModel):
    """CdrToken: the Token (its identifying fields only) a session was started with."""

    country_code: CountryCode
    party_id: PartyId
    uid: CiString36
    type: TokenType
    contract_id: CiString36


class CdrLocation(OcpiModel):
    """CdrLocation: the Location, EVSE and Connector of a CDR as they were at its start."""

    id: CiString36
    name: String255 | None = None
    address: String45
    city: String45
    postal_code: String10 | None = None
    state: String20 | None = None
    country: String3
    coordinates: GeoLocation
    evse_uid: CiString36
    evse_id: CiString48
    connector_id: CiString36
    connector_standard: ConnectorType
    connector_format: ConnectorFormat
    connector_power_type: PowerType


class SignedValue(OcpiModel):
    """SignedValue: a signed meter value (e.g. Start, End) and its plain, unsigned data."""

    nature: CiString32
    plain_data: String5000
    signed_data: String5000


class SignedData(OcpiModel):
    """SignedData: the signed meter values of a session (e.g. German Eichrecht) and their key."""

    encoding_method: CiString36
    encoding_method_version: NonNegativeInt | None = None
    public_key: String512 | None = None
    signed_values: Annotated[list[SignedValue], Field(min_length=1)]
    url: String512 | None = None


class CDR(OcpiModel):
    """CDR: the Charge Detail Record of a finished session, with its costs, sent by the CPO."""

    country_code: CountryCode
    party_id: PartyId
    id: CiString39
    start_date_time: DateTime
    end_date_time: DateTime
    session_id: CiString36 | None = None
    cdr_token: CdrToken
    auth_method: AuthMethod
    authorization_reference: CiString36 | None = None
    cdr_location: CdrLocation
    meter_id: String255 | None = None
    currency: String3
    tariffs: list[Tariff] = Field(default_factory=list)
    charging_periods: Annotated[list[ChargingPeriod], Field(min_length=1)]
    signed_data: SignedData | None = None
    total_cost: Price
    total_fixed_cost: Price | None = None
    total_energy: Number
    total_energy_cost: Price | None = None
    total_time: Number
    total_time_cost: Price | None = None
    total_parking_time: Number | None = None
    total_parking_cost: Price | None = None
    total_reservation_cost: Price | None = None
    remark: String255 | None = None
    invoice_reference_id: CiString39 | None = None
    credit: bool | None = None
    credit_reference_id: CiString39 | None = None
    home_charging_compensation: bool | None = None
    last_updated: DateTime

    @model_validator(mode="after")
    def _credit_has_reference(self) -> Self:
        if self.credit and self.credit_reference_id is None:
            raise ValueError("credit_reference_id must be set on a credit CDR")
        return self
