"""The CP calls this service owns: Authorize, StartTransaction, StopTransaction, MeterValues."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from prometheus_client import Counter

from csms_shared.bus.events import event_body
from csms_shared.bus.router import CallContext, Context, Router
from csms_shared.ocpp._base import utcnow
from csms_shared.ocpp.v16.actions import Action
from csms_shared.ocpp.v16.datatypes import IdTagInfo
from csms_shared.ocpp.v16.enums import AuthorizationStatus
from csms_shared.ocpp.v16.messages import (
    AuthorizeRequest,
    AuthorizeResponse,
    MeterValuesRequest,
    MeterValuesResponse,
    StartTransactionRequest,
    StartTransactionResponse,
    StopTransactionRequest,
    StopTransactionResponse,
)

from . import meter_values as mv
from . import reservations
from .auth import charge_point_fully_reserved, id_tag_info
from .checks import connector_warnings, decision_time, future_warning
from .docs import transaction_doc
from .id_tags import count_open_transactions, load_for_stop, load_id_tag_and_reservations
from .settings import Settings
from .starting import reservation_for_start
from .transactions import (
    CHARGE_POINT,
    OPERATOR,
    apply_stop,
    audit,
    digest,
    insert_start,
    load_for_update,
    record_unmatched,
    supersede_open,
)

log = logging.getLogger(__name__)
router = Router(service="session-service")

DUPLICATES = Counter(
    "session_duplicates_total", "Re-sent or redelivered messages recognised as copies", ["action"]
)


def _received(ctx: CallContext) -> datetime:
    return ctx.received_at or utcnow()


def _warn(ctx: CallContext, action: str, warnings: list[str]) -> None:
    for warning in warnings:
        log.warning("%s %s: %s", ctx.charge_point_id, action, warning)


@router.on(Action.AUTHORIZE)
async def authorize(request: AuthorizeRequest, ctx: CallContext) -> AuthorizeResponse:
    """Whether the idTag may charge here: the list, its group, its limit, reservations."""
    settings: Settings = ctx.settings
    now = _received(ctx)
    cp = ctx.charge_point_id
    tag, in_force = await load_id_tag_and_reservations(ctx.session, request.id_tag, cp, now)
    held, ours = reservations.held_for_others(
        in_force, request.id_tag, tag.parent_id_tag if tag else None
    )
    fully_reserved = (
        held > 0
        and not ours
        and charge_point_fully_reserved(
            held, len(await reservations.known_connectors(ctx.session, cp))
        )
    )
    active = 0
    if tag is not None and tag.max_concurrent_tx is not None:
        # Transactions on this CP do not count: presenting the card again to stop one of them
        # must not be refused; StartTransaction applies the limit in full.
        active = await count_open_transactions(ctx.session, request.id_tag, except_charge_point=cp)
    info = id_tag_info(
        tag,
        at=now,
        unknown=settings.unknown_id_tags,
        active_transactions=active,
        reserved_for_other=fully_reserved,
    )
    return AuthorizeResponse(id_tag_info=info)


@router.on(Action.START_TRANSACTION)
async def start_transaction(
    request: StartTransactionRequest, ctx: CallContext
) -> StartTransactionResponse:
    """A transactionId (the same for a re-send) and the idTag's status, even when refused."""
    settings: Settings = ctx.settings
    session, cp, received = ctx.session, ctx.charge_point_id, _received(ctx)
    # Integers arrive validated as OCPP's 32-bit integers (csms_shared.ocpp.v16.Integer).
    connector, reservation_id = request.connector_id, request.reservation_id
    warnings: list[str] = []
    ahead = future_warning("timestamp", request.timestamp, received, settings.clock_skew)
    warnings += [ahead] if ahead else []
    known = await reservations.known_connectors(session, cp, connector)
    warnings += connector_warnings(connector, known)
    at = decision_time(request.timestamp, received, settings.clock_skew)

    # Locking the tag serializes its starts, so its concurrency limit holds across replicas.
    tag, held = await load_id_tag_and_reservations(session, request.id_tag, cp, at, lock=True)
    reservation, reserved_for_other = await reservation_for_start(
        session, cp, connector, request.id_tag, tag, reservation_id, at, warnings, held
    )
    active = 0
    if tag is not None and tag.max_concurrent_tx is not None:
        active = await count_open_transactions(
            session, request.id_tag, except_connector=(cp, connector)
        )
    info = id_tag_info(
        tag,
        at=at,
        unknown=settings.unknown_id_tags,
        active_transactions=active,
        reserved_for_other=reserved_for_other,
    )
    row, new = await insert_start(
        session,
        {
            "charge_point_id": cp,
            "connector_id": connector,
            "id_tag": request.id_tag,
            "id_tag_status": info.status.value,
            "meter_start": request.meter_start,
            "start_time": request.timestamp,
            "reservation_id": reservation if reservation is not None else reservation_id,
            "price_per_kwh": settings.tariff_price_per_kwh,
            "session_fee": settings.tariff_session_fee,
            "currency": settings.tariff_currency,
            "last_seen_at": received,
            "warnings": warnings,
        },
    )
    if not new:
        DUPLICATES.labels("StartTransaction").inc()
        log.info("%s re-sent StartTransaction of transaction %d", cp, row.id)
        stored = AuthorizationStatus(row.id_tag_status)
        info = IdTagInfo(
            status=stored, expiry_date=info.expiry_date, parent_id_tag=info.parent_id_tag
        )
        return StartTransactionResponse(transaction_id=row.id, id_tag_info=info)
    _warn(ctx, f"StartTransaction {row.id}", warnings)
    for old in await supersede_open(session, cp, connector):
        log.warning("%s: transaction %d was never stopped; %d superseded it", cp, old, row.id)
    if reservation is not None and info.status is AuthorizationStatus.ACCEPTED:
        await reservations.use(session, cp, reservation, row.id, at)
    await ctx.emit(
        "transaction.started",
        event_body("transaction.started", at=row.start_time, **transaction_doc(row)),
    )
    return StartTransactionResponse(transaction_id=row.id, id_tag_info=info)


@router.on(Action.STOP_TRANSACTION)
async def stop_transaction(
    request: StopTransactionRequest, ctx: CallContext
) -> StopTransactionResponse:
    """Close the transaction with meterStop, energy and cost; keep an unmatched stop for review."""
    settings: Settings = ctx.settings
    session, cp, received = ctx.session, ctx.charge_point_id, _received(ctx)
    warnings: list[str] = []
    ahead = future_warning("timestamp", request.timestamp, received, settings.clock_skew)
    warnings += [ahead] if ahead else []
    meter_stop = request.meter_stop
    at = decision_time(request.timestamp, received, settings.clock_skew)
    info = None
    tx_id = request.transaction_id
    if request.id_tag is not None:
        row, tag = await load_for_stop(session, tx_id, request.id_tag)
        info = id_tag_info(tag, at=at, unknown=settings.unknown_id_tags)
    else:
        row = await load_for_update(session, tx_id)
    kind = None
    if row is None:
        kind = "unknown_transaction"
    elif row.charge_point_id != cp:
        kind = "other_charge_point"
    elif row.stopped_by == CHARGE_POINT:
        if (row.meter_stop, row.stop_time) == (meter_stop, request.timestamp):
            DUPLICATES.labels("StopTransaction").inc()
            return StopTransactionResponse(id_tag_info=info)
        kind = "already_stopped"
    if kind is not None:
        kept = await record_unmatched(
            session,
            cp,
            kind,
            request.to_payload(),
            transaction_id=tx_id,
            id_tag=request.id_tag,
            meter_stop=meter_stop,
            timestamp=request.timestamp,
            reason=request.reason.value if request.reason else None,
            received=received,
        )
        if kept:
            log.warning("%s StopTransaction of %s kept for review: %s", cp, tx_id, kind)
        return StopTransactionResponse(id_tag_info=info)

    assert row is not None
    closed_by_operator = row.stopped_by == OPERATOR
    updated = await apply_stop(
        session,
        row,
        meter_stop=meter_stop,
        stop_time=request.timestamp,
        reason=request.reason.value if request.reason else None,
        stop_id_tag=request.id_tag,
        stopped_by=CHARGE_POINT,
        warnings=warnings,
    )
    _warn(ctx, f"StopTransaction {row.id}", updated.warnings[len(row.warnings or []) :])
    if request.transaction_data:
        await mv.insert_rows(
            session,
            mv.sampled_rows(
                request.transaction_data,
                cp_id=cp,
                connector_id=row.connector_id,
                transaction_id=row.id,
                source="StopTransaction",
                received=received,
            ),
        )
    if closed_by_operator:
        # The CP's own figures replace the operator's estimate; the close stays in the audit.
        await audit(
            session,
            row.id,
            "stopped_after_operator_close",
            reason="the charge point's StopTransaction arrived after an operator closed it",
            details={"operatorMeterStop": row.meter_stop, "meterStop": meter_stop},
        )
    await ctx.emit(
        "transaction.stopped",
        event_body("transaction.stopped", at=updated.stop_time, **transaction_doc(updated)),
    )
    return StopTransactionResponse(id_tag_info=info)


@router.on(Action.METER_VALUES)
async def meter_values(request: MeterValuesRequest, ctx: CallContext) -> MeterValuesResponse:
    """One MeterValues on its own: a batch of one (a decision-less reply, or a failed batch)."""
    await meter_values_batch([(request, ctx)], ctx)
    return MeterValuesResponse()


@router.on_batch(Action.METER_VALUES)
async def meter_values_batch(
    calls: list[tuple[MeterValuesRequest, CallContext]], ctx: Context
) -> None:
    """Store every sampled value against its transaction (or connector), once per message."""
    settings: Settings = ctx.settings
    session = ctx.session
    # The digest reads the validated message (times to the microsecond), the event the payload.
    keys = [
        (call.charge_point_id, digest(request.model_dump(by_alias=True, exclude_none=True)))
        for request, call in calls
    ]
    first = await mv.claim_messages(session, keys)
    fresh = [pair for pair, new in zip(calls, first, strict=True) if new]
    if copies := len(calls) - len(fresh):
        ctx.on_commit(lambda: DUPLICATES.labels("MeterValues").inc(copies))
    ids = (request.transaction_id for request, _ in fresh)
    locked = await mv.lock_transactions(session, (i for i in ids if i is not None))
    rows: list[dict[str, Any]] = []
    signs: dict[int, mv.SignOfLife] = {}
    events: list[tuple[str, dict[str, Any]]] = []
    for request, call in fresh:
        cp, received = call.charge_point_id, _received(call)
        warnings: list[str] = []
        connector, tx_id, row = request.connector_id, request.transaction_id, None
        if tx_id is not None:
            row = locked.get(tx_id)
            if row is None or row.charge_point_id != cp:
                # Kept against the connector: an id we never gave this CP must not attach its
                # readings to somebody else's transaction.
                warnings.append(f"transactionId {tx_id} is not a transaction of this charge point")
                row = None
        newest = max((reading.timestamp for reading in request.meter_value), default=None)
        ahead = newest and future_warning("timestamp", newest, received, settings.clock_skew)
        warnings += [ahead] if ahead else []
        rows += mv.sampled_rows(
            request.meter_value,
            cp_id=cp,
            connector_id=connector,
            transaction_id=row.id if row is not None else None,
            source="MeterValues",
            received=received,
        )
        if row is not None:
            sign = signs.setdefault(row.id, mv.SignOfLife(row))
            sign.add(received, mv.newest_register(request.meter_value))
        _warn(call, "MeterValues", warnings)
        body = event_body("meter.values", at=received, chargePointId=cp, connectorId=connector)
        if tx_id is not None:
            body["transactionId"] = tx_id  # as the CP sent it, known or not
        events.append(("meter.values", body | {"meterValue": request.to_payload()["meterValue"]}))
    await mv.insert_rows(session, rows)
    await mv.signs_of_life(session, signs.values())
    await ctx.emit_many(events)
