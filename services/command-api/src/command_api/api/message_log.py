"""The OCPP message log and the system log, answered by the message-log service over RPC."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any, Literal

import orjson
from fastapi import Path, Query
from fastapi.responses import StreamingResponse

from csms_shared.bus.message_log import MessageLogLevel
from csms_shared.ocpp.identity import CHARGE_POINT_ID_PATTERN

from ..models import LogEntry, MessageLogLevelSet, MessagePage, Page, Resource
from .deps import MAX_OFFSET, Admin, State, Viewer, api_router, rpc

router = api_router(404, 503, tags=["message log"])

MESSAGE_LOG = "message-log"
CpId = Annotated[str, Path(alias="id", pattern=CHARGE_POINT_ID_PATTERN)]
From = Annotated[datetime | None, Query(alias="from", description="at or after (RFC 3339)")]
To = Annotated[datetime | None, Query(alias="to", description="before (RFC 3339)")]
EXPORT_PAGE = 1000


class MessageLogSetting(Resource):
    """A CP's message log level; null: the gateways' default (`GATEWAY_MESSAGE_LOG_LEVEL`)."""

    level: MessageLogLevel | None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@router.get("/charge-points/{id}/messages", response_model=MessagePage)
async def list_messages(
    state: State,
    principal: Viewer,
    cp_id: CpId,
    start: From = None,
    end: To = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    direction: Literal["in", "out"] | None = None,
    message_id: Annotated[str | None, Query(alias="messageId", max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=100)] = None,
) -> dict[str, Any]:
    """What the CP sent and was sent, newest first; a CALL and its answer share `messageId`."""
    result: dict[str, Any] = await rpc(
        state,
        MESSAGE_LOG,
        "messages.list",
        chargePointId=cp_id,
        **{"from": _iso(start), "to": _iso(end)},
        action=action,
        direction=direction,
        messageId=message_id,
        limit=limit,
        cursor=cursor,
    )
    return result


@router.get(
    "/charge-points/{id}/messages/export",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "One MessageRecord per line, newest first",
            "content": {
                "application/x-ndjson": {"schema": {"$ref": "#/components/schemas/MessageRecord"}}
            },
        }
    },
)
async def export_messages(
    state: State, principal: Viewer, cp_id: CpId, start: From = None, end: To = None
) -> StreamingResponse:
    """The CP's records between two times as NDJSON, one per line, newest first (a support
    ticket's attachment)."""
    params = {"chargePointId": cp_id, "from": _iso(start), "to": _iso(end)}
    # The first page before answering: an unknown service or bad input is an error, not an
    # empty 200.
    first: dict[str, Any] = await rpc(
        state, MESSAGE_LOG, "messages.list", **params, limit=EXPORT_PAGE
    )

    async def lines() -> AsyncIterator[bytes]:
        page = first
        while True:
            for record in page["items"]:
                yield orjson.dumps(record) + b"\n"
            if not page.get("nextCursor"):
                return
            page = await rpc(
                state,
                MESSAGE_LOG,
                "messages.list",
                **params,
                limit=EXPORT_PAGE,
                cursor=page["nextCursor"],
            )

    return StreamingResponse(
        lines(),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": f'attachment; filename="{cp_id}-messages.ndjson"'},
    )


@router.put("/charge-points/{id}/message-log", response_model=MessageLogLevelSet)
async def set_message_log_level(
    state: State, principal: Admin, cp_id: CpId, body: MessageLogSetting
) -> dict[str, Any]:
    """Log this CP at `level` (all, all-but-heartbeat, off) whatever the default; null undoes."""
    # A null level is left out of the call (rpc drops None): the service reads that as "none".
    result: dict[str, Any] = await rpc(
        state,
        MESSAGE_LOG,
        "levels.set",
        chargePointId=cp_id,
        level=body.level.value if body.level else None,
    )
    return result


@router.get("/logs", response_model=Page[LogEntry])
async def list_logs(
    state: State,
    principal: Viewer,
    charge_point_id: Annotated[
        str | None, Query(alias="chargePointId", pattern=CHARGE_POINT_ID_PATTERN)
    ] = None,
    level: Literal["INFO", "WARNING", "ERROR"] | None = None,
    start: From = None,
    end: To = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> dict[str, Any]:
    """The system log: connections, refused handshakes, CALLERRORs, malformed frames, gaps."""
    result: dict[str, Any] = await rpc(
        state,
        MESSAGE_LOG,
        "logs.list",
        chargePointId=charge_point_id,
        level=level,
        **{"from": _iso(start), "to": _iso(end)},
        limit=limit,
        offset=offset,
    )
    return result
