"""The CP calls this service owns: Authorize, StartTransaction, StopTransaction, MeterValues."""

from __future__ import annotations

import logging
from typing import Any

from csms_shared.bus.events import event_body
from csms_shared.bus.router import in_rounds
from csms_shared.ocpp.v16.actions import Action
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
from .calls import DUPLICATES, log_warnings, received_at
from .checks import future_warning
from .id_tags import count_open_transactions, load_id_tags_and_reservations
from .router import CallCtx, Ctx, router
from .starting import start_round
from .stopping import stop_round
from .transactions import digest

log = logging.getLogger(__name__)


@router.on(Action.AUTHORIZE)
async def authorize(request: AuthorizeRequest, ctx: CallCtx) -> AuthorizeResponse:
    """Whether the idTag may charge here: the list, its group, its limit, reservations."""
    [response] = await authorize_group([(request, ctx)], ctx)
    return response


@router.on_group(Action.AUTHORIZE)
async def authorize_group(
    calls: list[tuple[AuthorizeRequest, CallCtx]], ctx: Ctx
) -> list[AuthorizeResponse]:
    """Authorize for many CPs at once: one read of their tags and reservations (no writes)."""
    settings = ctx.settings
    session = ctx.session
    asked = [(r.id_tag, c.charge_point_id, received_at(c)) for r, c in calls]
    responses = []
    for (request, _), (_, cp, now), (tag, in_force) in zip(
        calls, asked, await load_id_tags_and_reservations(session, asked), strict=True
    ):
        held, ours = reservations.held_for_others(
            in_force, request.id_tag, tag.parent_id_tag if tag else None
        )
        fully_reserved = (
            held > 0
            and not ours
            and charge_point_fully_reserved(
                held, len(await reservations.known_connectors(session, cp))
            )
        )
        active = 0
        if tag is not None and tag.max_concurrent_tx is not None:
            # Transactions on this CP do not count: presenting the card again to stop one of
            # them must not be refused; StartTransaction applies the limit in full.
            active = await count_open_transactions(session, request.id_tag, except_charge_point=cp)
        info = id_tag_info(
            tag,
            at=now,
            unknown=settings.unknown_id_tags,
            active_transactions=active,
            reserved_for_other=fully_reserved,
        )
        responses.append(AuthorizeResponse(id_tag_info=info))
    return responses


@router.on(Action.START_TRANSACTION)
async def start_transaction(
    request: StartTransactionRequest, ctx: CallCtx
) -> StartTransactionResponse:
    """A transactionId (the same for a re-send) and the idTag's status, even when refused."""
    [response] = await start_round([(request, ctx)], ctx)
    return response


@router.on_group(Action.START_TRANSACTION)
async def start_transaction_group(
    calls: list[tuple[StartTransactionRequest, CallCtx]], ctx: Ctx
) -> list[StartTransactionResponse]:
    """StartTransactions of many CPs; a CP's or an idTag's second one in a later round."""
    return await in_rounds(
        calls,
        lambda call: (("cp", call[1].charge_point_id), ("tag", call[0].id_tag.lower())),
        lambda part: start_round(part, ctx),
    )


@router.on(Action.STOP_TRANSACTION)
async def stop_transaction(
    request: StopTransactionRequest, ctx: CallCtx
) -> StopTransactionResponse:
    """Close the transaction with meterStop, energy and cost; keep an unmatched stop for review."""
    [response] = await stop_round([(request, ctx)], ctx)
    return response


@router.on_group(Action.STOP_TRANSACTION)
async def stop_transaction_group(
    calls: list[tuple[StopTransactionRequest, CallCtx]], ctx: Ctx
) -> list[StopTransactionResponse]:
    """StopTransactions of many CPs; a second stop of one transaction in a later round."""
    return await in_rounds(
        calls,
        lambda call: (("cp", call[1].charge_point_id), ("tx", call[0].transaction_id)),
        lambda part: stop_round(part, ctx),
    )


@router.on(Action.METER_VALUES)
async def meter_values(request: MeterValuesRequest, ctx: CallCtx) -> MeterValuesResponse:
    """One MeterValues on its own: a batch of one (a decision-less reply, or a failed batch)."""
    await meter_values_batch([(request, ctx)], ctx)
    return MeterValuesResponse()


@router.on_batch(Action.METER_VALUES)
async def meter_values_batch(calls: list[tuple[MeterValuesRequest, CallCtx]], ctx: Ctx) -> None:
    """Store every sampled value against its transaction (or connector), once per message."""
    settings = ctx.settings
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
        cp, received = call.charge_point_id, received_at(call)
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
        log_warnings(call, "MeterValues", warnings)
        body = event_body("meter.values", at=received, chargePointId=cp, connectorId=connector)
        if tx_id is not None:
            body["transactionId"] = tx_id  # as the CP sent it, known or not
        events.append(("meter.values", body | {"meterValue": request.to_payload()["meterValue"]}))
    await mv.insert_rows(session, rows)
    await mv.signs_of_life(session, signs.values())
    await ctx.emit_many(events)
