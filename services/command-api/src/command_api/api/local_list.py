"""`POST /charge-points/{id}/local-list/sync`: the CP's Local Authorization List from the DB."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pydantic.alias_generators import to_camel

from csms_shared.ocpp.identity import CHARGE_POINT_ID_PATTERN
from csms_shared.vocabulary.tokens import MAX_TOKEN_LENGTH

from .. import problems
from ..local_lists import LocalListSyncResult, synchronise
from .deps import Operator, Session, State, api_router

router = api_router(404, 409, 502, 503, 504, tags=["charge points"])

CpId = Annotated[str, Path(alias="id", pattern=CHARGE_POINT_ID_PATTERN)]
IdToken = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TOKEN_LENGTH)]


class LocalListSync(BaseModel):
    """Which id tags (all, or those under `parentIdTags`) and how (default: Differential when
    the content of the CP's list is known, else Full)."""

    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)

    parent_id_tags: list[IdToken] | None = Field(default=None, min_length=1, max_length=100)
    update_type: Literal["Full", "Differential"] | None = None


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
) -> LocalListSyncResult:
    """Send the CP its Local Authorization List built from the id tags, within its
    SendLocalListMaxLength per message and LocalAuthListMaxLength in all."""
    body = body or LocalListSync()
    return await synchronise(
        state, session, principal, cp_id, body.parent_id_tags, body.update_type
    )
