"""The version of each CP's Local Authorization List, from its answers to our commands."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from csms_shared.bus.rpc import RpcError
from csms_shared.ocpp._base import format_datetime

from . import params as p
from .db import local_list_versions
from .router import Ctx, router


async def record(session: AsyncSession, event: dict[str, Any], at: datetime) -> None:
    """A SendLocalList the CP accepted, or a GetLocalListVersion it answered."""
    action = event.get("action")
    request, response = event.get("request") or {}, event.get("response") or {}
    if action == "SendLocalList" and response.get("status") == "Accepted":
        version = request.get("listVersion")
    elif action == "GetLocalListVersion":
        version = response.get("listVersion")
    else:
        return
    if type(version) is not int:
        return
    values = {"list_version": version, "source": action, "updated_at": at}
    await session.execute(
        insert(local_list_versions)
        .values(charge_point_id=event["chargePointId"], **values)
        .on_conflict_do_update(
            index_elements=[local_list_versions.c.charge_point_id],
            set_=values,
            # A late redelivery of an older answer does not roll the version back.
            where=local_list_versions.c.updated_at <= at,
        )
    )


@router.rpc("get_local_list_version", callers={"command-api"})
async def get_local_list_version(params: dict[str, Any], ctx: Ctx) -> dict[str, Any]:
    """The CP's Local Authorization List version as last confirmed by the CP."""
    cp_id = p.required_string(params, "chargePointId", max_length=48)
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
