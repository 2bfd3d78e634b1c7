"""OCPI 2.2.1's Tokens module (mod_tokens.asciidoc): the Token an eMSP pushes to the CPO, the
answer to a real-time authorization, and the ProfileType of mod_sessions a Token defaults to
(defined here so that sessions.py can import it without a cycle)."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from roaming.ocpi.types import (
    CiString36,
    CountryCode,
    DateTime,
    DisplayText,
    OcpiModel,
    PartyId,
    String2,
    String64,
)


class TokenType(StrEnum):
    """TokenType: how a Token identifies its driver (RFID card, app user, ...)."""

    AD_HOC_USER = "AD_HOC_USER"
    APP_USER = "APP_USER"
    OTHER = "OTHER"
    RFID = "RFID"


class WhitelistType(StrEnum):
    """WhitelistType: when the CPO may authorize a Token without asking the eMSP."""

    ALWAYS = "ALWAYS"
    ALLOWED = "ALLOWED"
    ALLOWED_OFFLINE = "ALLOWED_OFFLINE"
    NEVER = "NEVER"


class AllowedType(StrEnum):
    """AllowedType: the eMSP's verdict on a Token in a real-time authorization."""

    ALLOWED = "ALLOWED"
    BLOCKED = "BLOCKED"
    EXPIRED = "EXPIRED"
    NO_CREDIT = "NO_CREDIT"
    NOT_ALLOWED = "NOT_ALLOWED"


class ProfileType(StrEnum):
    """ProfileType (mod_sessions): the smart-charging preference a driver chose."""

    CHEAP = "CHEAP"
    FAST = "FAST"
    GREEN = "GREEN"
    REGULAR = "REGULAR"


class EnergyContract(OcpiModel):
    """EnergyContract: the driver's own energy supplier and contract, for use at a Charge Point."""

    supplier_name: String64
    contract_id: String64 | None = None


class LocationReferences(OcpiModel):
    """LocationReferences: the Location (and its EVSEs) a real-time authorization is asked for."""

    location_id: CiString36
    evse_uids: list[CiString36] = Field(default_factory=list)


class Token(OcpiModel):
    """Token: a driver's means of authorization, owned by an eMSP and pushed to the CPO."""

    country_code: CountryCode
    party_id: PartyId
    uid: CiString36
    type: TokenType
    contract_id: CiString36
    visual_number: String64 | None = None
    issuer: String64
    group_id: CiString36 | None = None
    valid: bool
    whitelist: WhitelistType
    language: String2 | None = None
    default_profile_type: ProfileType | None = None
    energy_contract: EnergyContract | None = None
    last_updated: DateTime


class TokenPatch(OcpiModel):
    """A PATCH body for a Token: only the fields that change, and always `last_updated`."""

    country_code: CountryCode | None = None
    party_id: PartyId | None = None
    uid: CiString36 | None = None
    type: TokenType | None = None
    contract_id: CiString36 | None = None
    visual_number: String64 | None = None
    issuer: String64 | None = None
    group_id: CiString36 | None = None
    valid: bool | None = None
    whitelist: WhitelistType | None = None
    language: String2 | None = None
    default_profile_type: ProfileType | None = None
    energy_contract: EnergyContract | None = None
    last_updated: DateTime


class AuthorizationInfo(OcpiModel):
    """AuthorizationInfo: the eMSP's answer to a real-time authorization of a Token."""

    allowed: AllowedType
    token: Token
    location: LocationReferences | None = None
    authorization_reference: CiString36 | None = None
    info: DisplayText | None = None
