"""`POST /charge-points/{id}/local-list/sync`: the CP's Local Authorization List from the DB."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import HTTPException, Path, status
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pydantic.alias_generators import to_camel

from csms_shared.ocpp.identity import CHARGE_POINT_ID_PATTERN
from csms_shared.ocpp.v16.messages import SendLocalListRequest

from .. import problems
from ..models import Resource
from .commands import send_command
from .deps import Operator, Session, State, api_router, rpc

router = api_router(404, 409, 502, 503, 504, tags=["charge points"])

CpId = Annotated[str, Path(alias="id", pattern=CHARGE_POINT_ID_PATTERN)]
IdToken = Annotated[str, StringConstraints(min_length=1, max_length=20)]


class LocalListSync(BaseModel):
    """Which id tags (all, or those under `parentIdTags`) and how (default: Differential when
    the content of the CP's list is known, else Full)."""

    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)

    parent_id_tags: list[IdToken] | None = Field(default=None, min_length=1, max_length=100)
    update_type: Literal["Full", "Differential"] | None = None


class SentPart(Resource):
    """One SendLocalList of the synchronisation and the CP's answer."""

    command_id: str
    list_version: int
    update_type: str
    entries: int
    status: str = Field(description="The CP's UpdateStatus: Accepted, Failed, VersionMismatch, ...")


class LocalListSyncResult(Resource):
    """What was sent; `complete` when the CP accepted every part."""

    list_version: int = Field(description="The version the CP holds now, if complete")
    update_type: str
    size: int = Field(description="id tags in the CP's list once complete")
    complete: bool
    parts: list[SentPart]


def _config_int(config: list[dict[str, Any]], key: str) -> int | None:
    for entry in config:
        if entry.get("key") == key:
            try:
                return max(1, int(str(entry.get("value"))))
            except ValueError:
                return None
    return None


@router.post(
    "/charge-points/{id}/local-list/sync",
    response_model=LocalListSyncResult,
    responses=problems.responses(422),
)
async def sync_local_list(
    state: State,
    session: Session,
    principal: Operator,
    cp_id: CpId,
    body: LocalListSync | None = None,
) -> dict[str, Any]:
    """Send the CP its Local Authorization List built from the id tags, within its
    SendLocalListMaxLength per message and LocalAuthListMaxLength in all."""
    body = body or LocalListSync()
    cp = await rpc(state, "station-registry", "get_charge_point", id=cp_id)
    config = cp.get("configuration") or []
    plan = await rpc(
        state,
        "session-service",
        "build_local_list",
        chargePointId=cp_id,
        parentIdTags=body.parent_id_tags,
        updateType=body.update_type,
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
    version, update_type = plan["listVersion"], plan["updateType"]
    parts: list[dict[str, Any]] = []
    for n, chunk in enumerate(chunks):
        kind = update_type if n == 0 else "Differential"
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
    return {
        "listVersion": parts[-1]["listVersion"],
        "updateType": update_type,
        "size": plan["size"],
        "complete": complete,
        "parts": parts,
    }
