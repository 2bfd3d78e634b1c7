"""Roaming (OCPI 2.2.1, the roaming service): the eMSPs and hubs this CPO is connected to and
the operator's side of the credentials handshake (admins only: a platform's token opens the
network's data to it), and the tokens eMSPs pushed, the locations published and the push log
(operators and admins)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query, status

from csms_shared.contracts.resources_base import Page
from csms_shared.contracts.rpc_roaming import (
    InvitePlatform,
    ListAuthorizations,
    ListCdrs,
    ListPlatforms,
    ListPushes,
    ListRequests,
    ListRoamingTokens,
    OfCdr,
    OfPlatform,
    PlatformInvitation,
    PlatformState,
    PlatformUnregistered,
    RegisterPlatform,
    RepublishTokens,
    Repushed,
    RoamingAuthorization,
    RoamingCdr,
    RoamingPlatform,
    RoamingPush,
    RoamingRequest,
    RoamingRpc,
    RoamingToken,
    TokensRepublished,
)
from csms_shared.contracts.rpc_roaming_locations import (
    ListLocations,
    LocationSettings,
    OfLocation,
    PutLocation,
    RoamingLocation,
)

from .. import problems
from .deps import MAX_OFFSET, Admin, Operator, State, api_router, call

router = api_router(404, 503, tags=["roaming"])

PlatformId = Annotated[str, Path(alias="id", min_length=1, max_length=36)]
# Registering reads the platform's versions and endpoints and POSTs to it (each call up to
# ROAMING_REQUEST_TIMEOUT, 10 s by default), which a read's timeout does not cover.
HANDSHAKE_TIMEOUT = 60.0


@router.get("/roaming/platforms", response_model=Page[RoamingPlatform])
async def list_platforms(
    state: State,
    principal: Admin,
    platform_state: Annotated[PlatformState | None, Query(alias="state")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> Page[RoamingPlatform]:
    """The OCPI platforms, newest first: state, version and endpoints, the roles they play."""
    params = ListPlatforms(state=platform_state, limit=limit, offset=offset)
    return await call(state, RoamingRpc.list_platforms, params)


@router.get("/roaming/platforms/{id}", response_model=RoamingPlatform)
async def get_platform(state: State, principal: Admin, platform_id: PlatformId) -> RoamingPlatform:
    """One platform."""
    return await call(state, RoamingRpc.get_platform, OfPlatform(id=platform_id))


@router.post(
    "/roaming/platforms/invitations",
    status_code=status.HTTP_201_CREATED,
    response_model=PlatformInvitation,
)
async def invite_platform(
    state: State, principal: Admin, body: InvitePlatform
) -> PlatformInvitation:
    """A platform that will register with us: hand it `token` (its token A, shown this once)
    and `versionsUrl` out of band; it POSTs its credentials with them."""
    return await call(state, RoamingRpc.invite_platform, body)


@router.post(
    "/roaming/platforms",
    status_code=status.HTTP_201_CREATED,
    response_model=RoamingPlatform,
    responses=problems.responses(422),
)
async def register_platform(
    state: State, principal: Admin, body: RegisterPlatform
) -> RoamingPlatform:
    """Register with a platform that handed us its versions URL and token A: its 2.2.1
    endpoints are read and our credentials POSTed; 422 with what went wrong when the URL and
    token do not lead to a usable platform (nothing is kept then)."""
    return await call(state, RoamingRpc.register_platform, body, timeout=HANDSHAKE_TIMEOUT)


@router.post(
    "/roaming/platforms/{id}/credentials",
    response_model=RoamingPlatform,
    responses=problems.responses(409, 502),
)
async def rotate_credentials(
    state: State, principal: Admin, platform_id: PlatformId
) -> RoamingPlatform:
    """New credentials tokens both ways with a registered platform (a PUT to it), its endpoints
    read again; the old token works until it has answered. 409 unless it is registered."""
    return await call(
        state, RoamingRpc.rotate_platform, OfPlatform(id=platform_id), timeout=HANDSHAKE_TIMEOUT
    )


@router.delete(
    "/roaming/platforms/{id}",
    response_model=PlatformUnregistered,
    responses=problems.responses(409),
)
async def unregister_platform(
    state: State, principal: Admin, platform_id: PlatformId
) -> PlatformUnregistered:
    """Unregister a platform: our credentials DELETEd there, and neither side's token works
    any more (`problem` says what the platform answered if the DELETE failed there)."""
    return await call(
        state, RoamingRpc.unregister_platform, OfPlatform(id=platform_id), timeout=HANDSHAKE_TIMEOUT
    )


@router.get("/roaming/tokens", response_model=Page[RoamingToken])
async def list_tokens(
    state: State,
    principal: Operator,
    country_code: Annotated[str | None, Query(alias="countryCode", max_length=2)] = None,
    party_id: Annotated[str | None, Query(alias="partyId", max_length=3)] = None,
    uid: Annotated[str | None, Query(max_length=36)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> Page[RoamingToken]:
    """The tokens eMSPs pushed over OCPI (operators and admins), newest push first: owner,
    uid, type, contract id, valid, whitelist rule, the platform that pushed it; the filters
    compare without case."""
    params = ListRoamingTokens(
        country_code=country_code, party_id=party_id, uid=uid, limit=limit, offset=offset
    )
    return await call(state, RoamingRpc.list_tokens, params)


LocationPath = Annotated[
    str, Path(alias="id", min_length=1, max_length=36, pattern=r"^[A-Za-z0-9._-]+$")
]


@router.get("/roaming/locations", response_model=Page[RoamingLocation])
async def list_locations(
    state: State,
    principal: Operator,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> Page[RoamingLocation]:
    """The locations published to the roaming platforms, by id: the settings, each EVSE's
    OCPI status, and the OCPI Location exactly as platforms get it."""
    return await call(state, RoamingRpc.list_locations, ListLocations(limit=limit, offset=offset))


@router.get("/roaming/locations/{id}", response_model=RoamingLocation)
async def get_location(
    state: State, principal: Operator, location_id: LocationPath
) -> RoamingLocation:
    """One location (ids compare without case)."""
    return await call(state, RoamingRpc.get_location, OfLocation(id=location_id))


@router.put(
    "/roaming/locations/{id}",
    response_model=RoamingLocation,
    responses=problems.responses(409, 422),
)
async def put_location(
    state: State, principal: Operator, location_id: LocationPath, body: LocationSettings
) -> RoamingLocation:
    """Publish a site as an OCPI Location, or replace one whole: where it is, when it is open,
    and each EVSE (the station and its OCPP EVSE, eMI3 id, capabilities) with its connectors
    (standard, format, power); pushed to every platform with a locations receiver. An EVSE left
    out stays in the Location as REMOVED. 422 names what OCPI does not allow; 409 when an EVSE
    is published in another location."""
    return await call(state, RoamingRpc.put_location, PutLocation(id=location_id, location=body))


@router.get("/roaming/pushes", response_model=Page[RoamingPush])
async def list_pushes(
    state: State,
    principal: Operator,
    platform_id: Annotated[str | None, Query(alias="platformId", max_length=36)] = None,
    pending: bool = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> Page[RoamingPush]:
    """The push log, newest first: each push to a platform (what, where, attempts, the last
    error, delivered, or dropped and why); `pending` only those not delivered yet."""
    params = ListPushes(platform_id=platform_id, pending=pending, limit=limit, offset=offset)
    return await call(state, RoamingRpc.list_pushes, params)


@router.post(
    "/roaming/locations/{id}/push",
    response_model=Repushed,
    responses=problems.responses(404),
)
async def push_location(state: State, principal: Operator, location_id: LocationPath) -> Repushed:
    """Push the whole Location again to every platform with a locations receiver (a platform
    that lost it, or one registered after it was put); what is pending of it is superseded."""
    return await call(state, RoamingRpc.push_location, OfLocation(id=location_id))


@router.get("/roaming/cdrs", response_model=Page[RoamingCdr])
async def list_cdrs(
    state: State,
    principal: Operator,
    platform_id: Annotated[str | None, Query(alias="platformId", max_length=36)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> Page[RoamingCdr]:
    """The CDRs sent to eMSPs, newest first: the party billed, the total excl. VAT, the energy,
    and the OCPI document as sent."""
    params = ListCdrs(platform_id=platform_id, limit=limit, offset=offset)
    return await call(state, RoamingRpc.list_cdrs, params)


CdrPath = Annotated[str, Path(alias="id", min_length=1, max_length=39)]


@router.post("/roaming/cdrs/{id}/push", response_model=Repushed, responses=problems.responses(404))
async def push_cdr(state: State, principal: Operator, cdr_id: CdrPath) -> Repushed:
    """POST the CDR again to its eMSP, the same document (its id is stable, so the eMSP sees
    the one it may have already)."""
    return await call(state, RoamingRpc.push_cdr, OfCdr(id=cdr_id))


@router.get("/roaming/requests", response_model=Page[RoamingRequest])
async def list_requests(
    state: State,
    principal: Operator,
    platform_id: Annotated[str | None, Query(alias="platformId", max_length=36)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> Page[RoamingRequest]:
    """The OCPI requests platforms made, newest first: who, method and path, the HTTP and OCPI
    status, time taken, the request and correlation ids, the body (a credentials token as
    ***); kept ROAMING_REQUEST_LOG_RETENTION_DAYS."""
    params = ListRequests(platform_id=platform_id, limit=limit, offset=offset)
    return await call(state, RoamingRpc.list_requests, params)


@router.get("/roaming/authorizations", response_model=Page[RoamingAuthorization])
async def list_authorizations(
    state: State,
    principal: Operator,
    platform_id: Annotated[str | None, Query(alias="platformId", max_length=36)] = None,
    uid: Annotated[str | None, Query(max_length=36)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> Page[RoamingAuthorization]:
    """The real-time authorizations asked of eMSPs for their tokens, newest first: the token,
    the station, the location named, the eMSP's answer (ALLOWED, BLOCKED, EXPIRED, NO_CREDIT,
    NOT_ALLOWED) and reference, or why none came; kept ROAMING_REQUEST_LOG_RETENTION_DAYS."""
    params = ListAuthorizations(platform_id=platform_id, uid=uid, limit=limit, offset=offset)
    return await call(state, RoamingRpc.list_authorizations, params)


@router.post("/roaming/tokens/republish", response_model=TokensRepublished)
async def republish_tokens(state: State, principal: Admin) -> TokensRepublished:
    """Publish `roaming.token_changed` again for every token eMSPs pushed, a page at a time, so
    the session-service holds them all (after restoring its database, or for tokens pushed
    before it first followed them); it keeps what it has when a change is one it knows.
    `count`: how many were published."""
    total = 0
    after: list[str] | None = None
    while True:
        page = await call(
            state, RoamingRpc.republish_tokens, RepublishTokens(after=after, limit=1000)
        )
        total += page.count
        if page.next is None:
            return TokensRepublished(count=total)
        after = page.next
