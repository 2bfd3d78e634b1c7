"""RPC methods: the tokens eMSPs pushed, for the operator to look up; a real-time
authorization of one, for the session-service's decision."""

from __future__ import annotations

from csms_shared.bus.access import COMMAND_API, SESSIONS
from csms_shared.contracts.resources_base import Page
from csms_shared.contracts.rpc_roaming import (
    AuthorizeToken,
    ListAuthorizations,
    ListRoamingTokens,
    RepublishTokens,
    RoamingAuthorization,
    RoamingRpc,
    RoamingToken,
    TokenAuthorization,
    TokensRepublished,
)

from . import authorizations, token_store
from .ocpi_client import OcpiClient
from .router import Ctx, router


@router.rpc(RoamingRpc.list_tokens, callers={COMMAND_API})
async def list_tokens(params: ListRoamingTokens, ctx: Ctx) -> Page[RoamingToken]:
    found, total = await token_store.listed(
        ctx.session,
        country_code=params.country_code,
        party_id=params.party_id,
        uid=params.uid,
        limit=params.limit,
        offset=params.offset,
    )
    return Page[RoamingToken](
        items=[
            RoamingToken.model_validate(
                {
                    "countryCode": token.country_code,
                    "partyId": token.party_id,
                    "uid": token.uid,
                    "type": token.type.value,
                    "contractId": token.contract_id,
                    "visualNumber": token.visual_number,
                    "issuer": token.issuer,
                    "groupId": token.group_id,
                    "valid": token.valid,
                    "whitelist": token.whitelist.value,
                    "language": token.language,
                    "lastUpdated": token.last_updated,
                    "platformId": platform_id,
                    "receivedAt": received_at,
                }
            )
            for token, platform_id, received_at in found
        ],
        total=total,
        limit=params.limit,
        offset=params.offset,
    )


@router.rpc(RoamingRpc.republish_tokens, callers={COMMAND_API})
async def republish_tokens(params: RepublishTokens, ctx: Ctx) -> TokensRepublished:
    after = (
        None
        if params.after is None
        else (
            params.after[0],
            params.after[1],
            params.after[2],
            params.after[3],
        )
    )
    count, following = await token_store.republish(ctx.session, after, params.limit)
    if following is None:
        return TokensRepublished(count=count)
    return TokensRepublished(count=count, next=list(following))


@router.rpc(RoamingRpc.authorize_token, callers={SESSIONS})
async def authorize_token(params: AuthorizeToken, ctx: Ctx) -> TokenAuthorization:
    settings = ctx.settings
    timeout = min(settings.authorize_timeout, settings.request_timeout)
    client = OcpiClient(timeout, settings.networks())
    try:
        return await authorizations.authorize(ctx.session, client, settings, params)
    finally:
        await client.close()


@router.rpc(RoamingRpc.list_authorizations, callers={COMMAND_API})
async def list_authorizations(params: ListAuthorizations, ctx: Ctx) -> Page[RoamingAuthorization]:
    return await authorizations.listed(ctx.session, params)
