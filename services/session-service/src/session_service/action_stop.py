"""StopTransaction: close the transaction with meterStop, energy and cost; keep unmatched stops."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from csms_shared.bus.rounds import in_rounds
from csms_shared.ocpp.v16.actions import Action
from csms_shared.ocpp.v16.messages import StopTransactionRequest, StopTransactionResponse

from . import charging_states, tx_lifecycle, tx_v16
from . import meter_values as mv
from .acceptance import StopMatch, match_stop
from .auth import Authorization, IdTagRecord
from .end_tokens import stop_tag_decision
from .handling import DUPLICATES, log_warnings, received_at
from .id_tags import load_for_stops
from .router import CallCtx, Ctx, router
from .settings import Settings
from .transactions import StopRow, apply_stops, record_unmatched
from .tx_event_values import end_of

log = logging.getLogger(__name__)

# The steps of a StopTransaction, taken call by call by `stop_transaction` and for a whole round
# of calls by `stop_transaction_batch`: each rule is written once, here or in acceptance.py.


@dataclass(slots=True)
class _Stop:
    """A StopTransaction judged: what it matches, its idTag's status, its warnings."""

    request: StopTransactionRequest
    call: CallCtx
    row: Row[Any] | None
    match: StopMatch
    info: Authorization | None
    warnings: list[str]

    def answer(self) -> StopTransactionResponse:
        """The StopTransaction.conf: the idTagInfo of its idTag, when it named one."""
        if self.info is None:
            return StopTransactionResponse()
        return StopTransactionResponse(id_tag_info=self.info.to_v16())


def _judged(
    settings: Settings,
    request: StopTransactionRequest,
    call: CallCtx,
    row: Row[Any] | None,
    tag: IdTagRecord | None,
) -> _Stop:
    """Match a StopTransaction to its transaction (`row`, locked) and judge its idTag."""
    warnings, info = stop_tag_decision(
        settings, request.id_tag, tag, request.timestamp, received_at(call)
    )
    match = match_stop(row, call.charge_point_id, request.meter_stop, request.timestamp)
    return _Stop(request, call, row, match, info, warnings)


async def _kept(session: AsyncSession, stop: _Stop) -> StopTransactionResponse:
    """The answer to a stop that stops nothing: a re-send counted, anything else kept for
    review (accepted all the same: a refusal would make the CP retry forever)."""
    request, cp = stop.request, stop.call.charge_point_id
    if stop.match is StopMatch.RE_SENT:
        DUPLICATES.labels("StopTransaction").inc()
        return stop.answer()
    kind = stop.match.value
    kept = await record_unmatched(
        session,
        cp,
        kind,
        request.to_payload(),
        transaction_id=request.transaction_id,
        id_tag=request.id_tag,
        meter_stop=request.meter_stop,
        timestamp=request.timestamp,
        reason=request.reason.value if request.reason else None,
        received=received_at(stop.call),
    )
    if kept:
        log.warning(
            "%s StopTransaction of %s kept for review: %s", cp, request.transaction_id, kind
        )
    return stop.answer()


def _parking(row: Row[Any], stop: _Stop) -> tuple[int, datetime, datetime]:
    """The span whose parking time the stop bills (`charging_states.parking_of`)."""
    return row.id, row.start_time, stop.request.timestamp


def _stop_row(row: Row[Any], stop: _Stop, parked: dict[int, int]) -> StopRow:
    """What the CP's stop writes to its transaction (`parked`: parking seconds by id): what the
    fold of its events says once its Ended event (`tx_v16.ended`) is in."""
    fold = tx_v16.fold_of(row)
    fold.add(tx_v16.ended(stop.request, stop.warnings))
    ended = end_of(row, tx_v16.state_of(fold), None, parked[row.id])
    assert ended is not None  # its Ended event is in
    return ended


async def _stopped(
    session: AsyncSession, stop: _Stop, row: Row[Any], new: Row[Any]
) -> list[mv.MeterRow]:
    """After the stop was written (`row` before, `new` after): its warnings, what an end does
    (`tx_lifecycle.ended`); the rows of its transactionData, to be stored."""
    request, call = stop.request, stop.call
    await log_warnings(
        call, f"StopTransaction {row.id}", new.warnings[len(row.warnings or []) :], row.id
    )
    await tx_lifecycle.ended(session, call, row, new, "StopTransaction")
    return mv.sampled_rows(
        request.transaction_data or [],
        cp_id=call.charge_point_id,
        connector_id=row.connector_id,
        transaction_id=row.id,
        source="StopTransaction",
        received=received_at(call),
    )


@router.on(Action.STOP_TRANSACTION)
async def stop_transaction(
    request: StopTransactionRequest, ctx: CallCtx
) -> StopTransactionResponse:
    """Close the transaction with meterStop, energy and cost; keep an unmatched stop for review
    (accepted all the same: a refusal would make the CP retry forever)."""
    session = ctx.session
    [(row, tag)] = await load_for_stops(session, [(request.transaction_id, request.id_tag)])
    stop = _judged(ctx.settings, request, ctx, row, tag)
    if stop.match is not StopMatch.STOPS or row is None:
        return await _kept(session, stop)
    parked = await charging_states.parking_of(session, [_parking(row, stop)])
    new = (await apply_stops(session, [_stop_row(row, stop, parked)]))[row.id]
    await mv.insert_rows(session, await _stopped(session, stop, row, new))
    return stop.answer()


# A group of StopTransactions (see start_transaction_batch for the figures). Same rows and
# answers as `stop_transaction` call after call (tests/integration/test_session_groups.py).
@router.on_batch(Action.STOP_TRANSACTION)
async def stop_transaction_batch(
    calls: list[tuple[StopTransactionRequest, CallCtx]], ctx: Ctx
) -> list[StopTransactionResponse]:
    """`stop_transaction` for many CPs; a second stop of one transaction in a later round."""
    return await in_rounds(
        calls,
        lambda call: (("cp", call[1].charge_point_id), ("tx", call[0].transaction_id)),
        lambda part: _stop_round(part, ctx),
    )


async def _stop_round(
    calls: list[tuple[StopTransactionRequest, CallCtx]], ctx: Ctx
) -> list[StopTransactionResponse]:
    """StopTransactions of different transactions: one locked read of the transactions and
    tags, one of their charging states, one UPDATE, one INSERT of their transactionData."""
    session = ctx.session
    found = await load_for_stops(session, [(r.transaction_id, r.id_tag) for r, _ in calls])
    stops = [
        _judged(ctx.settings, request, call, row, tag)
        for (request, call), (row, tag) in zip(calls, found, strict=True)
    ]
    responses: dict[int, StopTransactionResponse] = {}
    stopping: list[tuple[int, _Stop, Row[Any]]] = []
    for n, stop in enumerate(stops):
        if stop.match is not StopMatch.STOPS or stop.row is None:
            responses[n] = await _kept(session, stop)
        else:
            stopping.append((n, stop, stop.row))
    parked = await charging_states.parking_of(
        session, [_parking(row, stop) for _, stop, row in stopping]
    )
    updated = await apply_stops(
        session, [_stop_row(row, stop, parked) for _, stop, row in stopping]
    )
    rows: list[mv.MeterRow] = []
    for n, stop, row in stopping:
        rows += await _stopped(session, stop, row, updated[row.id])
        responses[n] = stop.answer()
    await mv.insert_rows(session, rows)
    return [responses[n] for n in range(len(stops))]
