"""RPC methods: the OCPI platforms, and the operator's side of the credentials handshake."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from csms_shared.bus.access import COMMAND_API
from csms_shared.bus.rpc import RpcError
from csms_shared.contracts.resources_base import Page
from csms_shared.contracts.rpc_roaming import (
    InvitePlatform,
    ListPlatforms,
    ListRequests,
    OfPlatform,
    PlatformInvitation,
    PlatformUnregistered,
    RegisterPlatform,
    RoamingPlatform,
    RoamingRequest,
    RoamingRpc,
)
from csms_shared.db import session_factory

from . import platforms
from .db import requests
from .ocpi_client import OcpiClient, PartyError
from .platforms import Platform
from .registration import RegistrationRefused, Registrations
from .router import Ctx, router


@asynccontextmanager
async def registrations(ctx: Ctx) -> AsyncIterator[Registrations]:
    """The handshake's rules for one request: transactions of their own beside the message's
    (a platform calls back while ours is open), one HTTP client closed after."""
    engine = ctx.session.bind
    assert isinstance(engine, AsyncEngine)
    client = OcpiClient(ctx.settings.request_timeout, ctx.settings.networks())
    try:
        yield Registrations(session_factory(engine), client, ctx.settings)
    finally:
        await client.close()


def resource(platform: Platform) -> RoamingPlatform:
    """A platform as the API shows it: never a token."""
    return RoamingPlatform.model_validate(
        {
            "id": platform.id,
            "name": platform.name,
            "state": platform.state.value,
            "versionsUrl": platform.versions_url,
            "version": platform.version,
            "endpoints": platform.endpoints,
            "roles": [
                {
                    "role": r["role"],
                    "countryCode": r["country_code"],
                    "partyId": r["party_id"],
                    "businessDetails": r["business_details"],
                }
                for r in platform.roles
            ],
            "createdAt": platform.created_at,
            "registeredAt": platform.registered_at,
            "unregisteredAt": platform.unregistered_at,
            "unregisteredBy": platform.unregistered_by,
        }
    )


async def _one(ctx: Ctx, platform_id: str) -> RoamingPlatform:
    found = await platforms.get(ctx.session, platform_id)
    if found is None:
        raise RpcError("not_found", f"No roaming platform {platform_id!r}")
    return resource(found)


def _refused(exc: RegistrationRefused | PartyError, *, given: bool = False) -> RpcError:
    """`given`: the platform's URL and token are the request's own (registering), so a
    platform that cannot be used is the request's fault (invalid: 422), not a failing
    platform's (502)."""
    if isinstance(exc, PartyError):
        return RpcError(
            "invalid" if given else "party_error", f"The platform cannot be used: {exc}"
        )
    code = {404: "not_found", 409: "conflict"}.get(exc.http, "invalid")
    return RpcError(code, str(exc))


@router.rpc(RoamingRpc.list_requests, callers={COMMAND_API})
async def list_requests(params: ListRequests, ctx: Ctx) -> Page[RoamingRequest]:
    """The request log, newest first."""
    where = [] if params.platform_id is None else [requests.c.platform_id == params.platform_id]
    total = (
        await ctx.session.execute(select(func.count()).select_from(requests).where(*where))
    ).scalar_one()
    rows = await ctx.session.execute(
        select(requests)
        .where(*where)
        .order_by(requests.c.id.desc())
        .offset(params.offset)
        .limit(params.limit)
    )
    items = []
    for row in rows:
        shown = {
            "id": row.id,
            "at": row.at,
            "method": row.method,
            "path": row.path,
            "httpStatus": row.http_status,
            "durationMs": row.duration_ms,
        }
        optional = {
            "platformId": row.platform_id,
            "ocpiStatus": row.ocpi_status,
            "requestId": row.request_id,
            "correlationId": row.correlation_id,
            "fromParty": row.from_party,
            "body": row.body,
        }
        shown |= {k: v for k, v in optional.items() if v is not None}
        items.append(RoamingRequest.model_validate(shown))
    return Page[RoamingRequest](items=items, total=total, limit=params.limit, offset=params.offset)


@router.rpc(RoamingRpc.list_platforms, callers={COMMAND_API})
async def list_platforms(params: ListPlatforms, ctx: Ctx) -> Page[RoamingPlatform]:
    found = await platforms.listed(ctx.session)
    if params.state is not None:
        found = [p for p in found if p.state.value == params.state]
    page = found[params.offset : params.offset + params.limit]
    return Page[RoamingPlatform](
        items=[resource(p) for p in page],
        total=len(found),
        limit=params.limit,
        offset=params.offset,
    )


@router.rpc(RoamingRpc.get_platform, callers={COMMAND_API})
async def get_platform(params: OfPlatform, ctx: Ctx) -> RoamingPlatform:
    return await _one(ctx, params.id)


@router.rpc(RoamingRpc.invite_platform, callers={COMMAND_API})
async def invite_platform(params: InvitePlatform, ctx: Ctx) -> PlatformInvitation:
    async with registrations(ctx) as rules:
        platform_id, token = await rules.invite(params.name)
    return PlatformInvitation(
        platform=await _one(ctx, platform_id),
        token=token,
        versions_url=f"{ctx.settings.public_url}/versions",
    )


@router.rpc(RoamingRpc.register_platform, callers={COMMAND_API})
async def register_platform(params: RegisterPlatform, ctx: Ctx) -> RoamingPlatform:
    try:
        async with registrations(ctx) as rules:
            platform_id = await rules.register_with(params.name, params.versions_url, params.token)
    except (RegistrationRefused, PartyError) as exc:
        raise _refused(exc, given=True) from None
    return await _one(ctx, platform_id)


@router.rpc(RoamingRpc.rotate_platform, callers={COMMAND_API})
async def rotate_platform(params: OfPlatform, ctx: Ctx) -> RoamingPlatform:
    try:
        async with registrations(ctx) as rules:
            await rules.rotate(params.id)
    except (RegistrationRefused, PartyError) as exc:
        raise _refused(exc) from None
    return await _one(ctx, params.id)


@router.rpc(RoamingRpc.unregister_platform, callers={COMMAND_API})
async def unregister_platform(params: OfPlatform, ctx: Ctx) -> PlatformUnregistered:
    try:
        async with registrations(ctx) as rules:
            problem = await rules.unregister(params.id)
    except RegistrationRefused as exc:
        raise _refused(exc) from None
    return PlatformUnregistered(platform=await _one(ctx, params.id), problem=problem)
