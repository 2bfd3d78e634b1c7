"""SendLocalList built from the authorization list: all id tags or those under given parents
(all of them and the roaming tokens a station may accept, when asked), in full or as the
difference from what the CP's list holds (OCPP 1.6, 5.15 and 3.5), in our terms
(`csms_shared.vocabulary.local_lists`) for command-api to spell in the CP's version."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, func, select

from csms_shared.bus.rpc import RpcError
from csms_shared.contracts.resources import LocalListVersion
from csms_shared.contracts.rpc import BuildLocalList, LocalListPlan, OfChargePointId, SessionsRpc
from csms_shared.ocpp.local_list import GROUP_TOKEN_TYPE
from csms_shared.vocabulary import AuthorizationDecision, IdToken, IdTokenType
from csms_shared.vocabulary.local_lists import ListEntry

from . import roaming_tokens
from .db import id_tags, local_list_entries, local_list_versions
from .local_list_plan import Held, desired, difference
from .router import Ctx, router


def _entry(row: Row[Any]) -> ListEntry:
    """An id tag of the authorization list as its list entry."""
    parent = row.parent_id_tag
    return ListEntry(
        token=IdToken(value=row.id_tag, type=IdTokenType(row.type)),
        decision=AuthorizationDecision(row.status),
        expiry=row.expiry_date,
        group=IdToken(value=parent, type=GROUP_TOKEN_TYPE) if parent else None,
        charging_priority=row.charging_priority,
    )


@router.rpc(SessionsRpc.build_local_list, callers={"command-api"})
async def build_local_list(params: BuildLocalList, ctx: Ctx) -> LocalListPlan:
    """The next SendLocalList for a CP: `Full`, or `Differential` against the content of the
    version it last accepted from us (the default when there is one). A 1.6 CP's list leaves
    out the tokens it cannot hold (over 20 characters, or in such a group)."""
    cp_id, wanted = params.charge_point_id, params.update_type
    parents = None if params.parent_id_tags is None else [x.lower() for x in params.parent_id_tags]
    query = select(id_tags).order_by(id_tags.c.id_tag)
    if parents is not None:
        query = query.where(func.lower(id_tags.c.parent_id_tag).in_(parents))
    listed = [_entry(row) for row in await ctx.session.execute(query)]
    roaming = await roaming_tokens.accepted_entries(ctx.session) if params.roaming_tokens else []
    plan = desired(listed, roaming, params.ocpp_version)
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
    entries: list[ListEntry]
    if update_type == "Full":
        entries = list(plan.entries.values())
    else:
        e = local_list_entries.c
        holds: dict[str, tuple[str, Held]] = {
            row.id_tag.lower(): (
                row.id_tag,
                (row.status, row.expiry_date, row.parent_id_tag, row.id_token_type),
            )
            for row in await ctx.session.execute(
                select(local_list_entries).where(e.charge_point_id == cp_id)
            )
        }
        entries = difference(plan.entries, holds, params.ocpp_version)
    return LocalListPlan(
        charge_point_id=cp_id,
        list_version=(version.list_version if version is not None else 0) + 1,
        update_type=update_type,
        entries=entries,
        size=len(plan.entries),
        left_out=plan.left_out,
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
