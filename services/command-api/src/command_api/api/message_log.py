"""The OCPP message log and the system log, answered by the message-log service over RPC."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Literal

from fastapi import Path, Query
from fastapi.responses import StreamingResponse

from csms_shared.bus.message_log import MessageLogLevel
from csms_shared.contracts.rpc import ListLogs, ListMessages, MessageLogRpc, SetLevel
from csms_shared.ocpp.identity import CHARGE_POINT_ID_PATTERN

from ..models import LogEntry, MessageLogLevelSet, MessagePage, Page, Resource
from .deps import MAX_OFFSET, Admin, State, Viewer, api_router, call

router = api_router(404, 503, tags=["message log"])

CpId = Annotated[str, Path(alias="id", pattern=CHARGE_POINT_ID_PATTERN)]
From = Annotated[datetime | None, Query(alias="from", description="at or after (RFC 3339)")]
To = Annotated[datetime | None, Query(alias="to", description="before (RFC 3339)")]
EXPORT_PAGE = 1000


class MessageLogSetting(Resource):
    """A CP's message log level; null: the gateways' default (`GATEWAY_MESSAGE_LOG_LEVEL`)."""

    level: MessageLogLevel | None


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
) -> MessagePage:
    """What the CP sent and was sent, newest first; a CALL and its answer share `messageId`."""
    return await call(
        state,
        MessageLogRpc.messages_list,
        ListMessages(
            charge_point_id=cp_id,
            from_=start,
            to=end,
            action=action,
            direction=direction,
            message_id=message_id,
            limit=limit,
            cursor=cursor,
        ),
    )


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

    def page_after(cursor: str | None) -> ListMessages:
        return ListMessages(
            charge_point_id=cp_id, from_=start, to=end, limit=EXPORT_PAGE, cursor=cursor
        )

    # The first page before answering: an unknown service or bad input is an error, not an
    # empty 200.
    first = await call(state, MessageLogRpc.messages_list, page_after(None))

    async def lines() -> AsyncIterator[bytes]:
        page = first
        while True:
            for record in page.items:
                yield record.model_dump_json(by_alias=True, exclude_unset=True).encode() + b"\n"
            if not page.next_cursor:
                return
            page = await call(state, MessageLogRpc.messages_list, page_after(page.next_cursor))

    return StreamingResponse(
        lines(),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": f'attachment; filename="{cp_id}-messages.ndjson"'},
    )


@router.put("/charge-points/{id}/message-log", response_model=MessageLogLevelSet)
async def set_message_log_level(
    state: State, principal: Admin, cp_id: CpId, body: MessageLogSetting
) -> MessageLogLevelSet:
    """Log this CP at `level` (all, all-but-heartbeat, off) whatever the default; null undoes."""
    return await call(
        state, MessageLogRpc.levels_set, SetLevel(charge_point_id=cp_id, level=body.level)
    )


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
) -> Page[LogEntry]:
    """The system log: connections, refused handshakes, CALLERRORs, malformed frames, gaps."""
    return await call(
        state,
        MessageLogRpc.logs_list,
        ListLogs(
            charge_point_id=charge_point_id,
            level=level,
            from_=start,
            to=end,
            limit=limit,
            offset=offset,
        ),
    )
