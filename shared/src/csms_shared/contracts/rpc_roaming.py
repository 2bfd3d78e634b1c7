"""The roaming service's RPC methods: the OCPI platforms (eMSPs, hubs) this CPO is connected to,
and the operator's side of the credentials handshake (invite one, register with one, new tokens
both ways, unregister). Tokens are never read back: an invitation's token A is shown once."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from .resources_base import DateTime, Omit, Page, Resource
from .rpc_base import ROAMING, Paged, RpcMethod, RpcParams, Text100

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
