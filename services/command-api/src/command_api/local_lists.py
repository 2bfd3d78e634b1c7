"""A CP's Local Authorization List synchronised from the id tags (SendLocalList), by an operator
(`POST /charge-points/{id}/local-list/sync`) or again when its id tags change (`resync`)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from fastapi import HTTPException, status
from sqlalchemy import case, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from csms_shared.ocpp.v16.messages import SendLocalListRequest

from .api.commands import send_command
from .api.deps import AppState, rpc
from .auth import Principal
from .db import local_list_syncs


def _config_int(config: list[dict[str, Any]], key: str) -> int | None:
    for entry in config:
        if entry.get("key") == key:
            try:
                return max(1, int(str(entry.get("value"))))
            except ValueError:
                return None
    return None


s = local_list_syncs.c


async def _generation(session: AsyncSession, cp_id: str) -> int:
    """How often the CP's list was marked stale so far (0: never, or never synchronised)."""
    async with session.begin():
        seen = await session.scalar(select(s.generation).where(s.charge_point_id == cp_id))
    return seen or 0


async def _remember(
    session: AsyncSession,
    cp_id: str,
    parents: list[str] | None,
    seen: int,
    delay: timedelta,
) -> None:
    """The scope the CP's list was synchronised to: up to date, until one of its tags changes.
    A tag that changed while the list was being sent (marked since `seen`) keeps it stale."""
    scope = None if parents is None else sorted({p.lower() for p in parents})
    stmt = insert(local_list_syncs).values(
        charge_point_id=cp_id, parent_id_tags=scope, synced_at=func.now(), stale=False
    )
    unchanged = s.generation == seen
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["charge_point_id"],
            set_={
                "parent_id_tags": stmt.excluded.parent_id_tags,
                "synced_at": stmt.excluded.synced_at,
                "stale": case((unchanged, False), else_=s.stale),
                # Due again as after any change, not when the lease of a resync ends.
                "due_at": case((unchanged, None), else_=func.least(s.due_at, func.now() + delay)),
            },
        )
    )
    await session.commit()


async def synchronise(
    state: AppState,
    session: AsyncSession,
    principal: Principal,
    cp_id: str,
    parent_id_tags: list[str] | None,
    update_type: Literal["Full", "Differential"] | None,
) -> dict[str, Any]:
    """Send the CP its Local Authorization List built from the id tags (all, or those under
    `parent_id_tags`), within its SendLocalListMaxLength per message and LocalAuthListMaxLength
    in all. Raises HTTPException (404, 409, 503, ...) when nothing could be sent."""
    seen = await _generation(session, cp_id)
    cp = await rpc(state, "station-registry", "get_charge_point", id=cp_id)
    config = cp.get("configuration") or []
    plan = await rpc(
        state,
        "session-service",
        "build_local_list",
        chargePointId=cp_id,
        parentIdTags=parent_id_tags,
        updateType=update_type,
    )
    most = _config_int(config, "LocalAuthListMaxLength")
    if most is not None and plan["size"] > most:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"the list would hold {plan['size']} id tags; {cp_id!r} holds at most {most} "
            "(LocalAuthListMaxLength): choose fewer with parentIdTags",
        )
    entries: list[dict[str, Any]] = plan["localAuthorizationList"]
    per_message = _config_int(config, "SendLocalListMaxLength") or max(1, len(entries))
    # A list longer than one message goes as its first part (Full or Differential) and then
    # differences adding the rest, each a version after the one before.
    chunks = [entries[i : i + per_message] for i in range(0, len(entries), per_message)] or [[]]
    version, kind_first = plan["listVersion"], plan["updateType"]
    parts: list[dict[str, Any]] = []
    for n, chunk in enumerate(chunks):
        kind = kind_first if n == 0 else "Differential"
        request = SendLocalListRequest.model_validate(
            {"listVersion": version + n, "updateType": kind, "localAuthorizationList": chunk}
        )
        sent = await send_command(
            state, session, principal, cp_id, "SendLocalList", request, None, True
        )
        answer = (sent.response or {}).get("status", "")
        parts.append(
            {
                "commandId": sent.command_id,
                "listVersion": version + n,
                "updateType": kind,
                "entries": len(chunk),
                "status": answer,
            }
        )
        if answer != "Accepted":
            break
    complete = all(part["status"] == "Accepted" for part in parts) and len(parts) == len(chunks)
    delay = timedelta(seconds=state.settings.local_list_resync_delay)
    await _remember(session, cp_id, parent_id_tags, seen, delay)
    return {
        "listVersion": parts[-1]["listVersion"],
        "updateType": kind_first,
        "size": plan["size"],
        "complete": complete,
        "parts": parts,
    }
