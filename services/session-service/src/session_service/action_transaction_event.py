"""OCPP 2.0.1 TransactionEvent: Started ~ StartTransaction, Updated ~ MeterValues of a
transaction, Ended ~ StopTransaction, into the same transactions and meter values as 1.6.

Each event is applied once per (station, transactionId, seqNo): a copy gets the answer the
first one got and changes nothing. The transaction is the fold of its events (tx_fold.py), so
late and out-of-order events (an offline station's queue) end in the same transaction: an Ended
that comes first creates it stopped, a late Started fills in the start without reopening it.
A transaction that never sees its Ended is left to the stale monitor, as a 1.6 one. What an event
writes (its idToken's decision, prices, columns) is `tx_event_values.py`'s.

Most of a station's events are Updated ones carrying readings: a group of those (the runtime's
group commit) is applied in a fixed set of statements (`transaction_event_batch`); every other
event of the group, one that decides something or changes the chargingState, takes the
one-event path in the same transaction.

A running transaction's new chargingState (its newest event's, by seqNo) is announced as
`transaction.charging_state_changed`, the event a 1.6 transaction's new state takes too
(follow_commands_connectors.py): the site allocator holds a session whose EV suspended itself
at its minimum, the registry shows the state on the connector. Every chargingState an
event gives is kept at the event's time (charging_states.py), whatever order they come in: an
ended transaction's parking time is counted from them, again by each late event.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from csms_shared.bus.slots import breathe
from csms_shared.contracts.events import (
    MeterValues,
    TransactionChargingStateChanged,
)
from csms_shared.ocpp.v201.actions import Action as V201Action
from csms_shared.ocpp.v201.messages import TransactionEventRequest, TransactionEventResponse
from csms_shared.ocpp.version import OcppVersion
from csms_shared.vocabulary import AuthorizationDecision, ChargingState

from . import charging_states, tx_events, tx_lifecycle
from . import meter_values as mv
from . import tx_event_store as store
from .checks import timestamp_checks
from .handling import DUPLICATES, log_warnings, received_at
from .meter_events import meter_event, with_current
from .roaming_tokens import Asker
from .router import CallCtx, Ctx, router
from .transactions import CHARGE_POINT, apply_stops, digest
from .tx_event_values import end_of, repriced, token_decision, values_of
from .tx_fold import Fold, TransactionState

log = logging.getLogger(__name__)

SOURCE = "TransactionEvent"


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
    charging = folded.charging_state
    folded.add(summary)
    state = folded.state()
    decision = await token_decision(
        session, settings, cp, row, state, summary, at, warnings, asker=Asker.of(ctx)
    )
    info, status, reservation = decision.info, decision.status, decision.reservation
    price = await repriced(session, settings, row, state.start_time)
    await charging_states.record(session, _charging_state(row.id, summary, received))
    parked = 0
    if state.ended and state.stop_time is not None:
        span = (row.id, state.start_time, state.stop_time)
        parked = (await charging_states.parking_of(session, [span]))[row.id]
    values = values_of(
        row,
        folded,
        state,
        status,
        price,
        received,
        decision.charging_priority,
        decision.source,
    )
    new = await store.write(session, row.id, values)
    if (stop := end_of(row, state, price, parked)) is not None:
        # The end through the statement 1.6's StopTransaction writes it with: the same columns.
        new = (await apply_stops(session, [stop]))[row.id]
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
    await ctx.emit_many(with_current([readings]))
    # A reservation comes with the first token's decision, just made (a valid value).
    decided = AuthorizationDecision(status) if reservation is not None and status else None
    await tx_lifecycle.use_reservation(session, cp, reservation, row.id, decided, at)
    if tx_lifecycle.wakes(row) and new.stop_time is None:
        await tx_lifecycle.alive_again(session, row.id, "a TransactionEvent")
    await log_warnings(ctx, f"TransactionEvent {station_tx}/{seq_no}", warnings, row.id)
    await _announce(session, ctx, row, new, created)
    if (changed := charging_state_changed(new, charging, state, at)) is not None:
        await ctx.emit(changed)
    # totalCost answers the Ended (a late Updated or Started of a stopped transaction gets none).
    ended = summary.event_type == tx_events.ENDED and new.stopped_by == CHARGE_POINT
    response = TransactionEventResponse(
        id_token_info=info, total_cost=float(new.cost) if ended else None
    )
    applied = store.Applied(cp, station_tx, row.id, summary, response, content)
    await store.record_events(session, [applied])
    return response


async def _announce(
    session: AsyncSession, ctx: CallCtx, row: Row[Any], new: Row[Any], created: bool
) -> None:
    """What a start and an end do (tx_lifecycle.py): a new transaction is announced (it may be
    stopped already, when its Ended came first) and supersedes what is open on its EVSE; the
    station's end is announced."""
    if created:
        await tx_lifecycle.started(ctx, new)
        if new.stop_time is None:
            await tx_lifecycle.supersede(session, [(new.charge_point_id, new.connector_id)])
    await tx_lifecycle.ended(session, ctx, row, new, "Ended")


def _charging_state(
    transaction_id: int, summary: tx_events.EventSummary, received: datetime
) -> list[tuple[int, charging_states.StateAt]]:
    """The chargingState the event gives, to keep (none: nothing), at its time capped at ours."""
    if summary.charging_state is None:
        return []
    at = charging_states.reported_at(summary.timestamp, received)
    return [(transaction_id, charging_states.StateAt(at, ChargingState(summary.charging_state)))]


def charging_state_changed(
    new: Row[Any], before: str | None, state: TransactionState, at: datetime
) -> TransactionChargingStateChanged | None:
    """The event of a running transaction whose chargingState is not the one before its newest
    event (None: unchanged, none given, or the transaction is over)."""
    if state.charging_state is None or state.charging_state == before or new.stop_time is not None:
        return None
    event = TransactionChargingStateChanged(
        at=at,
        charge_point_id=new.charge_point_id,
        connector_id=new.connector_id,
        transaction_id=new.id,
        station_transaction_id=new.station_transaction_id,
        charging_state=ChargingState(state.charging_state),
        ocpp_version=OcppVersion.V201,
    )
    if new.evse_connector_id is not None:
        event.evse_connector_id = new.evse_connector_id
    return event


# -- a group of events -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Plain:
    """An Updated event that decides nothing, applied to its open transaction: what to write."""

    values: store.TransactionValues
    rows: list[mv.MeterRow]
    states: list[tuple[int, charging_states.StateAt]]
    readings: MeterValues | None
    applied: store.Applied


def _plain(
    request: TransactionEventRequest, call: CallCtx, row: Any, content: bytes
) -> _Plain | None:
    """The event applied to `row` when it is an Updated one that decides nothing: no idToken to
    judge, no reservation, no new start to price, no warning to log, no new chargingState to
    announce, its transaction open, known, not stale and not ended by it. Else None: it takes
    the one-event path."""
    if row is None or request.event_type.value != tx_events.UPDATED or request.id_token is not None:
        return None
    if request.reservation_id is not None or row.stop_time is not None or row.stale_since:
        return None
    received = received_at(call)
    warnings, _ = timestamp_checks(request.timestamp, received, call.settings.clock_skew)
    if warnings:
        return None
    summary = tx_events.summarize(request, warnings)
    if warnings:  # an id of ours out of range, ignored: logged on the one-event path
        return None
    kept = row.event_fold
    # A row a group wrote but has not stored yet holds its Fold: added to as a copy, so the
    # values of the event before keep theirs.
    folded = replace(kept) if isinstance(kept, Fold) else Fold.from_json(kept)
    charging = folded.charging_state
    folded.add(summary)
    state = folded.state()
    if state.ended or state.start_time != row.start_time or state.charging_state != charging:
        return None
    values = values_of(row, folded, state, row.id_tag_status, None, received, row.charging_priority)
    cp, connector, readings = call.charge_point_id, values["connector_id"], request.meter_value
    answer = TransactionEventResponse()
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
            states=_charging_state(row.id, summary, received),
            readings=meter_event(
                readings or [], at=received, cp_id=cp, connector_id=connector, transaction_id=row.id
            ),
            applied=store.Applied(cp, station_tx, row.id, summary, answer, content),
        )
        if not warnings
        else None
    )


@dataclass(slots=True)
class _Group:
    """A group's plain events not written yet, and what the group knows of its transactions."""

    rows: dict[store.Key, Any]  # each transaction as the group left it so far (None: unknown)
    answered: dict[store.Seq, tuple[TransactionEventResponse, bytes]]
    written: dict[int, store.TransactionValues] = field(default_factory=dict)
    plain: list[_Plain] = field(default_factory=list)

    def apply(self, key: store.Key, row: Any, event: _Plain) -> None:
        """Take in a plain event: its transaction as it now is, its answer for copies."""
        # `row` as stored, or as an event of this group before left it.
        before = vars(row) if isinstance(row, SimpleNamespace) else row._asdict()
        self.rows[key] = SimpleNamespace(**{**before, **event.values})
        # Every plain event writes the same columns (`values_of` of an open transaction, no new
        # price): the newest one's values are what the transaction gets.
        self.written[row.id] = event.values
        applied = event.applied
        seq = applied.summary.seq_no
        self.answered[(applied.cp_id, applied.station_tx, seq)] = (applied.response, applied.digest)
        self.plain.append(event)

    async def flush(self, ctx: Ctx) -> None:
        """Write the plain events taken in: one UPDATE, one INSERT each of readings, charging
        states and events, one of their `meter.values` (and `meter.current`)."""
        session, plain = ctx.session, self.plain
        await store.write_many(session, list(self.written.items()))
        await mv.insert_rows(session, [row for event in plain for row in event.rows])
        await charging_states.record(session, [state for event in plain for state in event.states])
        await store.record_events(session, [event.applied for event in plain])
        await ctx.emit_many(with_current(event.readings for event in plain))
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
    by_one: set[store.Seq] = set()  # events the one-event path took (or its copies)
    responses: list[TransactionEventResponse] = []
    for n, (key, seq, (request, call)) in enumerate(zip(keys, seqs, calls, strict=True)):
        await breathe(n)  # decisions share this event loop (csms_shared/bus/slots.py)
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
    earlier: tuple[TransactionEventResponse, bytes],
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
    return answer
