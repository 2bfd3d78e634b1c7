"""The roaming service's RPC methods: the OCPI platforms (eMSPs, hubs) this CPO is connected to,
and the operator's side of the credentials handshake (invite one, register with one, new tokens
both ways, unregister). Tokens are never read back: an invitation's token A is shown once.
The locations this CPO publishes (a site as an OCPI Location, with what OCPP does not say: the
address, the eMI3 EVSE ids, each connector's standard, format and power) and what was pushed to
the platforms."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from .resources_base import DateTime, Number, Omit, Page, Resource
from .rpc_base import BIGINT, ROAMING, ChargePointId, Paged, RpcMethod, RpcParams, Text100

PlatformState = Literal["invited", "registering", "registered", "unregistered"]
PlatformId = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=36)]
VersionsUrl = Annotated[
    str, StringConstraints(strict=True, max_length=255, pattern=r"^https?://[^\s]+$")
]
# A credentials token: printable ASCII without spaces, up to 64 characters (OCPI 2.2.1).
CredentialsToken = Annotated[
    str, StringConstraints(strict=True, min_length=1, max_length=64, pattern=r"^[\x21-\x7E]+$")
]


class BusinessDetails(Resource):
    name: str
    website: Omit[str] = None


class PlatformRole(Resource):
    """A role a platform plays, as which party (country code and party id, upper-case)."""

    role: str = Field(description="CPO, EMSP, HUB, NAP, NSP, OTHER, SCSP")
    country_code: str
    party_id: str
    business_details: BusinessDetails


class PlatformEndpoint(Resource):
    """One module's interface at the platform."""

    identifier: str
    role: str
    url: str


class RoamingPlatform(Resource):
    """An OCPI platform: its state, the version and endpoints agreed, the roles it plays."""

    id: str
    name: str
    state: PlatformState
    versions_url: Omit[str] = None
    version: Omit[str] = None
    endpoints: list[PlatformEndpoint] = Field(default_factory=list)
    roles: list[PlatformRole] = Field(default_factory=list)
    created_at: DateTime
    registered_at: Omit[DateTime] = None
    unregistered_at: Omit[DateTime] = None
    unregistered_by: Omit[Literal["us", "them"]] = None


class PlatformInvitation(Resource):
    """A platform invited to register with us: hand it `token` and `versionsUrl` out of band;
    the token is shown this once."""

    platform: RoamingPlatform
    token: str
    versions_url: str


class PlatformUnregistered(Resource):
    """A platform unregistered by us: `problem` says what the platform answered when our DELETE
    failed there (it is unregistered here all the same)."""

    platform: RoamingPlatform
    problem: Omit[str] = None


class RoamingToken(Resource):
    """A token an eMSP pushed over OCPI, as stored: its owner (country code, party id), uid,
    type, contract id, whether it is valid and its whitelist rule."""

    country_code: str
    party_id: str
    uid: str
    type: str = Field(description="AD_HOC_USER, APP_USER, OTHER, RFID")
    contract_id: str
    visual_number: Omit[str] = None
    issuer: str
    group_id: Omit[str] = None
    valid: bool
    whitelist: str = Field(description="ALWAYS, ALLOWED, ALLOWED_OFFLINE, NEVER")
    language: Omit[str] = None
    last_updated: DateTime
    platform_id: str = Field(description="The platform that pushed it last")
    received_at: DateTime


class ListRoamingTokens(Paged):
    """A page of the tokens eMSPs pushed, newest push first; the filters compare without
    case."""

    country_code: Annotated[str, StringConstraints(strict=True, max_length=2)] | None = None
    party_id: Annotated[str, StringConstraints(strict=True, max_length=3)] | None = None
    uid: Annotated[str, StringConstraints(strict=True, max_length=36)] | None = None


# -- locations (OCPI locations, sender) ------------------------------------------------------

# An OCPI Location id (CiString(36)): letters, digits, `.`, `_` and `-`; compared without case.
LocationId = Annotated[
    str,
    StringConstraints(strict=True, min_length=1, max_length=36, pattern=r"^[A-Za-z0-9._-]+$"),
]
# An OCPI EVSE uid (CiString(36)): printable ASCII, no `/` (it is a path segment).
EvseUid = Annotated[
    str, StringConstraints(strict=True, min_length=1, max_length=36, pattern=r"^[!-.0-~]+$")
]
# An eMI3 EVSE id: "DE*CSM*E0001*1" (separators optional): country, operator, E, the rest.
Emi3EvseId = Annotated[
    str,
    StringConstraints(
        strict=True,
        max_length=48,
        pattern=r"^[A-Za-z]{2}\*?[A-Za-z0-9]{3}\*?[Ee][A-Za-z0-9][A-Za-z0-9*]{0,30}$",
    ),
]
OcpiText = Annotated[
    str, StringConstraints(strict=True, min_length=1, pattern=r"^[^\x00-\x1F\x7F]*$")
]


class GeoPoint(RpcParams):
    """WGS 84, decimal degrees (published with 6 decimals)."""

    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)


class WeeklyHours(RpcParams):
    """A weekday's opening period in local time."""

    weekday: int = Field(ge=1, le=7, description="1 Monday ... 7 Sunday")
    period_begin: str = Field(pattern=r"^([0-1][0-9]|2[0-3]):[0-5][0-9]$", description="HH:MM")
    period_end: str = Field(pattern=r"^([0-1][0-9]|2[0-3]):[0-5][0-9]$", description="HH:MM")


class OpeningTimes(RpcParams):
    """Open around the clock, or in the regular hours given."""

    twentyfourseven: bool
    regular_hours: list[WeeklyHours] = Field(default_factory=list, max_length=50)


class LocationConnector(RpcParams):
    """A connector as OCPP does not describe it: its plug standard, socket or cable, power."""

    connector_id: int = Field(ge=1, le=100, description="Within the EVSE (a 1.6 connector: 1)")
    standard: str = Field(
        description="An OCPI ConnectorType: IEC_62196_T2, IEC_62196_T2_COMBO, CHADEMO, ..."
    )
    format: str = Field(description="SOCKET or CABLE")
    power_type: str = Field(
        description="AC_1_PHASE, AC_2_PHASE, AC_2_PHASE_SPLIT, AC_3_PHASE or DC"
    )
    max_voltage: int = Field(ge=0, le=100_000, description="V (line to neutral for AC_3_PHASE)")
    max_amperage: int = Field(ge=0, le=100_000, description="A")
    max_electric_power: int | None = Field(default=None, ge=0, le=10_000_000, description="W")
    tariff_ids: list[
        Annotated[str, StringConstraints(strict=True, min_length=1, max_length=36)]
    ] = Field(default_factory=list, max_length=20)


class LocationEvse(RpcParams):
    """An EVSE of a station published in the location: which one (charge point and OCPP EVSE
    number), its eMI3 id, what it offers, and its connectors."""

    uid: EvseUid | None = Field(
        default=None,
        description="The EVSE's OCPI uid, unique in the location; when left out, the eMI3 id, or"
        " `<chargePointId>-<evseId>`",
    )
    charge_point_id: ChargePointId
    evse_id: int = Field(ge=1, le=1000, description="The OCPP EVSE (a 1.6 connector n is EVSE n)")
    emi3_id: Emi3EvseId | None = Field(default=None, description='eMI3, e.g. "DE*CSM*E0001*1"')
    capabilities: list[str] = Field(
        default_factory=list,
        max_length=20,
        description="OCPI Capability: RFID_READER, REMOTE_START_STOP_CAPABLE, RESERVABLE, ...",
    )
    physical_reference: Annotated[str, StringConstraints(strict=True, max_length=16)] | None = None
    floor_level: Annotated[str, StringConstraints(strict=True, max_length=4)] | None = None
    parking_restrictions: list[str] = Field(default_factory=list, max_length=5)
    coordinates: GeoPoint | None = None
    connectors: list[LocationConnector] = Field(min_length=1, max_length=32)


class LocationSettings(RpcParams):
    """A location as the operator describes it: where it is, when it is open, its EVSEs."""

    name: Annotated[str, StringConstraints(strict=True, max_length=255)] | None = None
    site_id: int | None = Field(default=None, ge=1, le=BIGINT, description="The site it is")
    publish: bool = Field(
        default=True, description="Whether eMSPs may show it in their apps and maps"
    )
    address: Annotated[OcpiText, StringConstraints(max_length=255)]
    city: Annotated[OcpiText, StringConstraints(max_length=45)]
    postal_code: Annotated[OcpiText, StringConstraints(max_length=10)] | None = None
    state: Annotated[OcpiText, StringConstraints(max_length=45)] | None = None
    country: str = Field(pattern=r"^[A-Z]{3}$", description="ISO 3166-1 alpha-3, e.g. DEU")
    coordinates: GeoPoint
    time_zone: str = Field(description="IANA, e.g. Europe/Berlin")
    parking_type: str | None = Field(
        default=None, description="OCPI ParkingType: ON_STREET, PARKING_LOT, ..."
    )
    facilities: list[str] = Field(default_factory=list, max_length=20)
    opening_times: OpeningTimes | None = None
    charging_when_closed: bool | None = None
    evses: list[LocationEvse] = Field(default_factory=list, max_length=500)


class PutLocation(RpcParams):
    """Publish a location (created, or replaced whole): pushed to every platform."""

    id: LocationId
    location: LocationSettings


class OfLocation(RpcParams):
    id: LocationId


class ListLocations(Paged):
    """A page of the locations, by id."""


class EvseState(Resource):
    """An EVSE as published: its uid, station and OCPI status."""

    uid: str
    charge_point_id: str
    evse_id: int
    status: str = Field(
        description="OCPI: AVAILABLE, CHARGING, RESERVED, INOPERATIVE, OUTOFORDER, UNKNOWN"
        " (offline, or never reported), REMOVED (taken out of the location)"
    )
    status_at: Omit[DateTime] = None


class RoamingLocation(Resource):
    """A location: the operator's settings, its EVSEs' published status, and the OCPI Location
    exactly as platforms get it."""

    id: str
    location: LocationSettings
    evses: list[EvseState]
    ocpi: dict[str, Any] = Field(description="The OCPI 2.2.1 Location document")
    created_at: DateTime
    last_updated: DateTime


class ListPushes(Paged):
    """A page of the pushes to platforms, newest first; `pending` only those not delivered."""

    platform_id: PlatformId | None = None
    pending: bool = False


class RoamingPush(Resource):
    """One push to a platform's receiver interface: what, where, and how it went."""

    id: int
    platform_id: str
    module: str
    object: str = Field(description="What it is about: `location:<id>`, ...")
    method: str
    path: str = Field(description="Below the platform's module URL")
    created_at: DateTime
    attempts: int
    state: Literal["pending", "delivered", "dropped"]
    next_attempt_at: Omit[DateTime] = None
    last_attempt_at: Omit[DateTime] = None
    last_error: Omit[str] = None
    delivered_at: Omit[DateTime] = None
    dropped_at: Omit[DateTime] = None
    dropped_why: Omit[str] = None


class OfCdr(RpcParams):
    id: Annotated[str, StringConstraints(strict=True, min_length=1, max_length=39)]


class ListCdrs(Paged):
    """A page of the CDRs sent to eMSPs, newest first; of one platform or all."""

    platform_id: PlatformId | None = None


class RoamingCdr(Resource):
    """A CDR as sent to the eMSP of its token: who, how much, and the OCPI document itself."""

    id: str
    session_id: str
    platform_id: str
    country_code: str
    party_id: str
    total_cost: Number = Field(description="Excluding VAT, in `currency`")
    currency: str
    total_energy: Number = Field(description="kWh")
    created_at: DateTime
    ocpi: dict[str, Any] = Field(description="The OCPI 2.2.1 CDR document")


class Repushed(Resource):
    """A document queued again for the platforms: how many pushes."""

    pushes: int


class ListRequests(Paged):
    """A page of the OCPI requests platforms made, newest first; of one platform or all."""

    platform_id: PlatformId | None = None


class RoamingRequest(Resource):
    """One OCPI request a platform made: who, what, how it was answered (a credentials token
    in the body is shown as ***)."""

    id: int
    at: DateTime
    platform_id: Omit[str] = Field(default=None, description="Absent when the token was not known")
    method: str
    path: str
    http_status: int
    ocpi_status: Omit[int] = None
    duration_ms: int
    request_id: Omit[str] = None
    correlation_id: Omit[str] = None
    from_party: Omit[str] = Field(default=None, description="OCPI-from-*, when sent: CC-PID")
    body: Omit[Any] = None


class RepublishTokens(RpcParams):
    """A page of the stored tokens to publish again, in key order after `after` (the `next` of
    the page before; none for the first)."""

    after: list[Annotated[str, StringConstraints(strict=True, max_length=36)]] | None = Field(
        default=None, min_length=4, max_length=4
    )
    limit: int = Field(default=1000, ge=1, le=10_000)


class TokensRepublished(Resource):
    """How many `roaming.token_changed` were published again, and where the next page starts
    (absent after the last)."""

    count: int
    next: Omit[list[str]] = None


class InvitePlatform(RpcParams):
    name: Text100


class RegisterPlatform(RpcParams):
    """Register with the platform at `versionsUrl` that handed us `token` (its token A)."""

    name: Text100
    versions_url: VersionsUrl
    token: CredentialsToken


class OfPlatform(RpcParams):
    id: PlatformId


class ListPlatforms(Paged):
    """A page of the platforms, newest first; `state` filters."""

    state: PlatformState | None = None


class RoamingRpc:
    """The roaming service's RPC methods."""

    list_platforms = RpcMethod("platforms.list", ROAMING, ListPlatforms, Page[RoamingPlatform])
    get_platform = RpcMethod("platforms.get", ROAMING, OfPlatform, RoamingPlatform)
    invite_platform = RpcMethod("platforms.invite", ROAMING, InvitePlatform, PlatformInvitation)
    register_platform = RpcMethod("platforms.register", ROAMING, RegisterPlatform, RoamingPlatform)
    rotate_platform = RpcMethod("platforms.rotate", ROAMING, OfPlatform, RoamingPlatform)
    unregister_platform = RpcMethod(
        "platforms.unregister", ROAMING, OfPlatform, PlatformUnregistered
    )
    list_tokens = RpcMethod("tokens.list", ROAMING, ListRoamingTokens, Page[RoamingToken])
    list_locations = RpcMethod("locations.list", ROAMING, ListLocations, Page[RoamingLocation])
    get_location = RpcMethod("locations.get", ROAMING, OfLocation, RoamingLocation)
    put_location = RpcMethod("locations.put", ROAMING, PutLocation, RoamingLocation)
    list_pushes = RpcMethod("pushes.list", ROAMING, ListPushes, Page[RoamingPush])
    push_location = RpcMethod("locations.push", ROAMING, OfLocation, Repushed)
    list_cdrs = RpcMethod("cdrs.list", ROAMING, ListCdrs, Page[RoamingCdr])
    push_cdr = RpcMethod("cdrs.push", ROAMING, OfCdr, Repushed)
    list_requests = RpcMethod("requests.list", ROAMING, ListRequests, Page[RoamingRequest])
    republish_tokens = RpcMethod("tokens.republish", ROAMING, RepublishTokens, TokensRepublished)
