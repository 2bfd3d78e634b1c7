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
from .rpc_base import ROAMING, Paged, RpcMethod, RpcParams, Text100
from .rpc_roaming_locations import ListLocations, OfLocation, PutLocation, RoamingLocation

PlatformState = Literal["invited", "registering", "registered", "unregistered"]
PlatformId = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=36)]
VersionsUrl = Annotated[
    str, StringConstraints(strict=True, max_length=255, pattern=r"^https?://[^\s]+$")
]
# A credentials token: printable ASCII without spaces, up to 64 characters (OCPI 2.2.1).
CredentialsToken = Annotated[
    str, StringConstraints(strict=True, min_length=1, max_length=64, pattern=r"^[\x21-\x7E]+$")
]


# An eMSP's answer to a real-time authorization (OCPI AllowedType).
AllowedType = Literal["ALLOWED", "BLOCKED", "EXPIRED", "NO_CREDIT", "NOT_ALLOWED"]


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


class ListAuthorizations(Paged):
    """A page of the real-time authorizations asked of eMSPs, newest first; of one platform,
    one token uid (without case), or all."""

    platform_id: PlatformId | None = None
    uid: Annotated[str, StringConstraints(strict=True, max_length=36)] | None = None


class RoamingAuthorization(Resource):
    """One real-time authorization asked of an eMSP: the token, the station, the location the
    request named, and the answer (`allowed` absent when none came: `reason` says why)."""

    id: int
    asked_at: DateTime
    platform_id: Omit[str] = None
    country_code: str
    party_id: str
    uid: str
    type: str
    charge_point_id: str
    location_id: Omit[str] = None
    allowed: Omit[AllowedType] = None
    authorization_reference: Omit[str] = None
    reason: Omit[str] = None


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


class AuthorizeToken(RpcParams):
    """Whether an eMSP's token may charge at a station now: the session-service asks it for a
    token whose whitelist wants real-time authorization (NEVER, ALLOWED_OFFLINE), and the
    roaming service asks the token's eMSP (OCPI `POST {tokens}/{uid}/authorize`), or answers
    with an ALLOWED it had for the token at that station moments ago. The request names the
    station's published location and EVSEs."""

    country_code: Annotated[str, StringConstraints(strict=True, min_length=2, max_length=2)]
    party_id: Annotated[str, StringConstraints(strict=True, min_length=3, max_length=3)]
    uid: Annotated[str, StringConstraints(strict=True, min_length=1, max_length=36)]
    type: Literal["AD_HOC_USER", "APP_USER", "OTHER", "RFID"]
    charge_point_id: Annotated[str, StringConstraints(strict=True, min_length=1, max_length=48)]


class TokenAuthorization(Resource):
    """The eMSP's answer; `allowed` absent when none came (not registered for real-time
    authorization, unreachable, too slow, a refusal of the request: `reason` says which), and
    the caller falls back on the token's whitelist."""

    allowed: Omit[AllowedType] = None
    authorization_reference: Omit[str] = None
    # False: an ALLOWED given for this token at this station moments ago, told again.
    asked: bool
    reason: Omit[str] = None


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
    authorize_token = RpcMethod("tokens.authorize", ROAMING, AuthorizeToken, TokenAuthorization)
    list_authorizations = RpcMethod(
        "authorizations.list", ROAMING, ListAuthorizations, Page[RoamingAuthorization]
    )
