"""The version of each CP's Local Authorization List, from its answers to our commands."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from csms_shared.bus.rpc import RpcError
from csms_shared.contracts.events import CommandCompleted
from csms_shared.contracts.rpc import OfChargePointId
from csms_shared.ocpp._base import format_datetime

from .db import local_list_entries, local_list_versions
from .router import Ctx, router


async def record(session: AsyncSession, event: CommandCompleted) -> None:
    """A SendLocalList the CP accepted, or a GetLocalListVersion it answered."""
    action, at, cp_id = event.action, event.at, event.charge_point_id
    if cp_id is None:
        return
    request, response = event.request or {}, event.response or {}
    if action == "SendLocalList" and response.get("status") == "Accepted":
        version = request.get("listVersion")
    elif action == "GetLocalListVersion":
        version = response.get("listVersion")
    else:
        return
    if type(version) is not int:
        return
    values = {"list_version": version, "source": action, "updated_at": at}
    newer = (
        await session.execute(
            insert(local_list_versions)
            .values(charge_point_id=cp_id, **values)
            .on_conflict_do_update(
                index_elements=[local_list_versions.c.charge_point_id],
                set_=values,
                # A late redelivery of an older answer does not roll the version back.
                where=local_list_versions.c.updated_at <= at,
            )
            .returning(local_list_versions.c.charge_point_id)
        )
    ).first()
    if newer is not None and action == "SendLocalList":
        await apply_entries(session, cp_id, request)


async def apply_entries(session: AsyncSession, cp_id: str, request: dict[str, Any]) -> None:
    """What the CP's list holds after it accepted `request` (a Full list or a difference)."""
    e = local_list_entries.c
    if request.get("updateType") == "Full":
        await session.execute(delete(local_list_entries).where(e.charge_point_id == cp_id))
    for item in request.get("localAuthorizationList") or []:
        id_tag = item.get("idTag") if isinstance(item, dict) else None
        if not isinstance(id_tag, str):
            continue
        info = item.get("idTagInfo")
        if not isinstance(info, dict):
            # A differential entry without idTagInfo removes the idTag (OCPP 1.6, 5.15).
            await session.execute(
                delete(local_list_entries).where(e.charge_point_id == cp_id, e.id_tag == id_tag)
            )
            continue
        expiry = info.get("expiryDate")
        row = {
            "status": str(info.get("status")),
            "expiry_date": datetime.fromisoformat(expiry) if isinstance(expiry, str) else None,
            "parent_id_tag": info.get("parentIdTag"),
        }
        await session.execute(
            insert(local_list_entries)
            .values(charge_point_id=cp_id, id_tag=id_tag, **row)
            .on_conflict_do_update(index_elements=[e.charge_point_id, e.id_tag], set_=row)
        )


@router.rpc("get_local_list_version", callers={"command-api"})
async def get_local_list_version(params: OfChargePointId, ctx: Ctx) -> dict[str, Any]:
    """The CP's Local Authorization List version as last confirmed by the CP."""
    cp_id = params.charge_point_id
    row = (
        await ctx.session.execute(
            select(local_list_versions).where(local_list_versions.c.charge_point_id == cp_id)
        )
    ).first()
    if row is None:
        raise RpcError("not_found", f"no local list version known for {cp_id!r}")
    return {
        "chargePointId": cp_id,
        "listVersion": row.list_version,
        "source": row.source,
        "updatedAt": format_datetime(row.updated_at),
    }
