"""RPC methods: a CP's records (cursor pages, and a tail from a position on), the system log,
the per-CP levels."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, tuple_
from sqlalchemy.dialects.postgresql import insert

from csms_shared.bus.access import COMMAND_API, GATEWAY
from csms_shared.bus.message_log import MessageLogLevel, RecordKind
from csms_shared.bus.rpc import RpcError
from csms_shared.contracts.events import MessageLogLevelChanged
from csms_shared.contracts.resources import LogEntry, MessageLogLevelSet, MessageRecord, Page
from csms_shared.contracts.rpc import (
    ListLogs,
    ListMessages,
    MessageListing,
    MessageLogLevels,
    MessageLogRpc,
    MessageTail,
    NoParams,
    SetLevel,
    TailMessages,
)
from csms_shared.ocpp._base import format_datetime

from .db import levels, records
from .router import Ctx, router

_COLUMNS = (
    records.c.id,
    records.c.at,
    records.c.charge_point_id,
    records.c.kind,
    records.c.direction,
    records.c.message_type,
    records.c.message_id,
    records.c.action,
    records.c.payload,
    records.c.raw,
    records.c.size,
    records.c.gateway,
    records.c.connection_id,
    records.c.level,
)
# Records of one CP may commit out of `at` order (two writers, a takeover between gateways,
# bundles 0.2-1 s behind their frames): a tail reads again this far behind its position.
LATE = timedelta(seconds=5)
_BEGINNING = datetime.fromtimestamp(0, UTC)


def encode_cursor(at: datetime, record_id: int) -> str:
    """An opaque cursor: the position after which the next (older) page starts."""
    micros = int(at.timestamp() * 1_000_000)
    return base64.urlsafe_b64encode(f"{micros}.{record_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    """(at, id) of a cursor; RpcError invalid for anything `encode_cursor` did not make."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        micros, record_id = text.split(".")
        return datetime.fromtimestamp(int(micros) / 1_000_000, UTC), int(record_id)
    except (ValueError, binascii.Error, UnicodeDecodeError, OverflowError, OSError):
        raise RpcError("invalid", "cursor: not a cursor of this API") from None


def _limit(limit: int, ctx: Ctx) -> int:
    return min(limit, ctx.settings.max_page)


def _at(row: Any) -> str:
    return format_datetime(row.at.replace(microsecond=row.at.microsecond // 1000 * 1000))


def item(row: Any) -> MessageRecord:
    """A record as the API shows it (`raw` only for a malformed frame)."""
    record = MessageRecord(
        at=_at(row),
        kind=row.kind,
        direction=row.direction,
        message_type_id=row.message_type,
        message_id=row.message_id,
        action=row.action,
        payload=row.payload,
        size=row.size,
        gateway=row.gateway,
        connection_id=row.connection_id,
    )
    if row.raw is not None:
        record.raw = row.raw
    return record


@router.rpc(MessageLogRpc.messages_list, callers={COMMAND_API})
async def list_messages(params: ListMessages, ctx: Ctx) -> MessageListing:
    """One CP's records, newest first, a page after `cursor`."""
    limit = _limit(params.limit, ctx)
    query = select(*_COLUMNS).where(records.c.charge_point_id == params.charge_point_id)
    query = _filtered(query, params)
    if params.cursor is not None:
        at, record_id = decode_cursor(params.cursor)
        # A row comparison the (charge_point_id, at DESC, id DESC) index answers: no OFFSET.
        query = query.where(tuple_(records.c.at, records.c.id) < tuple_(at, record_id))
    query = query.order_by(records.c.at.desc(), records.c.id.desc()).limit(limit + 1)
    rows = (await ctx.session.execute(query)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    return MessageListing(
        items=[item(row) for row in rows],
        # Beside the items, not in them: the REST record and its export stay as documented.
        positions=[encode_cursor(row.at, row.id) for row in rows],
        next_cursor=encode_cursor(rows[-1].at, rows[-1].id) if more else None,
        limit=limit,
    )


@router.rpc(MessageLogRpc.messages_since, callers={COMMAND_API})
async def messages_since(params: TailMessages, ctx: Ctx) -> MessageTail:
    """One CP's records at or after `LATE` before the position `after`, oldest first (the
    caller skips those it has); no `after`: no records, the position to follow from."""
    of_cp = records.c.charge_point_id == params.charge_point_id
    if params.after is None:
        last = (
            await ctx.session.execute(
                select(records.c.at, records.c.id)
                .where(of_cp)
                .order_by(records.c.at.desc(), records.c.id.desc())
                .limit(1)
            )
        ).first()
        # Nothing logged yet: from the beginning, so no clock (the gateways' against this
        # one's) decides which first records a follower sees.
        start = (last.at, last.id) if last is not None else (_BEGINNING, 0)
        return MessageTail(items=[], positions=[], position=encode_cursor(*start), more=False)
    try:
        at, record_id = decode_cursor(params.after)
        since = at - LATE
    except (RpcError, OverflowError):
        raise RpcError("invalid", "after: not a position of this API") from None
    limit = _limit(params.limit, ctx)
    query = select(*_COLUMNS).where(of_cp, records.c.at >= since)
    query = query.order_by(records.c.at, records.c.id).limit(limit + 1)
    rows = (await ctx.session.execute(query)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    # Never behind `after`: the late rows read again do not move the position back.
    newest = max([(at, record_id), *((row.at, row.id) for row in rows)])
    return MessageTail(
        items=[item(row) for row in rows],
        positions=[encode_cursor(row.at, row.id) for row in rows],
        position=encode_cursor(*newest),
        more=more,
    )


def _filtered(query: Any, params: ListMessages | ListLogs) -> Any:
    if params.from_ is not None:
        query = query.where(records.c.at >= params.from_)
    if params.to is not None:
        query = query.where(records.c.at < params.to)
    for value, column in (
        (params.action, records.c.action),
        (params.direction, records.c.direction),
    ):
        if value is not None:
            query = query.where(column == value)
    if params.message_id is not None:
        of_message = records.c.message_id == params.message_id
        cp_id = getattr(params, "charge_point_id", None)
        if cp_id is None:
            query = query.where(of_message)
        else:
            # The CP's index carries message_id: the keys come from it alone (an index-only
            # scan), and only the matching rows are read from the table.
            keys = select(records.c.at, records.c.id).where(
                records.c.charge_point_id == cp_id, of_message
            )
            query = query.where(tuple_(records.c.at, records.c.id).in_(keys))
    return query


_MESSAGES = {
    RecordKind.CONNECTED: "connected",
    RecordKind.CLOSED: "connection closed",
    RecordKind.REFUSED: "handshake refused",
    RecordKind.TAKEOVER: "connection taken over",
    RecordKind.GAP: "message log records dropped",
    RecordKind.MALFORMED: "malformed frame",
}


def log_entry(row: Any) -> LogEntry:
    """A system log entry: an event, a malformed frame, a CALLERROR."""
    if row.kind == RecordKind.FRAME:
        code = row.payload[0] if isinstance(row.payload, list) and row.payload else "?"
        sent = "sent" if row.direction == "out" else "received"
        message = f"CALLERROR {code} {sent} ({row.action or 'unknown action'})"
    elif row.kind in (RecordKind.SECURITY, RecordKind.WARNING) and isinstance(row.payload, dict):
        message = str(row.payload.get("summary") or row.kind)
    else:
        message = _MESSAGES.get(row.kind, row.kind)
    return LogEntry(
        at=_at(row),
        level=row.level,
        charge_point_id=row.charge_point_id,
        message=message,
        details=item(row),
    )


@router.rpc(MessageLogRpc.logs_list, callers={COMMAND_API})
async def list_logs(params: ListLogs, ctx: Ctx) -> Page[LogEntry]:
    """The system log: connection events, refused handshakes, CALLERRORs, dropped records,
    security events, the services' warnings."""
    limit, offset = _limit(params.limit, ctx), params.offset
    query = select(*_COLUMNS).where(records.c.level.is_not(None))
    if params.charge_point_id is not None:
        query = query.where(records.c.charge_point_id == params.charge_point_id)
    if params.level is not None:
        query = query.where(records.c.level == params.level)
    query = _filtered(query, params)
    total = await ctx.session.scalar(select(func.count()).select_from(query.subquery()))
    rows = await ctx.session.execute(
        query.order_by(records.c.at.desc(), records.c.id.desc()).limit(limit).offset(offset)
    )
    return Page[LogEntry](
        items=[log_entry(row) for row in rows], total=total or 0, limit=limit, offset=offset
    )


@router.rpc(MessageLogRpc.levels_list, callers={GATEWAY})
async def list_levels(params: NoParams, ctx: Ctx) -> MessageLogLevels:
    """Every CP's override, for a gateway starting (or catching up)."""
    rows = await ctx.session.execute(select(levels.c.charge_point_id, levels.c.level))
    return MessageLogLevels(
        levels={str(cp_id): MessageLogLevel(level) for cp_id, level in rows.all()}
    )


@router.rpc(MessageLogRpc.levels_set, callers={COMMAND_API})
async def set_level(params: SetLevel, ctx: Ctx) -> MessageLogLevelSet:
    """An admin's level for one CP (null: back to the default); the gateways hear of it."""
    cp_id = params.charge_point_id
    level = params.level.value if params.level is not None else None
    if level is None:
        await ctx.session.execute(delete(levels).where(levels.c.charge_point_id == cp_id))
    else:
        statement = insert(levels).values(charge_point_id=cp_id, level=level)
        await ctx.session.execute(
            statement.on_conflict_do_update(
                index_elements=[levels.c.charge_point_id],
                set_={"level": level, "updated_at": func.now()},
            )
        )
    await ctx.emit(MessageLogLevelChanged(charge_point_id=cp_id, level=level))
    return MessageLogLevelSet(charge_point_id=cp_id, level=params.level)
