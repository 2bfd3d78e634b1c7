"""RPC methods: the CDRs sent to eMSPs, for the operator to look up and send again."""

from __future__ import annotations

from csms_shared.bus.access import COMMAND_API
from csms_shared.bus.rpc import RpcError
from csms_shared.contracts.resources_base import Page
from csms_shared.contracts.rpc_roaming import ListCdrs, OfCdr, Repushed, RoamingCdr, RoamingRpc

from . import cdr_store
from .router import Ctx, router


@router.rpc(RoamingRpc.list_cdrs, callers={COMMAND_API})
async def list_cdrs(params: ListCdrs, ctx: Ctx) -> Page[RoamingCdr]:
    rows, total = await cdr_store.cdr_page(
        ctx.session, platform_id=params.platform_id, offset=params.offset, limit=params.limit
    )
    return Page[RoamingCdr](
        items=[
            RoamingCdr.model_validate(
                {
                    "id": row.id,
                    "sessionId": row.session_id,
                    "platformId": row.platform_id,
                    "countryCode": row.country_code,
                    "partyId": row.party_id,
                    "totalCost": row.document["total_cost"]["excl_vat"],
                    "currency": row.document["currency"],
                    "totalEnergy": row.document["total_energy"],
                    "createdAt": row.last_updated,
                    "ocpi": row.document,
                }
            )
            for row in rows
        ],
        total=total,
        limit=params.limit,
        offset=params.offset,
    )


@router.rpc(RoamingRpc.push_cdr, callers={COMMAND_API})
async def push_cdr(params: OfCdr, ctx: Ctx) -> Repushed:
    queued = await cdr_store.repush_cdr(ctx.session, params.id)
    if queued is None:
        raise RpcError("not_found", f"No CDR {params.id!r}")
    return Repushed(pushes=queued)
