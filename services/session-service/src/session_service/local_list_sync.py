"""SendLocalList built from the authorization list: all id tags or those under given parents,
in full or as the difference from what the CP's list holds (OCPP 1.6, 5.15 and 3.5)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, func, select

from csms_shared.bus.rpc import RpcError
from csms_shared.contracts.rpc import BuildLocalList
from csms_shared.ocpp._base import format_datetime

from .db import id_tags, local_list_entries, local_list_versions
from .router import Ctx, router

Entry = tuple[str, str | None, str | None]  # status, expiry (RFC 3339), parent


def _info(entry: Entry) -> dict[str, Any]:
    status, expiry, parent = entry
    info: dict[str, Any] = {"status": status}
    if expiry is not None:
        info["expiryDate"] = expiry
    if parent is not None:
        info["parentIdTag"] = parent
    return info


def _entry(row: Row[Any]) -> Entry:
    expiry = format_datetime(row.expiry_date) if row.expiry_date is not None else None
    return (row.status, expiry, row.parent_id_tag)


@router.rpc("build_local_list", callers={"command-api"})
async def build_local_list(params: BuildLocalList, ctx: Ctx) -> dict[str, Any]:
    """The next SendLocalList for a CP: `Full`, or `Differential` against the content of the
    version it last accepted from us (the default when there is one)."""
    cp_id, wanted = params.charge_point_id, params.update_type
    parents = None if params.parent_id_tags is None else [x.lower() for x in params.parent_id_tags]
    query = select(id_tags).order_by(id_tags.c.id_tag)
    if parents is not None:
        query = query.where(func.lower(id_tags.c.parent_id_tag).in_(parents))
    desired = {row.id_tag: _entry(row) for row in await ctx.session.execute(query)}
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
    entries: list[dict[str, Any]]
    if update_type == "Full":
        entries = [{"idTag": tag, "idTagInfo": _info(e)} for tag, e in desired.items()]
    else:
        e = local_list_entries.c
        held = {
            row.id_tag: _entry(row)
            for row in await ctx.session.execute(
                select(local_list_entries).where(e.charge_point_id == cp_id)
            )
        }
        entries = [
            {"idTag": tag, "idTagInfo": _info(entry)}
            for tag, entry in desired.items()
            if held.get(tag) != entry
        ] + [{"idTag": tag} for tag in sorted(held) if tag not in desired]
    return {
        "chargePointId": cp_id,
        "listVersion": (version.list_version if version is not None else 0) + 1,
        "updateType": update_type,
        "localAuthorizationList": entries,
        "size": len(desired),
    }
