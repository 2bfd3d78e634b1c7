"""StatusNotification: connector status and its history, whatever the version that sent it.

Every connector's status is kept in our terms (docs/vocabulary.md) in `evse_connectors`: each
version's notification is read by the vocabulary's adapter (`StatusReport.from_v16`/`from_v201`,
`ConnectorRef`), with the car's charging state when it says one (1.6 does), and a transaction's
(`transaction.charging_state_changed`, either version) joins it there (`follow_charging.py`).
`connector.status` carries our terms beside 1.6's.

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

from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

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
from csms_shared.vocabulary.connectors import StatusReport
from csms_shared.vocabulary.evses import ConnectorRef

from .router import CallCtx, Ctx, router
from .status_store import (
    EVSE_COLUMNS,
    HISTORY_COLUMNS,
    INSERT_HISTORY,
    SEEN_MANY,
    STATUS_COLUMNS,
    UPSERT_CONNECTORS,
    UPSERT_EVSE_CONNECTORS,
    EvseRow,
    Key,
    StatusRow,
    columns_of,
    history_key,
    key_order,
)


def _received(ctx: CallCtx) -> datetime:
    return ctx.received_at or utcnow()


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
    *,
    report: StatusReport,
    evse_connector_id: int | None = None,
) -> StatusRow:
    """What a StatusNotification stores (`request` in 1.6's terms, `report` in ours), its times
    in UTC as Postgres gives them back."""
    received = received.astimezone(UTC)
    state = report.charging_state
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
        connector_status=report.status.value,
        charging_state=None if state is None else state.value,
        connector_error_code=report.error_code.value,
    )


@dataclass(slots=True)
class Statuses:
    """Notifications folded as one after the other would leave them: each CP's last seen, each
    connector's newest status, each distinct history row with the notification that made it."""

    last_seen: dict[str, datetime] = field(default_factory=dict)
    newest: dict[tuple[str, int], StatusRow] = field(default_factory=dict)
    newest_ours: dict[tuple[str, int, int], EvseRow] = field(default_factory=dict)
    history: dict[Key, tuple[StatusRow, StatusRead]] = field(default_factory=dict)

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
        self.history.setdefault(history_key(row), (row, read))


async def _store(session: AsyncSession, statuses: Statuses) -> list[Event]:
    """Write folded notifications in four statements, whatever their number; the events of
    the history rows they added, in the order the notifications came."""
    # Rows in key order: two batches lock the rows they share in the same order.
    ids = sorted(statuses.last_seen)
    await session.execute(SEEN_MANY, {"id": ids, "at": [statuses.last_seen[i] for i in ids]})
    names = list(STATUS_COLUMNS)
    newest = [statuses.newest[key] for key in sorted(statuses.newest)]
    await session.execute(UPSERT_CONNECTORS, columns_of(newest, names))
    if statuses.newest_ours:
        ours = [statuses.newest_ours[key] for key in sorted(statuses.newest_ours)]
        await session.execute(UPSERT_EVSE_CONNECTORS, columns_of(ours, list(EVSE_COLUMNS)))
    history = statuses.history
    keys = sorted(history, key=key_order)
    added = await session.execute(
        INSERT_HISTORY, columns_of([history[key][0] for key in keys], list(HISTORY_COLUMNS))
    )
    inserted = {history_key(r) for r in added}
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
        row = status_row(
            self.request, cp_id, received, report=self.report, evse_connector_id=within
        )
        statuses.add(row, self)

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
