"""OCPP 2.0.1 TransactionEvent: Started ~ StartTransaction, Updated ~ MeterValues of a
transaction, Ended ~ StopTransaction, into the same transactions and meter values as 1.6.

Each event is applied once per (station, transactionId, seqNo): a copy gets the answer the
first one got and changes nothing. The transaction is the fold of its events (tx_fold.py), so
late and out-of-order events (an offline station's queue) end in the same transaction: an Ended
that comes first creates it stopped, a late Started fills in the start without reopening it.
A transaction that never sees its Ended is left to the stale monitor, as a 1.6 one.

Most of a station's events are Updated ones carrying readings: a group of those (the runtime's
group commit) is applied in a fixed set of statements (`transaction_event_batch`); every other
event of the group, one that decides something, takes the one-event path in the same
transaction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from csms_shared.contracts.events import Event, TransactionStarted, TransactionStopped
from csms_shared.ocpp.v16.enums import AuthorizationStatus
from csms_shared.ocpp.v201.actions import Action as V201Action
from csms_shared.ocpp.v201.datatypes import IdTokenInfo
from csms_shared.ocpp.v201.enums import IdTokenEnum
from csms_shared.ocpp.v201.messages import TransactionEventRequest, TransactionEventResponse

from . import id_tokens, reservations, tx_events
from . import meter_values as mv
from . import tx_event_store as store
from .action_start import decide_start
from .auth import charging_priority, id_tag_info, resent_start_info, same_id_tag, stop_info
from .checks import timestamp_checks
from .handling import DUPLICATES, log_warnings, received_at
from .id_tags import load_id_tag_and_reservations
from .meter_events import meter_event
from .resources import transaction_of
from .router import CallCtx, Ctx, router
from .settings import Settings
from .tariffs import prices
from .transactions import CHARGE_POINT, OPERATOR, Priced, audit, digest, stop_values, supersede_open
from .tx_fold import Fold, TransactionState

log = logging.getLogger(__name__)

SOURCE = "TransactionEvent"


@dataclass(frozen=True, slots=True)
class _Decision:
    """What an event's idToken earns: its idTokenInfo (None: the event has none), the status
    the transaction keeps (its first token's), the reservation a first token consumes and the
    chargingPriority the transaction keeps (its first token's)."""

    info: IdTokenInfo | None
    status: str | None
    reservation: int | None
    charging_priority: int


async def _token_decision(
    session: AsyncSession,
    settings: Settings,
    cp: str,
    row: Row[Any],
    state: TransactionState,
    summary: tx_events.EventSummary,
    at: datetime,
    warnings: list[str],
) -> _Decision:
    """The decision about this event's idToken (see `_Decision`)."""
    token, kind = summary.id_token, summary.id_token_type
    status, priority = row.id_tag_status, row.charging_priority
    if token is None or kind is None:
        return _Decision(None, status, None, priority)
    first = status is None and same_id_tag(state.id_token, token)
    if id_tokens.needs_no_list(IdTokenEnum(kind)):
        kept = AuthorizationStatus.ACCEPTED.value if first else status
        return _Decision(id_tokens.accepted(), kept, None, priority)
    # Locking the tag serializes its starts, so a concurrency limit holds across replicas.
    found, held = await load_id_tag_and_reservations(session, token, cp, at, lock=first)
    tag = id_tokens.entry_for(found, IdTokenEnum(kind))
    unknown = settings.unknown_id_tags
    reservation = None
    if first:
        # The transaction's first idToken: judged as StartTransaction judges its idTag.
        reserved = summary.reservation_id or state.reservation_id
        info, reservation = await decide_start(
            session, settings, cp, state.connector_id, token, reserved, at, warnings, tag, held
        )
        status, priority = info.status.value, charging_priority(tag)
    elif status is not None and same_id_tag(row.id_tag, token):
        # The token the transaction runs for again: the status it was started with.
        info = resent_start_info(status, id_tag_info(tag, at=at, unknown=unknown))
    else:
        # Another token (a card presented to stop it): judged as the list has it.
        judged = stop_info(token, tag, at=at, unknown=unknown)
        assert judged is not None  # a token was given
        info = judged
    return _Decision(
        id_tokens.token_info(info, tag, unknown=unknown), status, reservation, priority
    )


async def _priced(
    session: AsyncSession, settings: Settings, row: Row[Any], start: datetime
) -> dict[str, Any]:
    """The prices of the transaction: kept, unless a late Started moved its start."""
    if start == row.start_time:
        return {}
    [price] = await prices(session, settings, [(row.charge_point_id, start)])
    return {
        "tariff_id": price.tariff_id,
        "price_per_kwh": price.price_per_kwh,
        "session_fee": price.session_fee,
        "per_minute_fee": price.per_minute_fee,
        "currency": price.currency,
    }


def _values(
    row: Row[Any],
    state: TransactionState,
    status: str | None,
    price: dict[str, Any],
    received: datetime,
    charging_priority: int,
) -> dict[str, Any]:
    """The transaction's columns as its events now describe it (the stop: `stop_values`)."""
    register = state.last_register
    values: dict[str, Any] = {
        "connector_id": state.connector_id,
        "evse_connector_id": state.evse_connector_id,
        "id_tag": state.id_token,
        "id_token_type": state.id_token_type,
        "id_tag_status": status,
        "charging_priority": charging_priority,
        "meter_start": state.meter_start,
        "start_time": state.start_time,
        "remote_start_id": state.remote_start_id,
        "reservation_id": state.reservation_id,
        "last_seen_at": max(row.last_seen_at, received),
        "last_meter_wh": register.wh if register else None,
        "last_meter_at": register.at if register else None,
        "warnings": state.warnings,
    } | price
    if row.stop_time is None and row.stale_since is not None:
        values["stale_since"] = None  # alive again
    if state.ended and state.stop_time is not None and state.meter_stop is not None:
        priced = Priced(
            id=row.id,
            meter_start=state.meter_start,
            start_time=state.start_time,
            price_per_kwh=Decimal(price.get("price_per_kwh", row.price_per_kwh)),
            session_fee=Decimal(price.get("session_fee", row.session_fee)),
            per_minute_fee=Decimal(price.get("per_minute_fee", row.per_minute_fee)),
            warnings=state.warnings,
        )
        stop = stop_values(
            priced,
            meter_stop=state.meter_stop,
            stop_time=state.stop_time,
            reason=state.stop_reason,
            stop_id_tag=state.stop_id_token,
            stopped_by=CHARGE_POINT,
        )
        values |= {name: value for name, value in stop.items() if name != "id"}
        values["close_reason"] = None
    return values


@router.on(V201Action.TRANSACTION_EVENT)
async def transaction_event(
    request: TransactionEventRequest, ctx: CallCtx
) -> TransactionEventResponse:
    """Apply the event to its transaction once; idTokenInfo for its idToken, totalCost once
    it ended."""
    session, settings = ctx.session, ctx.settings
    cp, received = ctx.charge_point_id, received_at(ctx)
    station_tx, seq_no = request.transaction_info.transaction_id, request.seq_no
    warnings, at = timestamp_checks(request.timestamp, received, settings.clock_skew)
    summary = tx_events.summarize(request, warnings)
    row, created = await store.lock_transaction(
        session, settings, cp, station_tx, summary, received
    )
    content = digest(request.to_payload())
    key = (cp, station_tx, seq_no)
    if (earlier := (await store.stored_responses(session, [key])).get(key)) is not None:
        return _copy(ctx, request, earlier, content)
    folded = Fold.from_json(row.event_fold)
    folded.add(summary)
    state = folded.state()
    decision = await _token_decision(session, settings, cp, row, state, summary, at, warnings)
    info, status, reservation = decision.info, decision.status, decision.reservation
    price = await _priced(session, settings, row, state.start_time)
    values = _values(row, state, status, price, received, decision.charging_priority)
    values["event_fold"] = folded.to_json()
    new = await store.write(session, row.id, values)
    rows = tx_events.sampled_rows(
        request.meter_value or [],
        cp_id=cp,
        connector_id=new.connector_id,
        transaction_id=row.id,
        source=SOURCE,
        received=received,
    )
    await mv.insert_rows(session, rows)
    readings = meter_event(
        request.meter_value or [],
        at=received,
        cp_id=cp,
        connector_id=new.connector_id,
        transaction_id=row.id,
    )
    if readings is not None:
        await ctx.emit(readings)
    if reservation is not None and status == AuthorizationStatus.ACCEPTED.value:
        await reservations.use(session, cp, reservation, row.id, at)
    if row.stop_time is None and row.stale_since is not None and new.stop_time is None:
        await audit(session, row.id, "alive_again", reason="a TransactionEvent arrived")
    await log_warnings(ctx, f"TransactionEvent {station_tx}/{seq_no}", warnings, row.id)
    await _announce(session, ctx, row, new, created)
    # totalCost answers the Ended (a late Updated or Started of a stopped transaction gets none).
    ended = summary.event_type == tx_events.ENDED and new.stopped_by == CHARGE_POINT
    response = TransactionEventResponse(
        id_token_info=info, total_cost=float(new.cost) if ended else None
    )
    applied = store.Applied(cp, station_tx, row.id, summary, response.to_payload(), content)
    await store.record_events(session, [applied])
    return response


async def _announce(
    session: AsyncSession, ctx: CallCtx, row: Row[Any], new: Row[Any], created: bool
) -> None:
    """The events of what changed: transaction.started for a new transaction (it may be
    stopped already, when its Ended came first), transaction.stopped when the CP stopped it."""
    if created:
        await ctx.emit(transaction_of(new, TransactionStarted, at=new.start_time))
        if new.stop_time is None:
            for old, newest in await supersede_open(
                session, [(new.charge_point_id, new.connector_id)]
            ):
                log.warning("transaction %d was never stopped; %d superseded it", old, newest)
    if new.stopped_by == CHARGE_POINT and row.stopped_by != CHARGE_POINT:
        if row.stopped_by == OPERATOR:
            # The CP's own figures replace the operator's estimate; the close stays in the audit.
            await audit(
                session,
                row.id,
                "stopped_after_operator_close",
                reason="the charge point's Ended arrived after an operator closed it",
                details={"operatorMeterStop": row.meter_stop, "meterStop": new.meter_stop},
            )
        await ctx.emit(transaction_of(new, TransactionStopped, at=new.stop_time))


# -- a group of events -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Plain:
    """An Updated event that decides nothing, applied to its open transaction: what to write."""

    values: dict[str, Any]
    rows: list[mv.MeterRow]
    readings: Event | None
    applied: store.Applied
    answer: dict[str, Any]


def _plain(
    request: TransactionEventRequest, call: CallCtx, row: Any, content: bytes
) -> _Plain | None:
    """The event applied to `row` when it is an Updated one that decides nothing: no idToken to
    judge, no reservation, no new start to price, no warning to log, its transaction open,
    known, not stale and not ended by it. Else None: it takes the one-event path."""
    if row is None or request.event_type.value != tx_events.UPDATED or request.id_token is not None:
        return None
    if request.reservation_id is not None or row.stop_time is not None or row.stale_since:
        return None
    received = received_at(call)
    warnings, _ = timestamp_checks(request.timestamp, received, call.settings.clock_skew)
    if warnings:
        return None
    summary = tx_events.summarize(request, warnings)
    folded = Fold.from_json(row.event_fold)
    folded.add(summary)
    state = folded.state()
    if state.ended or state.start_time != row.start_time:
        return None
    values = _values(row, state, row.id_tag_status, {}, received, row.charging_priority)
    values["event_fold"] = folded.to_json()
    cp, connector, readings = call.charge_point_id, values["connector_id"], request.meter_value
    answer = TransactionEventResponse().to_payload()
    station_tx = request.transaction_info.transaction_id
    return (
        _Plain(
            values=values,
            rows=tx_events.sampled_rows(
                readings or [],
                cp_id=cp,
                connector_id=connector,
                transaction_id=row.id,
                source=SOURCE,
                received=received,
            ),
            readings=meter_event(
                readings or [], at=received, cp_id=cp, connector_id=connector, transaction_id=row.id
            ),
            applied=store.Applied(cp, station_tx, row.id, summary, answer, content),
            answer=answer,
        )
        if not warnings
        else None
    )


@dataclass(slots=True)
class _Group:
    """A group's plain events not written yet, and what the group knows of its transactions."""

    rows: dict[store.Key, Any]  # each transaction as the group left it so far (None: unknown)
    answered: dict[tuple[str, str, int], tuple[dict[str, Any], bytes]]
    written: dict[int, dict[str, Any]] = field(default_factory=dict)
    plain: list[_Plain] = field(default_factory=list)

    def apply(self, key: store.Key, row: Any, event: _Plain) -> None:
        """Take in a plain event: its transaction as it now is, its answer for copies."""
        self.rows[key] = SimpleNamespace(**(row._asdict() | event.values))
        self.written[row.id] = self.written.get(row.id, {}) | event.values
        applied = event.applied
        seq = applied.summary.seq_no
        self.answered[(applied.cp_id, applied.station_tx, seq)] = (event.answer, applied.digest)
        self.plain.append(event)

    async def flush(self, ctx: Ctx) -> None:
        """Write the plain events taken in: one UPDATE, one INSERT each of readings and events,
        one of their `meter.values`."""
        session, plain = ctx.session, self.plain
        await store.write_many(session, list(self.written.items()))
        await mv.insert_rows(session, [row for event in plain for row in event.rows])
        await store.record_events(session, [event.applied for event in plain])
        await ctx.emit_many([e.readings for e in plain if e.readings is not None])
        self.written, self.plain = {}, []


# TransactionEvents gathered by the runtime: Updated events with readings (most of a station's
# events) in six statements a group whatever its size, as 1.6's MeterValues; the bench's v201
# scenario measures it (bench/RESULTS.md). Every other event takes `transaction_event` in turn,
# after what came before it was written, so the group leaves the same rows, events and answers
# as the calls one after the other (tests/integration/test_transaction_event_batch.py).
@router.on_batch(V201Action.TRANSACTION_EVENT)
async def transaction_event_batch(
    calls: list[tuple[TransactionEventRequest, CallCtx]], ctx: Ctx
) -> list[TransactionEventResponse]:
    """`transaction_event` for many events, in their order."""
    session = ctx.session
    keys = [(call.charge_point_id, r.transaction_info.transaction_id) for r, call in calls]
    seqs = [(*key, r.seq_no) for key, (r, _) in zip(keys, calls, strict=True)]
    locked = await store.lock_many(session, keys)
    group = _Group(
        rows={key: locked.get(key) for key in keys},
        answered=await store.stored_responses(session, seqs),
    )
    by_one: set[tuple[str, str, int]] = set()  # events the one-event path took (or its copies)
    responses: list[TransactionEventResponse] = []
    for key, seq, (request, call) in zip(keys, seqs, calls, strict=True):
        content = digest(request.to_payload())
        if seq not in by_one and (earlier := group.answered.get(seq)) is not None:
            responses.append(_copy(call, request, earlier, content))
            continue
        row = group.rows[key]
        if seq not in by_one and (event := _plain(request, call, row, content)) is not None:
            group.apply(key, row, event)
            responses.append(TransactionEventResponse())
            continue
        await group.flush(ctx)
        responses.append(await transaction_event(request, call))
        by_one.add(seq)
        group.rows[key] = (await store.lock_many(session, [key])).get(key)
    await group.flush(ctx)
    return responses


def _copy(
    call: CallCtx,
    request: TransactionEventRequest,
    earlier: tuple[dict[str, Any], bytes],
    content: bytes,
) -> TransactionEventResponse:
    """A copy of an applied event: the answer the first one got, nothing changed."""
    answer, first_digest = earlier
    call.on_commit(lambda: DUPLICATES.labels("TransactionEvent").inc())
    if first_digest != content:
        station_tx = request.transaction_info.transaction_id
        log.warning(
            "%s re-used seqNo %d of transaction %s",
            call.charge_point_id,
            request.seq_no,
            station_tx,
        )
    return TransactionEventResponse.model_validate(answer)
