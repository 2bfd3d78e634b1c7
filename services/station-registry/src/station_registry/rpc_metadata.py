"""What an operator says about a CP: name, place, tags, connector types; and decommissioning."""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert

from csms_shared.bus.rpc import RpcError
from csms_shared.contracts.events import ChargePointUpdated
from csms_shared.contracts.resources import ChargePoint
from csms_shared.contracts.rpc import (
    DecommissionChargePoint,
    MetadataPatch,
    RegistryRpc,
    UpdateChargePointMetadata,
)

from .db import charge_points, connectors
from .router import Ctx, router
from .security_log import credentials_changed
from .store import charge_point_read


def _columns(patch: MetadataPatch) -> dict[str, str | float | list[str] | dict[str, str] | None]:
    given = patch.model_fields_set
    values: dict[str, str | float | list[str] | dict[str, str] | None] = {}
    for name in ("name", "description", "timezone"):
        if name in given:
            values[name] = getattr(patch, name)
    if "address" in given:
        values["address"] = (
            patch.address.model_dump(by_alias=True, exclude_none=True) if patch.address else None
        )
    if "coordinates" in given:
        values["latitude"] = patch.coordinates.latitude if patch.coordinates else None
        values["longitude"] = patch.coordinates.longitude if patch.coordinates else None
    if "tags" in given:
        values["tags"] = sorted(set(patch.tags or []))
    return values


async def _document(ctx: Ctx, cp_id: str) -> ChargePoint:
    """The CP as reads show it, after announcing it as it is now (`charge_point.updated`)."""
    row = (
        await ctx.session.execute(select(charge_points).where(charge_points.c.id == cp_id))
    ).one()
    await ctx.emit(
        ChargePointUpdated(
            charge_point_id=cp_id,
            tags=list(row.tags or []),
            name=row.name,
            decommissioned=row.decommissioned_at is not None,
        )
    )
    return await charge_point_read(ctx.session, row)


@router.rpc(RegistryRpc.update_charge_point_metadata, callers={"command-api"})
async def update_charge_point_metadata(params: UpdateChargePointMetadata, ctx: Ctx) -> ChargePoint:
    """An admin describes a CP: name, address, coordinates, time zone, tags, connectors."""
    cp_id, patch = params.id, params.patch
    values = _columns(patch)
    result = await ctx.session.execute(
        update(charge_points)
        .where(charge_points.c.id == cp_id)
        .values(**values, id=charge_points.c.id)
        .returning(charge_points.c.id)
    )
    if result.first() is None:
        raise RpcError("not_found", f"charge point {cp_id!r} was never seen")
    for info in patch.connectors or []:
        given = info.model_fields_set
        changes = {k: getattr(info, k) for k in ("connector_type", "max_power_kw") if k in given}
        if not changes:
            continue
        # A connector the CP has not reported yet is described ahead of its first status.
        await ctx.session.execute(
            insert(connectors)
            .values(charge_point_id=cp_id, connector_id=info.connector_id, **changes)
            .on_conflict_do_update(index_elements=["charge_point_id", "connector_id"], set_=changes)
        )
    return await _document(ctx, cp_id)


@router.rpc(RegistryRpc.decommission_charge_point, callers={"command-api"})
async def decommission_charge_point(params: DecommissionChargePoint, ctx: Ctx) -> ChargePoint:
    """Take a CP out of service: refused at the handshake, left out of lists, history kept.
    Refused while it is connected unless `force` (then its connection is closed)."""
    cp_id, force = params.id, params.force
    row = (
        await ctx.session.execute(
            select(charge_points).where(charge_points.c.id == cp_id).with_for_update()
        )
    ).first()
    if row is None:
        raise RpcError("not_found", f"charge point {cp_id!r} was never seen")
    if row.online and not force:
        raise RpcError(
            "conflict",
            f"charge point {cp_id!r} is connected; decommission it with ?force=true "
            "(its connection is closed) or once it is offline",
        )
    if row.decommissioned_at is None:
        await ctx.session.execute(
            update(charge_points)
            .where(charge_points.c.id == cp_id)
            .values(decommissioned_at=func.now(), registration_status="Rejected")
        )
        # Every gateway drops its cached admission, and the one holding it closes it.
        await credentials_changed(ctx, cp_id, row.security_profile, disconnect=True)
    return await _document(ctx, cp_id)
