"""RPC methods: the locations this CPO publishes (the operator puts and reads them) and the push
log."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from csms_shared.bus.access import COMMAND_API
from csms_shared.bus.rpc import RpcError
from csms_shared.contracts.resources_base import Page
from csms_shared.contracts.rpc_roaming import (
    ListPushes,
    Repushed,
    RoamingPush,
    RoamingRpc,
)
from csms_shared.contracts.rpc_roaming_locations import (
    ListLocations,
    OfLocation,
    PutLocation,
    RoamingLocation,
)

from . import location_store
from .db import pushes
from .location_documents import LocationRefused, Publisher
from .location_store import LocationConflict, StoredLocation
from .router import Ctx, router


def resource(found: StoredLocation) -> RoamingLocation:
    return RoamingLocation.model_validate(
        {
            "id": found.id,
            "location": found.settings,
            "evses": [
                {
                    "uid": e.uid,
                    "chargePointId": e.settings.charge_point_id,
                    "evseId": e.settings.evse_id,
                    "status": e.status.value,
                    "statusAt": e.status_at,
                }
                for e in found.evses
            ],
            "ocpi": found.document.wire(),
            "createdAt": found.created_at,
            "lastUpdated": found.last_updated,
        }
    )


@router.rpc(RoamingRpc.put_location, callers={COMMAND_API})
async def put_location(params: PutLocation, ctx: Ctx) -> RoamingLocation:
    try:
        found = await location_store.put(
            ctx.session, params.id, params.location, Publisher.of(ctx.settings)
        )
    except LocationConflict as exc:
        raise RpcError("conflict", str(exc)) from None
    except LocationRefused as exc:
        raise RpcError("invalid", f"The location cannot be published: {exc}") from None
    return resource(found)


@router.rpc(RoamingRpc.get_location, callers={COMMAND_API})
async def get_location(params: OfLocation, ctx: Ctx) -> RoamingLocation:
    found = await location_store.load(ctx.session, params.id, Publisher.of(ctx.settings))
    if found is None:
        raise RpcError("not_found", f"No location {params.id!r}")
    return resource(found)


@router.rpc(RoamingRpc.list_locations, callers={COMMAND_API})
async def list_locations(params: ListLocations, ctx: Ctx) -> Page[RoamingLocation]:
    found, total = await location_store.page(
        ctx.session, Publisher.of(ctx.settings), offset=params.offset, limit=params.limit
    )
    return Page[RoamingLocation](
        items=[resource(f) for f in found], total=total, limit=params.limit, offset=params.offset
    )


@router.rpc(RoamingRpc.push_location, callers={COMMAND_API})
async def push_location(params: OfLocation, ctx: Ctx) -> Repushed:
    queued = await location_store.repush(ctx.session, params.id, Publisher.of(ctx.settings))
    if queued is None:
        raise RpcError("not_found", f"No location {params.id!r}")
    return Repushed(pushes=queued)


def _push(row: Any) -> RoamingPush:
    state = "delivered" if row.delivered_at else "dropped" if row.dropped_at else "pending"
    return RoamingPush.model_validate(
        {
            "id": row.id,
            "platformId": row.platform_id,
            "module": row.module,
            "object": row.object_key,
            "method": row.method,
            "path": row.path,
            "createdAt": row.created_at,
            "attempts": row.attempts,
            "state": state,
            "nextAttemptAt": row.next_attempt_at if state == "pending" else None,
            "lastAttemptAt": row.last_attempt_at,
            "lastError": row.last_error,
            "deliveredAt": row.delivered_at,
            "droppedAt": row.dropped_at,
            "droppedWhy": row.dropped_why,
        }
    )


@router.rpc(RoamingRpc.list_pushes, callers={COMMAND_API})
async def list_pushes(params: ListPushes, ctx: Ctx) -> Page[RoamingPush]:
    where = []
    if params.platform_id is not None:
        where.append(pushes.c.platform_id == params.platform_id)
    if params.pending:
        where += [pushes.c.delivered_at.is_(None), pushes.c.dropped_at.is_(None)]
    total = (
        await ctx.session.execute(select(func.count()).select_from(pushes).where(*where))
    ).scalar_one()
    rows = await ctx.session.execute(
        select(pushes)
        .where(*where)
        .order_by(pushes.c.id.desc())
        .offset(params.offset)
        .limit(params.limit)
    )
    return Page[RoamingPush](
        items=[_push(r) for r in rows], total=total, limit=params.limit, offset=params.offset
    )
