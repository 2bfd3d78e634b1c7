"""What one 2.0.1 TransactionEvent writes to its transaction: the decision about its idToken,
the prices when a late Started moves the start, the transaction's columns as its events now
describe it, and its end as 1.6's StopTransaction writes one (for `action_transaction_event.py`,
one event or a group)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from csms_shared.ocpp.v201.datatypes import IdTokenInfo
from csms_shared.ocpp.v201.enums import IdTokenEnum
from csms_shared.vocabulary import AuthorizationDecision

from . import id_tokens, tx_events
from .auth import (
    Authorization,
    IdTagRecord,
    charging_priority,
    id_tag_info,
    resent_start_info,
    same_id_tag,
    stop_info,
    token_source,
)
from .id_tags import load_id_tag_and_reservations
from .roaming_tokens import Asker
from .settings import Settings
from .start_decision import decide_start
from .tariffs import Price, prices
from .transactions import CHARGE_POINT, Priced, StopRow, stop_values
from .tx_event_store import TransactionValues
from .tx_fold import Fold, TransactionState
from .tx_lifecycle import wakes


@dataclass(frozen=True, slots=True)
class Decision:
    """What an event's idToken earns: its idTokenInfo (None: the event has none), the status
    the transaction keeps (its first token's), the reservation a first token consumes and the
    chargingPriority the transaction keeps (its first token's), and where the first token's
    decision came from (`auth.token_source`; None: no first token in this event)."""

    info: IdTokenInfo | None
    status: str | None
    reservation: int | None
    charging_priority: int
    source: tuple[str, str | None] | None = None


async def token_decision(
    session: AsyncSession,
    settings: Settings,
    cp: str,
    row: Row[Any],
    state: TransactionState,
    summary: tx_events.EventSummary,
    at: datetime,
    warnings: list[str],
    *,
    asker: Asker,
) -> Decision:
    """The decision about this event's idToken (see `Decision`)."""
    token, kind = summary.id_token, summary.id_token_type
    status, priority = row.id_tag_status, row.charging_priority
    if token is None or kind is None:
        return Decision(None, status, None, priority)
    first = status is None and same_id_tag(state.id_token, token)
    if not first:
        later = await later_token_info(
            session, settings, cp, (row.id_tag, status), (token, kind), at, asker=asker
        )
        return Decision(later, status, None, priority)
    reserved = summary.reservation_id or state.reservation_id
    # Locking the tag serializes its starts, so a concurrency limit holds across replicas.
    first_token = FirstToken(state.connector_id, token, kind, reserved)
    judged, tag, reservation = await first_token_decision(
        session, settings, cp, first_token, at, warnings, asker=asker, lock=True
    )
    if judged is None:
        kept = AuthorizationDecision.ACCEPTED.value
        return Decision(id_tokens.accepted(), kept, None, priority, token_source(None))
    info = id_tokens.token_info(judged, tag)
    status, priority = judged.decision.value, charging_priority(tag)
    return Decision(info, status, reservation, priority, token_source(tag))


@dataclass(frozen=True, slots=True)
class FirstToken:
    """A transaction's first idToken (`token`, of type `kind`) presented on `connector` (its
    EVSE; 0: none named), and the reservation its events name, if any."""

    connector: int
    token: str
    kind: str
    reserved: int | None


async def first_token_decision(
    session: AsyncSession,
    settings: Settings,
    cp: str,
    first: FirstToken,
    at: datetime,
    warnings: list[str],
    *,
    asker: Asker,
    lock: bool,
) -> tuple[Authorization | None, IdTagRecord | None, int | None]:
    """A transaction's first idToken judged as StartTransaction judges its idTag: the
    decision (None: a type no list holds, NoAuthorization among them, accepted as it is), its
    list entry and the reservation the start consumes. `lock`: the tag stays locked until the
    commit (the event's own handling); an Ended answered apart only reads."""
    if id_tokens.needs_no_list(IdTokenEnum(first.kind)):
        return None, None, None
    found, held = await load_id_tag_and_reservations(
        session, first.token, cp, at, asker=asker, lock=lock
    )
    tag = id_tokens.entry_for(found, IdTokenEnum(first.kind))
    judged, reservation = await decide_start(
        session, settings, cp, first.connector, first.token, first.reserved, at, warnings, tag, held
    )
    return judged, tag, reservation


async def later_token_info(
    session: AsyncSession,
    settings: Settings,
    cp: str,
    started: tuple[str | None, str | None],
    token: tuple[str, str],
    at: datetime,
    *,
    asker: Asker,
) -> IdTokenInfo:
    """The idTokenInfo of an idToken that is not its transaction's first decision: the token
    it was started with (`started`: its idToken and status; None: not started yet) gets that
    status again, another token (a card presented to stop it) is judged as the list has it.
    Decides nothing: what an Ended answered apart is told (`ended_id_token_info`) is this."""
    id_token, kind = token
    if id_tokens.needs_no_list(IdTokenEnum(kind)):
        return id_tokens.accepted()
    found, _ = await load_id_tag_and_reservations(session, id_token, cp, at, asker=asker)
    tag = id_tokens.entry_for(found, IdTokenEnum(kind))
    unknown = settings.unknown_id_tags
    started_with, status = started
    if status is not None and same_id_tag(started_with, id_token):
        info = resent_start_info(status, id_tag_info(tag, at=at, unknown=unknown))
    else:
        judged = stop_info(id_token, tag, at=at, unknown=unknown)
        assert judged is not None  # a token was given
        info = judged
    return id_tokens.token_info(info, tag)


async def repriced(
    session: AsyncSession, settings: Settings, row: Row[Any], start: datetime
) -> Price | None:
    """The prices of the transaction: kept (None), unless a late Started moved its start."""
    if start == row.start_time:
        return None
    [price] = await prices(session, settings, [(row.charge_point_id, start)])
    return price


def values_of(
    row: Row[Any],
    fold: Fold,
    state: TransactionState,
    status: str | None,
    price: Price | None,
    received: datetime,
    charging_priority: int,
    source: tuple[str, str | None] | None = None,
) -> TransactionValues:
    """The transaction's columns as its events (`fold`, describing `state`) now describe it
    (`price`: the new prices, if any; `source`: where its first token's decision came from,
    once decided), but for its end (`end_of`)."""
    register = state.last_register
    values = TransactionValues(
        connector_id=state.connector_id,
        evse_connector_id=state.evse_connector_id,
        id_tag=state.id_token,
        id_token_type=state.id_token_type,
        id_tag_status=status,
        charging_priority=charging_priority,
        meter_start=state.meter_start,
        start_time=state.start_time,
        remote_start_id=state.remote_start_id,
        reservation_id=state.reservation_id,
        last_seen_at=max(row.last_seen_at, received),
        last_meter_wh=register.wh if register else None,
        last_meter_at=register.at if register else None,
        warnings=state.warnings,
        event_fold=fold,
    )
    if source is not None:
        values["id_token_source"], values["roaming_party"] = source
    if price is not None:
        values["tariff_id"] = price.tariff_id
        values["price_per_kwh"] = price.price_per_kwh
        values["session_fee"] = price.session_fee
        values["per_minute_fee"] = price.per_minute_fee
        values["parking_per_minute_fee"] = price.parking_per_minute_fee
        values["currency"] = price.currency
        values["vat"] = price.vat
    if wakes(row) and not state.ended:
        values["stale_since"] = None  # alive again (tx_lifecycle.alive_again audits it)
    return values


def end_of(
    row: Row[Any], state: TransactionState, price: Price | None, parking_seconds: int
) -> StopRow | None:
    """The end an ended transaction's events describe (`transactions.stop_values`, written by
    `apply_stops`), for either version (a 1.6 StopTransaction's, `action_stop.py`); None while
    it runs. Counted again by each late 2.0.1 event (`price`: the new prices, if a late Started
    moved the start)."""
    if not state.ended or state.stop_time is None or state.meter_stop is None:
        return None
    kept: Price | Row[Any] = row if price is None else price
    priced = Priced(
        id=row.id,
        meter_start=state.meter_start,
        start_time=state.start_time,
        price_per_kwh=Decimal(kept.price_per_kwh),
        session_fee=Decimal(kept.session_fee),
        per_minute_fee=Decimal(kept.per_minute_fee),
        parking_per_minute_fee=Decimal(kept.parking_per_minute_fee),
        vat=None if kept.vat is None else Decimal(kept.vat),
        warnings=state.warnings,
    )
    return stop_values(
        priced,
        meter_stop=state.meter_stop,
        stop_time=state.stop_time,
        reason=state.stop_reason,
        stop_id_tag=state.stop_id_token,
        stopped_by=CHARGE_POINT,
        parking_seconds=parking_seconds,
    )
