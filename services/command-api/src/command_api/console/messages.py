"""The charge point page's Messages section: its latest frames and connection events from the
message log, newest first, and the frames logged after, pushed as server-sent events.

The stream holds nothing another replica would need: every second it asks the message log for
the CP's records since a position (the newest the page shows, then the newest it sent, which
a reconnecting browser hands back as Last-Event-ID). Records of a CP can commit out of order,
so the log answers from a few seconds before that position: the stream skips the records it
sent, the page those it shows (their `data-position`).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.responses import Response, StreamingResponse

from ..api import message_log as log_api
from ..api.deps import rpc
from .live import KEEPALIVE_SECONDS, STREAM_SECONDS
from .stations import CpId
from .web import ViewerPage, templates

router = APIRouter(include_in_schema=False)

SHOWN = 50
MESSAGE_TYPES = {2: "CALL", 3: "CALLRESULT", 4: "CALLERROR"}
POLL_SECONDS = 1.0
# Records in one answer of the log; more is a flood, and the page reloads the section instead.
TAIL = 200
# While the message log is away, a browser comes back this often (and reloads once it answers).
UNAVAILABLE_RETRY_MS = 10_000
# What ends a line in an event stream: a rendered row's lines each become a `data:` line, and
# no text of a CP (a malformed frame's \r) can start a field of its own.
_LINE_END = re.compile(r"\r\n|\r|\n")


def _positioned(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The items, each with its position in the log (None from a log that gives none)."""
    items: list[dict[str, Any]] = result["items"]
    positions = result.get("positions") or [None] * len(items)
    return [{**item, "position": p} for item, p in zip(items, positions, strict=True)]


def _live_url(cp_id: str, items: list[dict[str, Any]], error: bool) -> str:
    """The stream of what is logged after the newest of `items` (after all, when the log is
    empty; `reload`: the section could not be read, so it reloads once the log answers)."""
    query = {"reload": "1"} if error else {"after": items[0]["position"]} if items else {}
    url = f"/charge-points/{quote(cp_id)}/messages/live"
    return f"{url}?{urlencode(query)}" if query else url


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
    items = _positioned(result)
    filtered = bool(action or message_id)
    return page.render(
        "cp_messages.html",
        cp_id=cp_id,
        result=result,
        items=items,
        live=None if filtered else _live_url(cp_id, items, "error" in result),
        action=action,
        message_id=message_id,
        types=MESSAGE_TYPES,
    )


def _event(name: str, data: str, event_id: str | None = None) -> str:
    lines = [f"id: {event_id}"] if event_id else []
    lines.append(f"event: {name}")
    lines.extend(f"data: {line}" for line in _LINE_END.split(data))
    return "\n".join(lines) + "\n\n"


def render_row(cp_id: str, record: dict[str, Any]) -> str:
    """A record's row as the section's table shows it."""
    return templates.get_template("cp_message_row.html").render(
        m=record, cp_id=cp_id, types=MESSAGE_TYPES
    )


async def _frames(
    page: ViewerPage, cp_id: str, after: str | None, reload: bool
) -> AsyncIterator[str]:
    """The text/event-stream of one browser: a `frame` per new record, `resync` when the
    section must be read again, `unavailable` (and the end) while the log does not answer."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STREAM_SECONDS
    quiet_since = loop.time()
    sent: set[str] = set()
    yield "retry: 2000\n\n"
    while True:
        try:
            tail: dict[str, Any] = await rpc(
                page.state,
                log_api.MESSAGE_LOG,
                "messages.since",
                chargePointId=cp_id,
                after=after,
                limit=TAIL,
            )
        except HTTPException as exc:
            if exc.status_code == status.HTTP_422_UNPROCESSABLE_CONTENT:
                # A position the log never gave: start over from what it has now.
                yield _event("resync", "{}")
                return
            yield f"retry: {UNAVAILABLE_RETRY_MS}\n" + _event("unavailable", "{}")
            return
        if tail["more"] or reload:
            yield _event("resync", "{}")
            return
        for record, position in zip(tail["items"], tail["positions"], strict=True):
            if position not in sent:
                yield _event("frame", render_row(cp_id, {**record, "position": position}), position)
                quiet_since = loop.time()
        # The log answers from a few seconds before `position` on, and `position` never goes
        # back: a record missing from this answer is in no later one.
        sent = set(tail["positions"])
        after = tail["position"]
        if loop.time() >= deadline or await page.request.is_disconnected():
            return
        if loop.time() - quiet_since >= KEEPALIVE_SECONDS:
            yield ": keepalive\n\n"
            quiet_since = loop.time()
        await asyncio.sleep(POLL_SECONDS)


@router.get("/charge-points/{cp_id}/messages/live")
async def messages_live(
    page: ViewerPage,
    cp_id: CpId,
    after: Annotated[str | None, Query(max_length=100)] = None,
    reload: bool = False,
) -> StreamingResponse:
    """The CP's frames as they are logged, from the position `after` (or Last-Event-ID)."""
    resume = page.request.headers.get("last-event-id") or after
    return StreamingResponse(
        _frames(page, cp_id, resume, reload),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
