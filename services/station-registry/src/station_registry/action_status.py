"""StatusNotification: connector status and its history, whatever the version that sent it.

Every connector's status is kept in our terms (docs/vocabulary.md) in `evse_connectors`: each
version's notification is read by the vocabulary's adapter (`StatusReport.from_v16`/`from_v201`,
`ConnectorRef`), and a 2.0.1 transaction's charging state (`transaction.charging_state_changed`)
joins it there (`follow_charging.py`). `connector.status` carries our terms beside 1.6's.

Until the 1.6-shaped documents go (STATUS_V16_RETIRED_ON) the EVSE-level `connectors` table,
its history and the 1.6 fields of the event keep 1.6's shape: a 2.0.1 StatusNotification is
also read as 1.6's (`status_of_v201`) and takes the same statements and batch path:

* Its EVSE is stored as the connector: an EVSE is what 1.6 calls a connector (one charging
  session at a time, one status), and 0 stays the whole station. The connector within the EVSE
  that reported goes to `evse_connector_id`.
* Its connectorStatus maps onto 1.6's statuses rather than adding a sixth kind of value the
  connectors table, the events and their consumers would each have to learn: Available,
  Reserved, Unavailable and Faulted are 1.6's own; Occupied (1.6's Preparing, Charging,
  SuspendedEV(SE) and Finishing together) reads Preparing, the one of those that claims nothing
  about energy flowing (2.0.1 tells that by TransactionEvent's chargingState, not here).
* 2.0.1 has no error code: NoError, except that a Faulted connector says OtherError, as 1.6
  never pairs Faulted with NoError; the station tells the fault itself by NotifyEvent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypedDict

from sqlalchemy import (
    BigInteger,
    Integer,
    String,
    and_,
    bindparam,
    case,
    column,
    func,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.types import TypeEngine

from csms_shared.contracts.events import ConnectorStatus, Event
from csms_shared.ocpp._base import utcnow
from csms_shared.ocpp.v16.actions import Action
from csms_shared.ocpp.v16.enums import ChargePointErrorCode, ChargePointStatus
from csms_shared.ocpp.v16.messages import (
    StatusNotificationRequest,
    StatusNotificationResponse,
)
from csms_shared.ocpp.v201 import messages as v201
from csms_shared.ocpp.v201.actions import Action as V201Action
from csms_shared.ocpp.v201.enums import ConnectorStatusEnum
from csms_shared.ocpp.version import OcppVersion
from csms_shared.vocabulary.connectors import ConnectorState as Status
from csms_shared.vocabulary.connectors import StatusReport
from csms_shared.vocabulary.evses import ConnectorRef

from .db import TIMESTAMP, charge_points, connectors, evse_connectors, status_history
from .router import CallCtx, Ctx, router


def _received(ctx: CallCtx) -> datetime:
    return ctx.received_at or utcnow()


_FIELDS = ("status", "error_code", "info", "vendor_id", "vendor_error_code", "evse_connector_id")


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


# Last seen for many CPs: a CP's row is created if missing, last seen never moves backwards.
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

_STATUS_COLUMNS: dict[str, TypeEngine[Any]] = {
    "charge_point_id": String(),
    "connector_id": BigInteger(),
    "status": String(),
    "error_code": String(),
    "info": String(),
    "vendor_id": String(),
    "vendor_error_code": String(),
    "evse_connector_id": Integer(),
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

_EVSE_COLUMNS: dict[str, TypeEngine[Any]] = {
    "charge_point_id": String(),
    "evse_id": BigInteger(),
    "connector_id": Integer(),
    "status": String(),
    "charging_state": String(),
    "error_code": String(),
    "info": String(),
    "vendor_error_code": String(),
    "status_at": TIMESTAMP,
}
_OURS = ("status", "error_code", "info", "vendor_error_code", "status_at")

# Each connector in our terms, only over a status that is not newer. An Occupied that says no
# charging state (2.0.1's StatusNotification) keeps the one a transaction told; any other
# status says its own (none when not Occupied).
_EVSE_ROWS = _unnest("evse_rows", **_EVSE_COLUMNS)
_evse_insert = insert(evse_connectors).from_select(
    [*_EVSE_COLUMNS, "charging_state_at"],
    select(
        *(_EVSE_ROWS.c[name] for name in _EVSE_COLUMNS),
        case((_EVSE_ROWS.c.charging_state.is_not(None), _EVSE_ROWS.c.status_at), else_=None),
    ),
)
_kept = and_(
    _evse_insert.excluded.status == Status.OCCUPIED.value,
    _evse_insert.excluded.charging_state.is_(None),
    evse_connectors.c.status == Status.OCCUPIED.value,
)
UPSERT_EVSE_CONNECTORS = _evse_insert.on_conflict_do_update(
    index_elements=[
        evse_connectors.c.charge_point_id,
        evse_connectors.c.evse_id,
        evse_connectors.c.connector_id,
    ],
    set_={
        **{name: _evse_insert.excluded[name] for name in _OURS},
        "charging_state": case(
            (_kept, evse_connectors.c.charging_state), else_=_evse_insert.excluded.charging_state
        ),
        "charging_state_at": case(
            (_kept, evse_connectors.c.charging_state_at),
            else_=_evse_insert.excluded.charging_state_at,
        ),
    },
    where=evse_connectors.c.status_at <= _evse_insert.excluded.status_at,
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


class EvseRow(TypedDict):
    """A StatusNotification as `evse_connectors` stores it: one connector in our terms."""

    charge_point_id: str
    evse_id: int
    connector_id: int
    status: str
    charging_state: str | None
    error_code: str
    info: str | None
    vendor_error_code: str | None
    status_at: datetime


class StatusRow(TypedDict):
    """A StatusNotification as the connectors and their history store it."""

    charge_point_id: str
    connector_id: int
    status: str
    error_code: str
    info: str | None
    vendor_id: str | None
    vendor_error_code: str | None
    evse_connector_id: int | None
    at: datetime
    received: datetime


# 2.0.1's connector statuses as 1.6 spells them, with the error code that goes with each.
V201_STATUS: dict[ConnectorStatusEnum, tuple[ChargePointStatus, ChargePointErrorCode]] = {
    ConnectorStatusEnum.AVAILABLE: (ChargePointStatus.AVAILABLE, ChargePointErrorCode.NO_ERROR),
    ConnectorStatusEnum.OCCUPIED: (ChargePointStatus.PREPARING, ChargePointErrorCode.NO_ERROR),
    ConnectorStatusEnum.RESERVED: (ChargePointStatus.RESERVED, ChargePointErrorCode.NO_ERROR),
    ConnectorStatusEnum.UNAVAILABLE: (
        ChargePointStatus.UNAVAILABLE,
        ChargePointErrorCode.NO_ERROR,
    ),
    ConnectorStatusEnum.FAULTED: (ChargePointStatus.FAULTED, ChargePointErrorCode.OTHER_ERROR),
}


def status_of_v201(request: v201.StatusNotificationRequest) -> StatusNotificationRequest:
    """A 2.0.1 StatusNotification in 1.6's terms: its EVSE as the connector (the module's
    docstring says why); the connector within the EVSE is left to `status_row`."""
    status, error = V201_STATUS[request.connector_status]
    return StatusNotificationRequest(
        connector_id=request.evse_id, status=status, error_code=error, timestamp=request.timestamp
    )


def status_row(
    request: StatusNotificationRequest,
    cp_id: str,
    received: datetime,
    evse_connector_id: int | None = None,
) -> StatusRow:
    """What a StatusNotification stores, its times in UTC as Postgres gives them back."""
    received = received.astimezone(UTC)
    return StatusRow(
        charge_point_id=cp_id,
        connector_id=request.connector_id,
        status=request.status.value,
        error_code=request.error_code.value,
        info=request.info,
        vendor_id=request.vendor_id,
        vendor_error_code=request.vendor_error_code,
        evse_connector_id=evse_connector_id,
        # Queued notifications arrive late: order them by the CP's own timestamp when it sent one.
        at=(request.timestamp or received).astimezone(UTC),
        received=received,
    )


@dataclass(slots=True)
class Statuses:
    """Notifications folded as one after the other would leave them: each CP's last seen, each
    connector's newest status, each distinct history row with the notification that made it."""

    last_seen: dict[str, datetime] = field(default_factory=dict)
    newest: dict[tuple[str, int], StatusRow] = field(default_factory=dict)
    newest_ours: dict[tuple[str, int, int], EvseRow] = field(default_factory=dict)
    history: dict[_Key, tuple[StatusRow, StatusRead]] = field(default_factory=dict)

    def add(self, row: StatusRow, read: StatusRead) -> None:
        cp, received, at = row["charge_point_id"], row["received"], row["at"]
        if cp not in self.last_seen or self.last_seen[cp] < received:
            self.last_seen[cp] = received
        # The newest status of a connector wins; of two as new, the later one (as in sequence).
        connector = (cp, row["connector_id"])
        if connector not in self.newest or self.newest[connector]["at"] <= at:
            self.newest[connector] = row
        ref = read.ref
        if ref.evse_id > 0:  # EVSE 0 is the station: its status stays in `connectors`
            ours = (cp, ref.evse_id, ref.connector_id)
            if ours not in self.newest_ours or self.newest_ours[ours]["status_at"] <= at:
                self.newest_ours[ours] = read.evse_row(row)
        # A copy is a duplicate of the first, as uq_status makes it one at a time.
        key = (cp, row["connector_id"], at, row["status"], row["error_code"])
        self.history.setdefault(key, (row, read))


def _columns(rows: Sequence[Mapping[str, object]], names: list[str]) -> dict[str, list[object]]:
    return {name: [row[name] for row in rows] for name in names}


async def _store(session: AsyncSession, statuses: Statuses) -> list[Event]:
    """Write folded notifications in four statements, whatever their number; the events of
    the history rows they added, in the order the notifications came."""
    # Rows in key order: two batches lock the rows they share in the same order.
    ids = sorted(statuses.last_seen)
    await session.execute(SEEN_MANY, {"id": ids, "at": [statuses.last_seen[i] for i in ids]})
    names = list(_STATUS_COLUMNS)
    newest = [statuses.newest[key] for key in sorted(statuses.newest)]
    await session.execute(UPSERT_CONNECTORS, _columns(newest, names))
    if statuses.newest_ours:
        ours = [statuses.newest_ours[key] for key in sorted(statuses.newest_ours)]
        await session.execute(UPSERT_EVSE_CONNECTORS, _columns(ours, list(_EVSE_COLUMNS)))
    history = statuses.history
    keys = sorted(history)
    added = await session.execute(
        INSERT_HISTORY, _columns([history[key][0] for key in keys], [*names, "received"])
    )
    inserted = {tuple(r) for r in added}
    return [read.event(row) for key, (row, read) in history.items() if key in inserted]


@router.on(Action.STATUS_NOTIFICATION)
async def status_notification(
    request: StatusNotificationRequest, ctx: CallCtx
) -> StatusNotificationResponse:
    """Connector status (connector 0 is the whole CP), kept with its history."""
    await _store_one(StatusRead.of_v16(request), ctx)
    return StatusNotificationResponse()


@router.on(V201Action.STATUS_NOTIFICATION)
async def status_notification_v201(
    request: v201.StatusNotificationRequest, ctx: CallCtx
) -> v201.StatusNotificationResponse:
    """A 2.0.1 station's EVSE/connector status, stored as 1.6's (the module's docstring)."""
    await _store_one(StatusRead.of_v201(request), ctx)
    return v201.StatusNotificationResponse()


@dataclass(frozen=True, slots=True)
class StatusRead:
    """A StatusNotification read by its version's adapter: in our terms (`ref`, `report`) and,
    until the 1.6-shaped documents go, in 1.6's (`request`)."""

    request: StatusNotificationRequest
    version: OcppVersion
    ref: ConnectorRef
    report: StatusReport

    @classmethod
    def of_v16(cls, request: StatusNotificationRequest) -> StatusRead:
        report = StatusReport.from_v16(request.status, request.error_code)
        return cls(request, OcppVersion.V16, ConnectorRef.from_v16(request.connector_id), report)

    @classmethod
    def of_v201(cls, request: v201.StatusNotificationRequest) -> StatusRead:
        ref = ConnectorRef.from_v201(request.evse_id, request.connector_id)
        report = StatusReport.from_v201(request.connector_status)
        return cls(status_of_v201(request), OcppVersion.V201, ref, report)

    def add_to(self, statuses: Statuses, cp_id: str, received: datetime) -> None:
        """Fold this notification of `cp_id`, received then, into `statuses`."""
        # The EVSE-level table names the connector within a 2.0.1 EVSE only (as it always has).
        within = self.ref.connector_id if self.version is OcppVersion.V201 else None
        statuses.add(status_row(self.request, cp_id, received, within), self)

    def evse_row(self, row: StatusRow) -> EvseRow:
        """The connector's row in our terms, at the notification's time."""
        state = self.report.charging_state
        return EvseRow(
            charge_point_id=row["charge_point_id"],
            evse_id=self.ref.evse_id,
            connector_id=self.ref.connector_id,
            status=self.report.status.value,
            charging_state=None if state is None else state.value,
            error_code=self.report.error_code.value,
            info=row["info"],
            vendor_error_code=row["vendor_error_code"],
            status_at=row["at"],
        )

    def event(self, row: StatusRow) -> ConnectorStatus:
        """`connector.status`: our terms beside 1.6's."""
        return ConnectorStatus(
            at=row["at"],
            charge_point_id=row["charge_point_id"],
            ocpp_version=self.version,
            evse_id=self.ref.evse_id,
            evse_connector_id=self.ref.connector_id,
            connector_status=self.report.status,
            charging_state=self.report.charging_state,
            connector_error_code=self.report.error_code,
            **self.request.to_payload(),
        )


async def _store_one(read: StatusRead, ctx: CallCtx) -> None:
    statuses = Statuses()
    read.add_to(statuses, ctx.charge_point_id, _received(ctx))
    await ctx.emit_many(await _store(ctx.session, statuses))


async def _store_many(reads: list[tuple[StatusRead, CallCtx]], ctx: Ctx) -> None:
    if not reads:
        return
    statuses = Statuses()
    for read, call in reads:
        read.add_to(statuses, call.charge_point_id, _received(call))
    await ctx.emit_many(await _store(ctx.session, statuses))


# StatusNotifications gathered by the runtime (a connect storm: every CP reports its connectors),
# written with the statements of one message, five a batch whatever its size: last seen,
# connectors (1.6's view and ours), history, events (against five a message one by one; see
# bench/RESULTS.md, "What changed", 5). Same rows, events and answers as `status_notification`
# one message after the other, in batch order (tests/integration/test_status_batch.py proves it).
@router.on_batch(Action.STATUS_NOTIFICATION)
async def status_notification_batch(
    calls: list[tuple[StatusNotificationRequest, CallCtx]], ctx: Ctx
) -> None:
    """`status_notification` for many messages (of many CPs) in a constant number of statements."""
    await _store_many([(StatusRead.of_v16(request), call) for request, call in calls], ctx)


@router.on_batch(V201Action.STATUS_NOTIFICATION)
async def status_notification_v201_batch(
    calls: list[tuple[v201.StatusNotificationRequest, CallCtx]], ctx: Ctx
) -> None:
    """`status_notification_v201` for many messages, as `status_notification_batch`."""
    await _store_many([(StatusRead.of_v201(request), call) for request, call in calls], ctx)
