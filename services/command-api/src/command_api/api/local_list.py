"""`POST /charge-points/{id}/local-list/sync`: the CP's Local Authorization List from the DB."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
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
    """Which id tags (all, or those under `parentIdTags`; all and the roaming tokens a station
    may accept, with `roamingTokens`) and how (default: Differential when the content of the
    CP's list is known, else Full)."""

    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)

    parent_id_tags: list[IdToken] | None = Field(default=None, min_length=1, max_length=100)
    update_type: Literal["Full", "Differential"] | None = None
    roaming_tokens: bool = Field(
        default=False,
        description="Add the tokens eMSPs pushed (OCPI) that are valid and whitelisted (not"
        " NEVER) and that no id tag names, as Accepted; re-synchronisations keep them."
        " Not with parentIdTags",
    )

    @model_validator(mode="after")
    def _roaming_tokens_with_every_tag(self) -> LocalListSync:
        if self.roaming_tokens and self.parent_id_tags is not None:
            raise ValueError(
                "roamingTokens: only a list of every id tag holds the roaming tokens;"
                " leave out parentIdTags"
            )
        return self


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
    """Send the CP its Local Authorization List built from the id tags (and the roaming
    tokens, if asked), within its SendLocalListMaxLength per message and
    LocalAuthListMaxLength in all."""
    body = body or LocalListSync()
    return await synchronise(
        state,
        session,
        principal,
        cp_id,
        body.parent_id_tags,
        body.update_type,
        roaming_tokens=body.roaming_tokens,
    )
