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
from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.responses import Response, StreamingResponse

from csms_shared.contracts.resources import MessageRecord
from csms_shared.contracts.rpc import ListMessages, MessageLogRpc, TailMessages

from ..api.deps import call
from .live import KEEPALIVE_SECONDS, STREAM_SECONDS
from .stations import CpId
from .streams import CHECK_SECONDS, ENDED, Lease, too_many
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


def _live_url(cp_id: str, positions: list[str], error: bool) -> str:
    """The stream of what is logged after the newest of the records shown (after all, when the
    log is empty; `reload`: the section could not be read, so it reloads once the log
    answers)."""
    query = {"reload": "1"} if error else {"after": positions[0]} if positions else {}
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
    listing = ListMessages(
        charge_point_id=cp_id, action=action or None, message_id=message_id or None, limit=SHOWN
    )
    error: str | None = None
    try:
        result = await call(page.state, MessageLogRpc.messages_list, listing)
        items = list(zip(result.items, result.positions, strict=True))
    except HTTPException as exc:
        error, items = str(exc.detail), []
    filtered = bool(action or message_id)
    return page.render(
        "cp_messages.html",
        cp_id=cp_id,
        error=error,
        items=items,
        live=None
        if filtered
        else _live_url(cp_id, [position for _, position in items], error is not None),
        action=action,
        message_id=message_id,
        types=MESSAGE_TYPES,
    )


def _event(name: str, data: str, event_id: str | None = None) -> str:
    lines = [f"id: {event_id}"] if event_id else []
    lines.append(f"event: {name}")
    lines.extend(f"data: {line}" for line in _LINE_END.split(data))
    return "\n".join(lines) + "\n\n"


def render_row(cp_id: str, record: MessageRecord, position: str) -> str:
    """A record's row as the section's table shows it."""
    return templates.get_template("cp_message_row.html").render(
        m=record, position=position, cp_id=cp_id, types=MESSAGE_TYPES
    )


async def _frames(
    page: ViewerPage, cp_id: str, after: str | None, reload: bool, lease: Lease
) -> AsyncIterator[str]:
    """The text/event-stream of one browser: a `frame` per new record, `resync` when the
    section must be read again, `unavailable` (and the end) while the log does not answer,
    `ended` (and the end) once the session has."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STREAM_SECONDS
    quiet_since = loop.time()
    check_at = loop.time() + CHECK_SECONDS
    sent: set[str] = set()
    yield "retry: 2000\n\n"
    while True:
        if loop.time() >= check_at:
            if not await lease.renew():
                yield ENDED
                return
            check_at = loop.time() + CHECK_SECONDS
        try:
            tail = await call(
                page.state,
                MessageLogRpc.messages_since,
                TailMessages(charge_point_id=cp_id, after=after, limit=TAIL),
            )
        except HTTPException as exc:
            if exc.status_code == status.HTTP_422_UNPROCESSABLE_CONTENT:
                # A position the log never gave: start over from what it has now.
                yield _event("resync", "{}")
                return
            yield f"retry: {UNAVAILABLE_RETRY_MS}\n" + _event("unavailable", "{}")
            return
        if tail.more or reload:
            yield _event("resync", "{}")
            return
        for record, position in zip(tail.items, tail.positions, strict=True):
            if position not in sent:
                yield _event("frame", render_row(cp_id, record, position), position)
                quiet_since = loop.time()
        # The log answers from a few seconds before `position` on, and `position` never goes
        # back: a record missing from this answer is in no later one.
        sent = set(tail.positions)
        after = tail.position
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
) -> Response:
    """The CP's frames as they are logged, from the position `after` (or Last-Event-ID)."""
    resume = page.request.headers.get("last-event-id") or after
    lease = Lease(page.state, page.session_id, page.user_id)
    if not await lease.take():
        return too_many(page.state)
    return StreamingResponse(
        lease.holding(_frames(page, cp_id, resume, reload, lease)),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
