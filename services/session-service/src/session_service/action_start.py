"""StartTransaction: the transaction it opens, and the reservation it consumes."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from csms_shared.bus.rounds import in_rounds
from csms_shared.ocpp.v16.actions import Action
from csms_shared.ocpp.v16.messages import StartTransactionRequest, StartTransactionResponse

from . import reservations, tx_lifecycle, tx_v16
from .auth import (
    Authorization,
    IdTagRecord,
    charging_priority,
    resent_start_info,
    token_source,
)
from .checks import INT32, connector_warnings, fits, timestamp_checks
from .handling import DUPLICATES, log_warnings, received_at
from .id_tags import (
    limited_id_tags,
    load_id_tag_and_reservations,
    load_id_tags_and_reservations,
)
from .roaming_tokens import Asker
from .router import CallCtx, Ctx, router
from .settings import Settings
from .start_decision import decide_start
from .tariffs import Price, prices
from .transactions import StartRow, insert_starts
from .tx_fold import Fold

log = logging.getLogger(__name__)


# The steps of a StartTransaction, taken call by call by `start_transaction` and for a whole
# round of calls by `start_transaction_batch`: each rule is written once, here.


@dataclass(slots=True)
class _Start:
    """A StartTransaction being handled: its warnings so far and the time its idTag is judged at."""

    request: StartTransactionRequest
    call: CallCtx
    warnings: list[str]
    at: datetime

    @property
    def charge_point_id(self) -> str:
        return self.call.charge_point_id


async def _checked(
    session: AsyncSession, settings: Settings, request: StartTransactionRequest, call: CallCtx
) -> _Start:
    """Warnings about the start's timestamp and connector; the time to judge its idTag at."""
    warnings, at = timestamp_checks(request.timestamp, received_at(call), settings.clock_skew)
    connector = request.connector_id
    known = await reservations.known_connectors(session, call.charge_point_id, connector)
    return _Start(request, call, warnings + connector_warnings(connector, known), at)


async def _decided(
    session: AsyncSession,
    settings: Settings,
    start: _Start,
    tag: IdTagRecord | None,
    held: list[reservations.Held],
) -> tuple[Authorization, int | None]:
    """The idTag's status for this start, and the reservation the start consumes."""
    request = start.request
    return await decide_start(
        session,
        settings,
        start.charge_point_id,
        request.connector_id,
        request.id_tag,
        request.reservation_id,
        start.at,
        start.warnings,
        tag,
        held,
    )


def _start_row(
    start: _Start,
    tag: IdTagRecord | None,
    info: Authorization,
    reservation: int | None,
    price: Price,
) -> StartRow:
    """The transaction a start opens: what the fold of its Started event says (`tx_v16`), with
    its tag's chargingPriority and the price it is charged at."""
    request = start.request
    named = request.reservation_id
    if reservation is None and named is not None and fits(named, INT32):
        # Named but not consumed: kept. One past 32 bits names none of ours (warned of as not
        # in force) and fits no column.
        reservation = named
    state = tx_v16.state_of(Fold.of([tx_v16.started(request, reservation, start.warnings)]))
    assert state.id_token is not None and state.id_token_type is not None  # the idTag's
    source, party = token_source(tag)
    return StartRow(
        charge_point_id=start.charge_point_id,
        connector_id=state.connector_id,
        evse_connector_id=state.evse_connector_id or None,  # connector 0: the station
        id_tag=state.id_token,
        id_token_type=state.id_token_type,
        id_tag_status=info.decision.value,
        meter_start=state.meter_start,
        start_time=state.start_time,
        reservation_id=state.reservation_id,
        charging_priority=charging_priority(tag),
        tariff_id=price.tariff_id,
        price_per_kwh=price.price_per_kwh,
        session_fee=price.session_fee,
        per_minute_fee=price.per_minute_fee,
        parking_per_minute_fee=price.parking_per_minute_fee,
        currency=price.currency,
        last_seen_at=received_at(start.call),
        ocpp_version=start.call.ocpp_version.value,
        id_token_source=source,
        roaming_party=party,
        warnings=state.warnings,
    )


async def _answered(
    session: AsyncSession,
    start: _Start,
    info: Authorization,
    reservation: int | None,
    row: Row[Any],
    new: bool,
) -> StartTransactionResponse:
    """The answer to a start; a new transaction's warnings, reservation used and event."""
    cp = start.charge_point_id
    if not new:
        DUPLICATES.labels("StartTransaction").inc()
        log.info("%s re-sent StartTransaction of transaction %d", cp, row.id)
        stored = resent_start_info(row.id_tag_status, info)
        return StartTransactionResponse(transaction_id=row.id, id_tag_info=stored.to_v16())
    await log_warnings(start.call, f"StartTransaction {row.id}", start.warnings, row.id)
    await tx_lifecycle.use_reservation(session, cp, reservation, row.id, info.decision, start.at)
    await tx_lifecycle.started(start.call, row)
    return StartTransactionResponse(transaction_id=row.id, id_tag_info=info.to_v16())


@router.on(Action.START_TRANSACTION)
async def start_transaction(
    request: StartTransactionRequest, ctx: CallCtx
) -> StartTransactionResponse:
    """A transactionId (the same for a re-send) and the idTag's status, even when refused."""
    settings = ctx.settings
    session = ctx.session
    start = await _checked(session, settings, request, ctx)
    cp = ctx.charge_point_id
    # Locking the tag serializes its starts, so a concurrency limit holds across replicas.
    tag, held = await load_id_tag_and_reservations(
        session, request.id_tag, cp, start.at, asker=Asker.of(ctx), lock=True
    )
    info, reservation = await _decided(session, settings, start, tag, held)
    [price] = await prices(session, settings, [(cp, start.at)])
    [(row, new)] = await insert_starts(session, [_start_row(start, tag, info, reservation, price)])
    response = await _answered(session, start, info, reservation, row, new)
    if new:
        await tx_lifecycle.supersede(session, [(cp, request.connector_id)])
    return response


# A group of StartTransactions (bench/RESULTS.md: set-based groups took the request/reply loop
# from 750-820 to 830-1,030 calls/s; without them the session-service's CPU per call doubled in a
# quick run of this branch, 592 -> 1,161-1,561 us). Same rows and answers as `start_transaction`
# call after call (tests/integration/test_session_groups.py).
@router.on_batch(Action.START_TRANSACTION)
async def start_transaction_batch(
    calls: list[tuple[StartTransactionRequest, CallCtx]], ctx: Ctx
) -> list[StartTransactionResponse]:
    """`start_transaction` for many CPs; a CP's or an idTag's second one in a later round."""
    limited = await limited_id_tags(ctx.session, [request.id_tag for request, _ in calls])
    responses: list[StartTransactionResponse] = []
    for part in _cut_before_limits(calls, limited):
        responses += await in_rounds(
            part,
            lambda call: (("cp", call[1].charge_point_id), ("tag", call[0].id_tag.lower())),
            lambda part: _start_round(part, ctx),
        )
    return responses


def _cut_before_limits(
    calls: list[tuple[StartTransactionRequest, CallCtx]], limited: set[str]
) -> list[list[tuple[StartTransactionRequest, CallCtx]]]:
    """The group cut before each start of a tag with a limit. Its count must see what every
    earlier start superseded, on any CP, as call after call it would; rounds would let a later
    start of another CP and tag go first, and a round supersedes only after its decisions."""
    parts: list[list[tuple[StartTransactionRequest, CallCtx]]] = []
    for call in calls:
        if not parts or call[0].id_tag.lower() in limited:
            parts.append([])
        parts[-1].append(call)
    return parts


async def _start_round(
    calls: list[tuple[StartTransactionRequest, CallCtx]], ctx: Ctx
) -> list[StartTransactionResponse]:
    """StartTransactions of different CPs and idTags: one read of the tags and reservations,
    one INSERT, one look at what else is open on their connectors."""
    settings = ctx.settings
    session = ctx.session
    starts = [await _checked(session, settings, request, call) for request, call in calls]
    # Locking the tags serializes their starts, so a concurrency limit holds across replicas.
    found = await load_id_tags_and_reservations(
        session,
        [(s.request.id_tag, s.charge_point_id, s.at) for s in starts],
        asker=Asker.of(ctx),
        lock=True,
    )
    priced = await prices(session, settings, [(s.charge_point_id, s.at) for s in starts])
    decided = [
        await _decided(session, settings, start, tag, held)
        for start, (tag, held) in zip(starts, found, strict=True)
    ]
    rows = [
        _start_row(start, tag, info, reservation, price)
        for start, (tag, _), (info, reservation), price in zip(
            starts, found, decided, priced, strict=True
        )
    ]
    responses: list[StartTransactionResponse] = []
    opened: list[tuple[str, int]] = []
    for start, (info, reservation), (row, new) in zip(
        starts, decided, await insert_starts(session, rows), strict=True
    ):
        responses.append(await _answered(session, start, info, reservation, row, new))
        if new:
            opened.append((start.charge_point_id, start.request.connector_id))
    await tx_lifecycle.supersede(session, opened)
    return responses
