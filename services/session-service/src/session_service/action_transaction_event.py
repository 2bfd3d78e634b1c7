"""OCPP 2.0.1 TransactionEvent: Started ~ StartTransaction, Updated ~ MeterValues of a
transaction, Ended ~ StopTransaction, into the same transactions and meter values as 1.6.

Each event is applied once per (station, transactionId, seqNo): a copy gets the answer the
first one got and changes nothing. The transaction is the fold of its events (tx_events.py), so
late and out-of-order events (an offline station's queue) end in the same transaction: an Ended
that comes first creates it stopped, a late Started fills in the start without reopening it.
A transaction that never sees its Ended is left to the stale monitor, as a 1.6 one.
"""

from __future__ import annotations

import logging
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from csms_shared.contracts.events import TransactionStarted, TransactionStopped
from csms_shared.ocpp.v16.enums import AuthorizationStatus
from csms_shared.ocpp.v201.actions import Action as V201Action
from csms_shared.ocpp.v201.datatypes import IdTokenInfo
from csms_shared.ocpp.v201.enums import IdTokenEnum
from csms_shared.ocpp.v201.messages import TransactionEventRequest, TransactionEventResponse

from . import id_tokens, reservations, tx_events
from . import meter_values as mv
from . import tx_event_store as store
from .action_start import decide_start
from .auth import id_tag_info, resent_start_info, same_id_tag, stop_info
from .checks import timestamp_checks
from .handling import DUPLICATES, log_warnings, received_at
from .id_tags import load_id_tag_and_reservations
from .meter_events import meter_event
from .resources import transaction_of
from .router import CallCtx, router
from .settings import Settings
from .tariffs import prices
from .transactions import CHARGE_POINT, OPERATOR, Priced, audit, digest, stop_values, supersede_open

log = logging.getLogger(__name__)

SOURCE = "TransactionEvent"


async def _token_decision(
    session: AsyncSession,
    settings: Settings,
    cp: str,
    row: Row[Any],
    state: tx_events.TransactionState,
    summary: tx_events.EventSummary,
    at: datetime,
    warnings: list[str],
) -> tuple[IdTokenInfo | None, str | None, int | None]:
    """The idTokenInfo this event's idToken earns (None: it has none), the status the
    transaction keeps (its first token's) and the reservation a first token consumes."""
    token, kind = summary.id_token, summary.id_token_type
    status = row.id_tag_status
    if token is None or kind is None:
        return None, status, None
    first = status is None and same_id_tag(state.id_token, token)
    if id_tokens.needs_no_list(IdTokenEnum(kind)):
        return id_tokens.accepted(), AuthorizationStatus.ACCEPTED.value if first else status, None
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
        status = info.status.value
    elif status is not None and same_id_tag(row.id_tag, token):
        # The token the transaction runs for again: the status it was started with.
        info = resent_start_info(status, id_tag_info(tag, at=at, unknown=unknown))
    else:
        # Another token (a card presented to stop it): judged as the list has it.
        judged = stop_info(token, tag, at=at, unknown=unknown)
        assert judged is not None  # a token was given
        info = judged
    return id_tokens.token_info(info, tag, unknown=unknown), status, reservation


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
    state: tx_events.TransactionState,
    status: str | None,
    price: dict[str, Any],
    received: datetime,
) -> dict[str, Any]:
    """The transaction's columns as its events now describe it (the stop: `stop_values`)."""
    register = state.last_register
    values: dict[str, Any] = {
        "connector_id": state.connector_id,
        "evse_connector_id": state.evse_connector_id,
        "id_tag": state.id_token,
        "id_token_type": state.id_token_type,
        "id_tag_status": status,
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
    if (stored := await store.stored_response(session, cp, station_tx, seq_no)) is not None:
        answer, first_digest = stored
        ctx.on_commit(lambda: DUPLICATES.labels("TransactionEvent").inc())
        if first_digest != content:
            log.warning("%s re-used seqNo %d of transaction %s", cp, seq_no, station_tx)
        return TransactionEventResponse.model_validate(answer)
    state = tx_events.fold([*await store.summaries(session, row.id), summary])
    info, status, reservation = await _token_decision(
        session, settings, cp, row, state, summary, at, warnings
    )
    price = await _priced(session, settings, row, state.start_time)
    new = await store.write(session, row.id, _values(row, state, status, price, received))
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
    await store.record_event(
        session, cp, station_tx, row.id, summary, response.to_payload(), content
    )
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
