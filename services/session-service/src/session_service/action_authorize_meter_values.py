"""The CP calls Authorize and MeterValues, of 1.6 and 2.0.1 (StartTransaction: action_start.py,
StopTransaction: action_stop.py, TransactionEvent: action_transaction_event.py)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from csms_shared.bus.slots import breathe
from csms_shared.contracts.events import MeterValues
from csms_shared.ocpp.v16.actions import Action
from csms_shared.ocpp.v16.messages import (
    AuthorizeRequest,
    AuthorizeResponse,
    MeterValuesRequest,
    MeterValuesResponse,
)
from csms_shared.ocpp.v201 import messages as v201
from csms_shared.ocpp.v201.actions import Action as V201Action
from csms_shared.ocpp.version import OcppVersion
from csms_shared.vocabulary.readings import Reading

from . import id_tokens, reservations, tx_events
from . import meter_values as mv
from .acceptance import counts_for_transaction, meter_values_warnings
from .auth import Authorization, IdTagRecord, authorize_info, counts_open_transactions
from .checks import future_warning
from .handling import DUPLICATES, log_warnings, received_at
from .id_tags import (
    count_open_transactions,
    load_id_tag_and_reservations,
    load_id_tags_and_reservations,
)
from .meter_events import meter_event, with_current
from .roaming_tokens import Asker
from .router import CallCtx, Ctx, router
from .settings import Settings
from .transactions import digest

log = logging.getLogger(__name__)


async def _authorization(
    session: AsyncSession,
    settings: Settings,
    id_tag: str,
    cp: str,
    now: datetime,
    tag: IdTagRecord | None,
    in_force: list[reservations.Held],
) -> Authorization:
    """The decision Authorize answers, from the tag's entry and the CP's reservations in force
    (`load_id_tags_and_reservations`); the counts it needs are read only when they matter."""
    held, ours = reservations.held_for_others(in_force, id_tag, tag.parent_id_tag if tag else None)
    known = 0
    if held > 0 and not ours:
        known = len(await reservations.known_connectors(session, cp))
    active = 0
    if counts_open_transactions(tag):
        # Transactions on this CP do not count: presenting the card again to stop one of them
        # must not be refused; StartTransaction applies the limit in full.
        active = await count_open_transactions(session, id_tag, except_charge_point=cp)
    return authorize_info(
        tag,
        at=now,
        unknown=settings.unknown_id_tags,
        held_for_others=held,
        ours=ours,
        known_connectors=known,
        active_transactions=active,
    )


@router.on(Action.AUTHORIZE)
async def authorize(request: AuthorizeRequest, ctx: CallCtx) -> AuthorizeResponse:
    """Whether the idTag may charge here: the list, its group, its limit, reservations."""
    session = ctx.session
    cp, now = ctx.charge_point_id, received_at(ctx)
    tag, in_force = await load_id_tag_and_reservations(
        session, request.id_tag, cp, now, asker=Asker.of(ctx)
    )
    info = await _authorization(session, ctx.settings, request.id_tag, cp, now, tag, in_force)
    return AuthorizeResponse(id_tag_info=info.to_v16())


# A group of Authorize: one read of its tags and reservations (see start_transaction_batch
# for the figures). Same answers as `authorize` call after call
# (tests/integration/test_session_groups.py).
@router.on_batch(Action.AUTHORIZE)
async def authorize_batch(
    calls: list[tuple[AuthorizeRequest, CallCtx]], ctx: Ctx
) -> list[AuthorizeResponse]:
    """`authorize` for many CPs at once: one read of their tags and reservations (no writes)."""
    session = ctx.session
    asked = [(r.id_tag, c.charge_point_id, received_at(c)) for r, c in calls]
    found = await load_id_tags_and_reservations(session, asked, asker=Asker.of(ctx))
    return [
        AuthorizeResponse(
            id_tag_info=(await _authorization(session, ctx.settings, *one, tag, in_force)).to_v16()
        )
        for one, (tag, in_force) in zip(asked, found, strict=True)
    ]


@router.on(Action.METER_VALUES)
async def meter_values(request: MeterValuesRequest, ctx: CallCtx) -> MeterValuesResponse:
    """Store every sampled value against its transaction (or connector), once per message."""
    session = ctx.session
    # The digest reads the validated message (times to the microsecond), the event the payload.
    key = (ctx.charge_point_id, digest(request.model_dump(by_alias=True, exclude_none=True)))
    [first] = await mv.claim_messages(session, [key])
    if not first:
        ctx.on_commit(lambda: DUPLICATES.labels("MeterValues").inc())
        return MeterValuesResponse()
    tx_id = request.transaction_id
    locked = await mv.lock_transactions(session, [] if tx_id is None else [tx_id])
    rows, row, event = await _readings(request, ctx, locked)
    await mv.insert_rows(session, rows)
    if row is not None:
        sign = mv.SignOfLife(row)
        sign.add(received_at(ctx), mv.newest_register(request.meter_value))
        await mv.signs_of_life(session, [sign])
    await ctx.emit_many(with_current([event]))
    return MeterValuesResponse()


async def _readings(
    request: MeterValuesRequest, ctx: CallCtx, locked: Mapping[int, mv.Locked]
) -> tuple[list[mv.MeterRow], mv.Locked | None, MeterValues]:
    """A MeterValues' rows, the transaction they count for (if it is the CP's), its event."""
    cp, received = ctx.charge_point_id, received_at(ctx)
    connector, tx_id = request.connector_id, request.transaction_id
    row = locked.get(tx_id) if tx_id is not None else None
    warnings = meter_values_warnings(
        tx_id,
        row.charge_point_id if row is not None else None,
        cp,
        [reading.timestamp for reading in request.meter_value],
        received,
        ctx.settings.clock_skew,
    )
    if row is not None and not counts_for_transaction(row.charge_point_id, cp):
        row = None  # its readings are kept against the connector only
    rows = mv.sampled_rows(
        request.meter_value,
        cp_id=cp,
        connector_id=connector,
        transaction_id=row.id if row is not None else None,
        source="MeterValues",
        received=received,
    )
    await log_warnings(ctx, "MeterValues", warnings, row.id if row is not None else None)
    event = MeterValues(
        at=received,
        charge_point_id=cp,
        connector_id=connector,
        evse_id=connector,  # a 1.6 connector is an EVSE of one connector
        readings=[r for value in request.meter_value for r in Reading.from_v16(value)],
        meter_value=request.meter_value,
        ocpp_version=OcppVersion.V16,
    )
    if tx_id is not None:
        event.transaction_id = tx_id  # as the CP sent it, known or not
    return rows, row, event


# MeterValues gathered by the runtime (bench/RESULTS.md: the set-based batch cut the
# session-service's CPU per MeterValues from 5,012 to ~440 us): five statements a batch whatever
# its size. Same rows, events and answers as `meter_values` one call after the other
# (tests/integration/test_meter_values_batch.py proves it).
@router.on_batch(Action.METER_VALUES)
async def meter_values_batch(calls: list[tuple[MeterValuesRequest, CallCtx]], ctx: Ctx) -> None:
    """`meter_values` for many messages (of many CPs) in five statements."""
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
    rows: list[mv.MeterRow] = []
    signs: dict[int, mv.SignOfLife] = {}
    events: list[MeterValues] = []
    for n, (request, call) in enumerate(fresh):
        await breathe(n)  # decisions share this event loop (csms_shared/bus/slots.py)
        found, row, event = await _readings(request, call, locked)
        rows += found
        if row is not None:
            sign = signs.setdefault(row.id, mv.SignOfLife(row))
            sign.add(received_at(call), mv.newest_register(request.meter_value))
        events.append(event)
    await mv.insert_rows(session, rows)
    await mv.signs_of_life(session, signs.values())
    await ctx.emit_many(with_current(events))


# -- OCPP 2.0.1: the same rules, its spellings ----------------------------------------------


@router.on(V201Action.AUTHORIZE)
async def authorize_v201(request: v201.AuthorizeRequest, ctx: CallCtx) -> v201.AuthorizeResponse:
    """`authorize` for an idToken: the list entry of its id and type, idTokenInfo with the
    parent tag as groupIdToken; NoAuthorization needs no entry."""
    token = request.id_token
    if id_tokens.needs_no_list(token.type):
        return v201.AuthorizeResponse(id_token_info=id_tokens.accepted())
    session = ctx.session
    cp, now = ctx.charge_point_id, received_at(ctx)
    found, in_force = await load_id_tag_and_reservations(
        session, token.id_token, cp, now, asker=Asker.of(ctx)
    )
    tag = id_tokens.entry_for(found, token.type)
    settings = ctx.settings
    info = await _authorization(session, settings, token.id_token, cp, now, tag, in_force)
    answer = id_tokens.token_info(info, tag)
    return v201.AuthorizeResponse(id_token_info=answer)


@router.on(V201Action.METER_VALUES)
async def meter_values_v201(
    request: v201.MeterValuesRequest, ctx: CallCtx
) -> v201.MeterValuesResponse:
    """Store every sampled value against its EVSE (2.0.1 MeterValues name no transaction: a
    transaction's values come in its TransactionEvents), once per message."""
    await meter_values_v201_batch([(request, ctx)], ctx)
    return v201.MeterValuesResponse()


# 2.0.1 MeterValues gathered by the runtime, as 1.6's: one claim of every digest, one INSERT of
# every sampled value, one of the events, whatever the number of messages.
@router.on_batch(V201Action.METER_VALUES)
async def meter_values_v201_batch(
    calls: list[tuple[v201.MeterValuesRequest, CallCtx]], ctx: Ctx
) -> None:
    """`meter_values_v201` for many messages (of many stations)."""
    session = ctx.session
    keys = [(call.charge_point_id, digest(request.to_payload())) for request, call in calls]
    first = await mv.claim_messages(session, keys)
    if copies := first.count(False):
        ctx.on_commit(lambda: DUPLICATES.labels("MeterValues").inc(copies))
    rows: list[mv.MeterRow] = []
    events: list[MeterValues] = []
    for (request, call), new in zip(calls, first, strict=True):
        if not new:
            continue
        cp, received = call.charge_point_id, received_at(call)
        newest = max(reading.timestamp for reading in request.meter_value)
        if ahead := future_warning("timestamp", newest, received, call.settings.clock_skew):
            await log_warnings(call, "MeterValues", [ahead])
        rows += tx_events.sampled_rows(
            request.meter_value,
            cp_id=cp,
            connector_id=request.evse_id,
            transaction_id=None,
            source="MeterValues",
            received=received,
        )
        event = meter_event(
            request.meter_value,
            at=received,
            cp_id=cp,
            connector_id=request.evse_id,
            transaction_id=None,
        )
        if event is not None:
            events.append(event)
    await mv.insert_rows(session, rows)
    await ctx.emit_many(with_current(events))
