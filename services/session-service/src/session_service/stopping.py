"""StopTransaction: close the transaction with meterStop, energy and cost; keep unmatched stops."""

from __future__ import annotations

import logging
from typing import Any

from csms_shared.bus.rounds import in_rounds
from csms_shared.contracts.events import TransactionStopped
from csms_shared.ocpp.v16.actions import Action
from csms_shared.ocpp.v16.datatypes import IdTagInfo
from csms_shared.ocpp.v16.messages import StopTransactionRequest, StopTransactionResponse

from . import meter_values as mv
from .auth import id_tag_info
from .calls import DUPLICATES, log_warnings, received_at
from .checks import decision_time, future_warning
from .id_tags import load_for_stops
from .resources import transaction_of
from .router import CallCtx, Ctx, router
from .transactions import (
    CHARGE_POINT,
    OPERATOR,
    apply_stops,
    audit,
    record_unmatched,
    stop_values,
)

log = logging.getLogger(__name__)


@router.on(Action.STOP_TRANSACTION)
async def stop_transaction(
    request: StopTransactionRequest, ctx: CallCtx
) -> StopTransactionResponse:
    """Close the transaction with meterStop, energy and cost; keep an unmatched stop for review
    (accepted all the same: a refusal would make the CP retry forever)."""
    settings = ctx.settings
    session = ctx.session
    [(row, tag)] = await load_for_stops(session, [(request.transaction_id, request.id_tag)])
    cp, received = ctx.charge_point_id, received_at(ctx)
    warnings: list[str] = []
    ahead = future_warning("timestamp", request.timestamp, received, settings.clock_skew)
    warnings += [ahead] if ahead else []
    at = decision_time(request.timestamp, received, settings.clock_skew)
    info = None
    if request.id_tag is not None:
        info = id_tag_info(tag, at=at, unknown=settings.unknown_id_tags)
    kind = None
    if row is None:
        kind = "unknown_transaction"
    elif row.charge_point_id != cp:
        kind = "other_charge_point"
    elif row.stopped_by == CHARGE_POINT:
        if (row.meter_stop, row.stop_time) == (request.meter_stop, request.timestamp):
            DUPLICATES.labels("StopTransaction").inc()
            return StopTransactionResponse(id_tag_info=info)
        kind = "already_stopped"
    if kind is not None:
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
            received=received,
        )
        if kept:
            log.warning(
                "%s StopTransaction of %s kept for review: %s", cp, request.transaction_id, kind
            )
        return StopTransactionResponse(id_tag_info=info)
    assert row is not None
    stop = stop_values(
        row,
        meter_stop=request.meter_stop,
        stop_time=request.timestamp,
        reason=request.reason.value if request.reason else None,
        stop_id_tag=request.id_tag,
        stopped_by=CHARGE_POINT,
        warnings=warnings,
    )
    new = (await apply_stops(session, [stop]))[row.id]
    await log_warnings(
        ctx, f"StopTransaction {row.id}", new.warnings[len(row.warnings or []) :], row.id
    )
    if row.stopped_by == OPERATOR:
        # The CP's own figures replace the operator's estimate; the close stays in the audit.
        await audit(
            session,
            row.id,
            "stopped_after_operator_close",
            reason="the charge point's StopTransaction arrived after an operator closed it",
            details={"operatorMeterStop": row.meter_stop, "meterStop": request.meter_stop},
        )
    await ctx.emit(transaction_of(new, TransactionStopped, at=new.stop_time))
    if request.transaction_data:
        rows = mv.sampled_rows(
            request.transaction_data,
            cp_id=cp,
            connector_id=row.connector_id,
            transaction_id=row.id,
            source="StopTransaction",
            received=received,
        )
        await mv.insert_rows(session, rows)
    return StopTransactionResponse(id_tag_info=info)


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
    tags, one UPDATE."""
    settings = ctx.settings
    session = ctx.session
    found = await load_for_stops(session, [(r.transaction_id, r.id_tag) for r, _ in calls])
    responses: list[StopTransactionResponse | None] = [None] * len(calls)
    stopping: list[tuple[int, StopTransactionRequest, CallCtx, Any, IdTagInfo | None]] = []
    stops: list[dict[str, Any]] = []
    for n, ((request, call), (row, tag)) in enumerate(zip(calls, found, strict=True)):
        cp, received = call.charge_point_id, received_at(call)
        warnings: list[str] = []
        ahead = future_warning("timestamp", request.timestamp, received, settings.clock_skew)
        warnings += [ahead] if ahead else []
        at = decision_time(request.timestamp, received, settings.clock_skew)
        info = None
        if request.id_tag is not None:
            info = id_tag_info(tag, at=at, unknown=settings.unknown_id_tags)
        kind = None
        if row is None:
            kind = "unknown_transaction"
        elif row.charge_point_id != cp:
            kind = "other_charge_point"
        elif row.stopped_by == CHARGE_POINT:
            if (row.meter_stop, row.stop_time) == (request.meter_stop, request.timestamp):
                DUPLICATES.labels("StopTransaction").inc()
                responses[n] = StopTransactionResponse(id_tag_info=info)
                continue
            kind = "already_stopped"
        if kind is not None:
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
                received=received,
            )
            if kept:
                log.warning(
                    "%s StopTransaction of %s kept for review: %s", cp, request.transaction_id, kind
                )
            responses[n] = StopTransactionResponse(id_tag_info=info)
            continue
        assert row is not None
        stopping.append((n, request, call, row, info))
        stops.append(
            stop_values(
                row,
                meter_stop=request.meter_stop,
                stop_time=request.timestamp,
                reason=request.reason.value if request.reason else None,
                stop_id_tag=request.id_tag,
                stopped_by=CHARGE_POINT,
                warnings=warnings,
            )
        )
    updated = await apply_stops(session, stops) if stops else {}
    rows: list[dict[str, Any]] = []
    for n, request, call, row, info in stopping:
        new = updated[row.id]
        await log_warnings(
            call, f"StopTransaction {row.id}", new.warnings[len(row.warnings or []) :], row.id
        )
        if request.transaction_data:
            rows += mv.sampled_rows(
                request.transaction_data,
                cp_id=call.charge_point_id,
                connector_id=row.connector_id,
                transaction_id=row.id,
                source="StopTransaction",
                received=received_at(call),
            )
        if row.stopped_by == OPERATOR:
            # The CP's own figures replace the operator's estimate; the close stays in the audit.
            await audit(
                session,
                row.id,
                "stopped_after_operator_close",
                reason="the charge point's StopTransaction arrived after an operator closed it",
                details={"operatorMeterStop": row.meter_stop, "meterStop": request.meter_stop},
            )
        await call.emit(transaction_of(new, TransactionStopped, at=new.stop_time))
        responses[n] = StopTransactionResponse(id_tag_info=info)
    if rows:
        await mv.insert_rows(session, rows)
    return [response for response in responses if response is not None]
