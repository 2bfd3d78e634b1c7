"""StatusNotification: connector status and its history (BootNotification: booting.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, String, bindparam, column, func, literal, or_, select
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.orm import aliased

from csms_shared.contracts.events import ConnectorStatus
from csms_shared.ocpp._base import utcnow
from csms_shared.ocpp.v16.actions import Action
from csms_shared.ocpp.v16.messages import (
    StatusNotificationRequest,
    StatusNotificationResponse,
)

from .db import TIMESTAMP, charge_points, connectors, status_history
from .queries import seen
from .router import CallCtx, Ctx, router


def _received(ctx: CallCtx) -> datetime:
    return ctx.received_at or utcnow()


@router.on(Action.STATUS_NOTIFICATION)
async def status_notification(
    request: StatusNotificationRequest, ctx: CallCtx
) -> StatusNotificationResponse:
    """Connector status (connector 0 is the whole CP), kept with its history."""
    received = _received(ctx)
    # Queued notifications arrive late: order them by the CP's own timestamp when it sent one.
    at = request.timestamp or received
    fields = {
        "status": request.status.value,
        "error_code": request.error_code.value,
        "info": request.info,
        "vendor_id": request.vendor_id,
        "vendor_error_code": request.vendor_error_code,
    }
    await seen(ctx.session, ctx.charge_point_id, received)
    cp = literal(ctx.charge_point_id, String)
    connector = literal(request.connector_id, BigInteger)
    stmt = insert(connectors).values(
        charge_point_id=ctx.charge_point_id,
        connector_id=request.connector_id,
        status_at=at,
        availability=inherited("availability", cp, connector),
        availability_at=inherited("availability_at", cp, connector),
        **fields,
    )
    await ctx.session.execute(
        stmt.on_conflict_do_update(
            index_elements=[connectors.c.charge_point_id, connectors.c.connector_id],
            set_={**fields, "status_at": at},
            where=or_(connectors.c.status_at.is_(None), connectors.c.status_at <= at),
        )
    )
    inserted = await ctx.session.execute(
        insert(status_history)
        .values(
            charge_point_id=ctx.charge_point_id,
            connector_id=request.connector_id,
            timestamp=at,
            received_at=received,
            **fields,
        )
        .on_conflict_do_nothing(constraint="uq_status")
        .returning(status_history.c.id)
    )
    if inserted.first() is not None:
        await ctx.emit(
            ConnectorStatus(at=at, charge_point_id=ctx.charge_point_id, **request.to_payload())
        )
    return StatusNotificationResponse()


# StatusNotifications gathered by the runtime (a connect storm: every CP reports its connectors),
# written with four statements a batch whatever its size: last seen, connectors, history, events
# (against four a message one by one; see bench/RESULTS.md, "What changed", 5). Same rows, events
# and answers as `status_notification` one message after the other, in batch order
# (tests/integration/test_status_batch.py proves it).
_FIELDS = ("status", "error_code", "info", "vendor_id", "vendor_error_code")


def inherited(name: str, cp_id: Any, connector_id: Any) -> Any:
    """`availability` or `availability_at` of a connector seen for the first time: the whole
    CP's (connector 0), as an accepted ChangeAvailability set it before the connector ever
    reported; else Operative and never. An existing connector keeps its own (the upserts do not
    set these on conflict)."""
    whole = aliased(connectors)
    found = (
        select(whole.c[name])
        .where(whole.c.charge_point_id == cp_id, whole.c.connector_id == 0, connector_id != 0)
        .scalar_subquery()
    )
    return func.coalesce(found, "Operative") if name == "availability" else found


def _unnest(name: str, **columns: Any) -> Any:
    """Rows from one array parameter per column (`columns`: name -> element type)."""
    arrays = [bindparam(key, type_=ARRAY(type_)) for key, type_ in columns.items()]
    derived = func.unnest(*arrays).table_valued(*(column(k, t) for k, t in columns.items()))
    return derived.render_derived(name=name)


# `queries.seen` for many CPs: a CP's row is created if missing, last seen never moves backwards.
_SEEN_ROWS = _unnest("seen", id=String(), at=TIMESTAMP)
_seen_insert = insert(charge_points).from_select(
    ["id", "last_seen_at"], select(_SEEN_ROWS.c.id, _SEEN_ROWS.c.at)
)
SEEN_MANY = _seen_insert.on_conflict_do_update(
    index_elements=[charge_points.c.id],
    set_={
        "last_seen_at": func.greatest(
            func.coalesce(charge_points.c.last_seen_at, _seen_insert.excluded.last_seen_at),
            _seen_insert.excluded.last_seen_at,
        )
    },
)

_STATUS_COLUMNS: dict[str, Any] = {
    "charge_point_id": String(),
    "connector_id": BigInteger(),
    "status": String(),
    "error_code": String(),
    "info": String(),
    "vendor_id": String(),
    "vendor_error_code": String(),
    "at": TIMESTAMP,
}

# One row per connector (ON CONFLICT DO UPDATE cannot touch a row twice in one statement), and
# only over a status that is not newer.
_CONNECTOR_ROWS = _unnest("connector_rows", **_STATUS_COLUMNS)
_connector_insert = insert(connectors).from_select(
    ["charge_point_id", "connector_id", *_FIELDS, "status_at", "availability", "availability_at"],
    select(
        _CONNECTOR_ROWS.c.charge_point_id,
        _CONNECTOR_ROWS.c.connector_id,
        *(_CONNECTOR_ROWS.c[f] for f in _FIELDS),
        _CONNECTOR_ROWS.c.at,
        *(
            inherited(name, _CONNECTOR_ROWS.c.charge_point_id, _CONNECTOR_ROWS.c.connector_id)
            for name in ("availability", "availability_at")
        ),
    ),
)
UPSERT_CONNECTORS = _connector_insert.on_conflict_do_update(
    index_elements=[connectors.c.charge_point_id, connectors.c.connector_id],
    set_={
        **{f: _connector_insert.excluded[f] for f in _FIELDS},
        "status_at": _connector_insert.excluded.status_at,
    },
    where=or_(
        connectors.c.status_at.is_(None),
        connectors.c.status_at <= _connector_insert.excluded.status_at,
    ),
)

# Every notification's history row, once per uq_status; returns the keys of the rows it added.
_HISTORY_ROWS = _unnest("history_rows", **_STATUS_COLUMNS, received=TIMESTAMP)
INSERT_HISTORY = (
    insert(status_history)
    .from_select(
        ["charge_point_id", "connector_id", *_FIELDS, "timestamp", "received_at"],
        select(
            _HISTORY_ROWS.c.charge_point_id,
            _HISTORY_ROWS.c.connector_id,
            *(_HISTORY_ROWS.c[f] for f in _FIELDS),
            _HISTORY_ROWS.c.at,
            _HISTORY_ROWS.c.received,
        ),
    )
    .on_conflict_do_nothing(constraint="uq_status")
    .returning(
        status_history.c.charge_point_id,
        status_history.c.connector_id,
        status_history.c.timestamp,
        status_history.c.status,
        status_history.c.error_code,
    )
)

_Key = tuple[str, int, datetime, str, str]


def _columns(rows: list[dict[str, Any]], names: list[str]) -> dict[str, list[Any]]:
    return {name: [row[name] for row in rows] for name in names}


@router.on_batch(Action.STATUS_NOTIFICATION)
async def status_notification_batch(
    calls: list[tuple[StatusNotificationRequest, CallCtx]], ctx: Ctx
) -> None:
    """`status_notification` for many messages (of many CPs) in a constant number of statements."""
    if not calls:
        return
    last_seen: dict[str, datetime] = {}
    newest: dict[tuple[str, int], dict[str, Any]] = {}
    history: dict[_Key, tuple[dict[str, Any], StatusNotificationRequest]] = {}
    for request, call in calls:
        cp = call.charge_point_id
        # In UTC as Postgres stores them: keys compare with what RETURNING gives back.
        received = _received(call).astimezone(UTC)
        at = (request.timestamp or received).astimezone(UTC)
        if cp not in last_seen or last_seen[cp] < received:
            last_seen[cp] = received
        row = {
            "charge_point_id": cp,
            "connector_id": request.connector_id,
            "status": request.status.value,
            "error_code": request.error_code.value,
            "info": request.info,
            "vendor_id": request.vendor_id,
            "vendor_error_code": request.vendor_error_code,
            "at": at,
            "received": received,
        }
        # The newest status of a connector wins; of two as new, the later one (as in sequence).
        connector = (cp, request.connector_id)
        if connector not in newest or newest[connector]["at"] <= at:
            newest[connector] = row
        # A copy within the batch is a duplicate of the first, as it would be one at a time.
        history.setdefault(
            (cp, request.connector_id, at, request.status.value, request.error_code.value),
            (row, request),
        )
    session = ctx.session
    # Rows in key order: two batches lock the rows they share in the same order.
    ids = sorted(last_seen)
    await session.execute(SEEN_MANY, {"id": ids, "at": [last_seen[i] for i in ids]})
    names = list(_STATUS_COLUMNS)
    await session.execute(
        UPSERT_CONNECTORS, _columns([newest[key] for key in sorted(newest)], names)
    )
    keys = sorted(history)
    added = await session.execute(
        INSERT_HISTORY, _columns([history[key][0] for key in keys], [*names, "received"])
    )
    inserted = {tuple(r) for r in added}
    # Events in batch order, one per history row this batch added.
    await ctx.emit_many(
        [
            ConnectorStatus(
                at=row["at"], charge_point_id=row["charge_point_id"], **request.to_payload()
            )
            for key, (row, request) in history.items()
            if key in inserted
        ]
    )
