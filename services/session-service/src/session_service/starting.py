"""StartTransaction: the transaction it opens, and the reservation it consumes."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from csms_shared.bus.rounds import in_rounds
from csms_shared.contracts.events import TransactionStarted
from csms_shared.ocpp.v16.actions import Action
from csms_shared.ocpp.v16.datatypes import IdTagInfo
from csms_shared.ocpp.v16.enums import AuthorizationStatus
from csms_shared.ocpp.v16.messages import StartTransactionRequest, StartTransactionResponse

from . import reservations
from .auth import IdTagRecord, id_tag_info, reservation_admits
from .calls import DUPLICATES, log_warnings, received_at
from .checks import connector_warnings, decision_time, future_warning
from .id_tags import (
    count_open_transactions,
    load_id_tag_and_reservations,
    load_id_tags_and_reservations,
)
from .resources import transaction_of
from .router import CallCtx, Ctx, router
from .tariffs import price_columns, prices
from .transactions import insert_starts, supersede_open

log = logging.getLogger(__name__)


async def reservation_for_start(
    session: AsyncSession,
    cp_id: str,
    connector_id: int,
    id_tag: str,
    tag: IdTagRecord | None,
    reservation_id: int | None,
    at: datetime,
    warnings: list[str],
    held: list[reservations.Held] | None = None,
) -> tuple[int | None, bool]:
    """(the reservation to consume, whether the connector is reserved for another idTag).

    `held`: the reservations in force on the CP at `at`, if the caller read them already.
    """
    parent = tag.parent_id_tag if tag is not None else None
    if reservation_id is not None:
        named = await reservations.get(session, cp_id, reservation_id)
        if named is None or named.status != reservations.ACTIVE or named.expiry_date <= at:
            warnings.append(f"reservationId {reservation_id} is not in force on this charge point")
        elif reservation_admits(named.id_tag, named.parent_id_tag, id_tag, parent):
            return reservation_id, False
        else:
            warnings.append(f"reservation {reservation_id} is held for another idTag")
            return None, True
    if held is None:
        held = await reservations.in_force(session, cp_id, at)
    in_force = [x for x in held if x.connector_id in (connector_id, 0)]
    for one in in_force:
        # A CP that forgot the reservationId still consumes the reservation made for this tag.
        if reservation_admits(one.id_tag, one.parent_id_tag, id_tag, parent):
            return one.reservation_id, False
    # A reservation of connector 0 leaves the choice of connector to the CP (5.13); only one
    # of this very connector refuses other tags here.
    return None, any(one.connector_id == connector_id for one in in_force)


@router.on(Action.START_TRANSACTION)
async def start_transaction(
    request: StartTransactionRequest, ctx: CallCtx
) -> StartTransactionResponse:
    """A transactionId (the same for a re-send) and the idTag's status, even when refused."""
    settings = ctx.settings
    session = ctx.session
    cp, connector = ctx.charge_point_id, request.connector_id
    received = received_at(ctx)
    warnings: list[str] = []
    ahead = future_warning("timestamp", request.timestamp, received, settings.clock_skew)
    warnings += [ahead] if ahead else []
    warnings += connector_warnings(
        connector, await reservations.known_connectors(session, cp, connector)
    )
    at = decision_time(request.timestamp, received, settings.clock_skew)
    # Locking the tag serializes its starts, so a concurrency limit holds across replicas.
    tag, held = await load_id_tag_and_reservations(session, request.id_tag, cp, at, lock=True)
    reservation, reserved_for_other = await reservation_for_start(
        session, cp, connector, request.id_tag, tag, request.reservation_id, at, warnings, held
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
    [price] = await prices(session, settings, [(cp, at)])
    start = {
        "charge_point_id": cp,
        "connector_id": connector,
        "id_tag": request.id_tag,
        "id_tag_status": info.status.value,
        "meter_start": request.meter_start,
        "start_time": request.timestamp,
        "reservation_id": reservation if reservation is not None else request.reservation_id,
        **price_columns(price),
        "last_seen_at": received,
        "warnings": warnings,
    }
    [(row, new)] = await insert_starts(session, [start])
    if not new:
        DUPLICATES.labels("StartTransaction").inc()
        log.info("%s re-sent StartTransaction of transaction %d", cp, row.id)
        stored = IdTagInfo(
            status=AuthorizationStatus(row.id_tag_status),
            expiry_date=info.expiry_date,
            parent_id_tag=info.parent_id_tag,
        )
        return StartTransactionResponse(transaction_id=row.id, id_tag_info=stored)
    await log_warnings(ctx, f"StartTransaction {row.id}", warnings, row.id)
    if reservation is not None and info.status is AuthorizationStatus.ACCEPTED:
        await reservations.use(session, cp, reservation, row.id, at)
    await ctx.emit(transaction_of(row, TransactionStarted, at=row.start_time))
    for old, newest in await supersede_open(session, [(cp, connector)]):
        log.warning("transaction %d was never stopped; %d superseded it", old, newest)
    return StartTransactionResponse(transaction_id=row.id, id_tag_info=info)


# A group of StartTransactions (bench/RESULTS.md: set-based groups took the request/reply loop
# from 750-820 to 830-1,030 calls/s; without them the session-service's CPU per call doubled in a
# quick run of this branch, 592 -> 1,161-1,561 us). Same rows and answers as `start_transaction`
# call after call (tests/integration/test_session_groups.py).
@router.on_batch(Action.START_TRANSACTION)
async def start_transaction_batch(
    calls: list[tuple[StartTransactionRequest, CallCtx]], ctx: Ctx
) -> list[StartTransactionResponse]:
    """`start_transaction` for many CPs; a CP's or an idTag's second one in a later round."""
    return await in_rounds(
        calls,
        lambda call: (("cp", call[1].charge_point_id), ("tag", call[0].id_tag.lower())),
        lambda part: _start_round(part, ctx),
    )


async def _start_round(
    calls: list[tuple[StartTransactionRequest, CallCtx]], ctx: Ctx
) -> list[StartTransactionResponse]:
    """StartTransactions of different CPs and idTags: one read of the tags and reservations,
    one INSERT, one look at what else is open on their connectors."""
    settings = ctx.settings
    session = ctx.session
    asked: list[tuple[StartTransactionRequest, CallCtx, list[str], datetime]] = []
    for request, call in calls:
        received = received_at(call)
        warnings: list[str] = []
        ahead = future_warning("timestamp", request.timestamp, received, settings.clock_skew)
        warnings += [ahead] if ahead else []
        cp, connector = call.charge_point_id, request.connector_id
        warnings += connector_warnings(
            connector, await reservations.known_connectors(session, cp, connector)
        )
        asked.append(
            (
                request,
                call,
                warnings,
                decision_time(request.timestamp, received, settings.clock_skew),
            )
        )
    # Locking the tags serializes their starts, so a concurrency limit holds across replicas.
    found = await load_id_tags_and_reservations(
        session, [(r.id_tag, c.charge_point_id, at) for r, c, _, at in asked], lock=True
    )
    priced = await prices(session, settings, [(c.charge_point_id, at) for _, c, _, at in asked])
    decided: list[tuple[IdTagInfo, int | None]] = []
    starts: list[dict[str, Any]] = []
    for (request, call, warnings, at), (tag, held), price in zip(asked, found, priced, strict=True):
        cp, connector = call.charge_point_id, request.connector_id
        reservation, reserved_for_other = await reservation_for_start(
            session, cp, connector, request.id_tag, tag, request.reservation_id, at, warnings, held
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
        decided.append((info, reservation))
        starts.append(
            {
                "charge_point_id": cp,
                "connector_id": connector,
                "id_tag": request.id_tag,
                "id_tag_status": info.status.value,
                "meter_start": request.meter_start,
                "start_time": request.timestamp,
                "reservation_id": reservation
                if reservation is not None
                else request.reservation_id,
                **price_columns(price),
                "last_seen_at": received_at(call),
                "warnings": warnings,
            }
        )
    responses: list[StartTransactionResponse] = []
    opened: list[tuple[str, int]] = []
    for (request, call, warnings, at), (info, reservation), (row, new) in zip(
        asked, decided, await insert_starts(session, starts), strict=True
    ):
        cp = call.charge_point_id
        if not new:
            DUPLICATES.labels("StartTransaction").inc()
            log.info("%s re-sent StartTransaction of transaction %d", cp, row.id)
            stored = IdTagInfo(
                status=AuthorizationStatus(row.id_tag_status),
                expiry_date=info.expiry_date,
                parent_id_tag=info.parent_id_tag,
            )
            responses.append(StartTransactionResponse(transaction_id=row.id, id_tag_info=stored))
            continue
        await log_warnings(call, f"StartTransaction {row.id}", warnings, row.id)
        opened.append((cp, request.connector_id))
        if reservation is not None and info.status is AuthorizationStatus.ACCEPTED:
            await reservations.use(session, cp, reservation, row.id, at)
        await call.emit(transaction_of(row, TransactionStarted, at=row.start_time))
        responses.append(StartTransactionResponse(transaction_id=row.id, id_tag_info=info))
    if opened:
        for old, newest in await supersede_open(session, opened):
            log.warning("transaction %d was never stopped; %d superseded it", old, newest)
    return responses
