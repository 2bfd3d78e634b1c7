"""The charge point page's Messages section: its latest frames and connection events from the
message log, newest first, refreshed in place every few seconds."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import Response

from ..api import message_log as log_api
from .stations import CpId
from .web import ViewerPage

router = APIRouter(include_in_schema=False)

SHOWN = 50
MESSAGE_TYPES = {2: "CALL", 3: "CALLRESULT", 4: "CALLERROR"}


@router.get("/charge-points/{cp_id}/messages")
async def messages(
    page: ViewerPage,
    cp_id: CpId,
    action: Annotated[str, Query(max_length=64)] = "",
    message_id: Annotated[str, Query(alias="messageId", max_length=64)] = "",
) -> Response:
    """The last frames of a CP (or those of one action, or one CALL and its answer)."""
    try:
        result: dict[str, Any] = await log_api.list_messages(
            page.state,
            page.principal,
            cp_id,
            start=None,
            end=None,
            action=action or None,
            direction=None,
            message_id=message_id or None,
            limit=SHOWN,
            cursor=None,
        )
    except HTTPException as exc:
        result = {"items": [], "error": str(exc.detail)}
    return page.render(
        "cp_messages.html",
        cp_id=cp_id,
        result=result,
        action=action,
        message_id=message_id,
        types=MESSAGE_TYPES,
    )
