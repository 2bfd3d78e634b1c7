"""SendLocalList built from the authorization list: all id tags or those under given parents,
in full or as the difference from what the CP's list holds (OCPP 1.6, 5.15 and 3.5)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, func, select

from csms_shared.bus.rpc import RpcError
from csms_shared.contracts.resources import LocalListVersion
from csms_shared.contracts.rpc import BuildLocalList, LocalListPlan, OfChargePointId, SessionsRpc
from csms_shared.ocpp.local_list import DEFAULT_TOKEN_TYPE
from csms_shared.ocpp.v16.datatypes import AuthorizationData, IdTagInfo
from csms_shared.ocpp.v16.enums import AuthorizationStatus

from .db import id_tags, local_list_entries, local_list_versions
from .router import Ctx, router

Entry = tuple[str, datetime | None, str | None]  # status, expiry, parent


def _info(entry: Entry) -> IdTagInfo:
    status, expiry, parent = entry
    # Only what has a value is set: an optional field of OCPP is left out, never null.
    info = IdTagInfo(status=AuthorizationStatus(status))
    if expiry is not None:
        info.expiry_date = expiry
    if parent is not None:
        info.parent_id_tag = parent
    return info


def _entry(row: Row[Any]) -> Entry:
    return (row.status, row.expiry_date, row.parent_id_tag)


@router.rpc(SessionsRpc.build_local_list, callers={"command-api"})
async def build_local_list(params: BuildLocalList, ctx: Ctx) -> LocalListPlan:
    """The next SendLocalList for a CP: `Full`, or `Differential` against the content of the
    version it last accepted from us (the default when there is one)."""
    cp_id, wanted = params.charge_point_id, params.update_type
    parents = None if params.parent_id_tags is None else [x.lower() for x in params.parent_id_tags]
    query = select(id_tags).order_by(id_tags.c.id_tag)
    if parents is not None:
        query = query.where(func.lower(id_tags.c.parent_id_tag).in_(parents))
    rows = list(await ctx.session.execute(query))
    desired = {row.id_tag: _entry(row) for row in rows}
    types = {row.id_tag: row.type for row in rows if row.type != DEFAULT_TOKEN_TYPE}
    priorities = {row.id_tag: row.charging_priority for row in rows if row.charging_priority}
    version = (
        await ctx.session.execute(
            select(local_list_versions).where(local_list_versions.c.charge_point_id == cp_id)
        )
    ).first()
    # A difference needs the list's content: known only for versions our SendLocalList made.
    known = version is not None and version.source == "SendLocalList"
    if wanted == "Differential" and not known:
        raise RpcError(
            "conflict",
            f"no list version of {cp_id!r} whose content is known; synchronise in Full first",
        )
    update_type = wanted or ("Differential" if known else "Full")
    entries: list[AuthorizationData]
    if update_type == "Full":
        entries = [
            AuthorizationData(id_tag=tag, id_tag_info=_info(e)) for tag, e in desired.items()
        ]
    else:
        e = local_list_entries.c
        held = {
            row.id_tag: _entry(row)
            for row in await ctx.session.execute(
                select(local_list_entries).where(e.charge_point_id == cp_id)
            )
        }
        entries = [
            AuthorizationData(id_tag=tag, id_tag_info=_info(entry))
            for tag, entry in desired.items()
            if held.get(tag) != entry
        ] + [AuthorizationData(id_tag=tag) for tag in sorted(held) if tag not in desired]
    return LocalListPlan(
        charge_point_id=cp_id,
        list_version=(version.list_version if version is not None else 0) + 1,
        update_type=update_type,
        local_authorization_list=entries,
        size=len(desired),
        id_token_types={
            item.id_tag: types[item.id_tag] for item in entries if item.id_tag in types
        },
        charging_priorities={
            item.id_tag: priorities[item.id_tag]
            for item in entries
            if item.id_tag in priorities and item.id_tag_info is not None
        },
    )


@router.rpc(SessionsRpc.get_local_list_version, callers={"command-api"})
async def get_local_list_version(params: OfChargePointId, ctx: Ctx) -> LocalListVersion:
    """The CP's Local Authorization List version as last confirmed by the CP."""
    cp_id = params.charge_point_id
    row = (
        await ctx.session.execute(
            select(local_list_versions).where(local_list_versions.c.charge_point_id == cp_id)
        )
    ).first()
    if row is None:
        raise RpcError("not_found", f"no local list version known for {cp_id!r}")
    return LocalListVersion(
        charge_point_id=cp_id,
        list_version=row.list_version,
        source=row.source,
        updated_at=row.updated_at,
    )
