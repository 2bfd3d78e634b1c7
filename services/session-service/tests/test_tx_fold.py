"""The running Fold a 2.0.1 transaction keeps equals folding all its events again, in any order,
kept as JSON between events."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from session_service.tx_events import BEGIN, END, ENDED, STARTED, EventSummary, Reading
from session_service.tx_fold import NO_REGISTER, Fold, TransactionState, fold

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


# -- the rule written out directly over every event (tx_fold's docstring), as the oracle -------


def _wh(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _first(values: list[Any]) -> Any:
    return next((v for v in values if v is not None), None)


def _pick(pools: list[list[Reading]], last: bool) -> Reading | None:
    for pool in pools:
        if pool:
            return pool[-1 if last else 0]
    return None


def direct(events: list[EventSummary]) -> TransactionState:
    events = sorted(events, key=lambda e: e.seq_no)
    started = next((e for e in events if e.event_type == STARTED), None)
    ended = next((e for e in events if e.event_type == ENDED), None)
    everything = sorted((r for e in events for r in e.readings), key=lambda r: r.at)
    own = sorted(started.readings, key=lambda r: r.at) if started else []
    begins = [r for r in everything if r.context == BEGIN]
    begin = _pick([[r for r in own if r.context == BEGIN], own, begins, everything], last=False)
    tokened = [e for e in ([started] if started else []) + events if e.id_token is not None]
    state = TransactionState(
        started=started is not None,
        start_time=started.timestamp if started else min(e.timestamp for e in events),
        meter_start=_wh(begin.wh) if begin else 0,
        connector_id=_first([e.evse_id for e in events]) or 0,
        evse_connector_id=_first([e.connector_id for e in events]),
        id_token=tokened[0].id_token if tokened else None,
        id_token_type=tokened[0].id_token_type if tokened else None,
        remote_start_id=_first([e.remote_start_id for e in events]),
        reservation_id=_first([e.reservation_id for e in events]),
        charging_state=_first([e.charging_state for e in reversed(events)]),
        last_register=everything[-1] if everything else None,
        warnings=[w for e in events for w in e.warnings],
    )
    if state.connector_id == 0:
        state.warnings.append("no event of this transaction named its EVSE")
    if ended is not None:
        mine = sorted(ended.readings, key=lambda r: r.at)
        ends = [r for r in everything if r.context == END]
        end = _pick([[r for r in mine if r.context == END], mine, ends, everything], last=True)
        state.ended = True
        state.stop_time = ended.timestamp
        state.meter_stop = _wh(end.wh) if end else state.meter_start
        if begin is None:
            state.warnings.append(NO_REGISTER)
        reasons = [e.stopped_reason for e in reversed(events)]
        state.stop_reason = ended.stopped_reason or _first(reasons) or "Local"
        state.stop_id_token = ended.id_token
    return state


# -- random events: few distinct times and values, so ties are common -------------------------

a_reading = st.builds(
    Reading,
    at=st.integers(0, 3).map(lambda m: T0 + timedelta(minutes=m)),
    wh=st.integers(0, 3).map(lambda n: Decimal(n * 1000) + Decimal("0.5") * (n % 2)),
    context=st.sampled_from([None, BEGIN, END, "Sample.Periodic"]),
)
maybe = st.one_of(st.none(), st.integers(1, 2))


@st.composite
def transactions(draw: st.DrawFn) -> list[EventSummary]:
    seqs = draw(st.lists(st.integers(0, 20), min_size=1, max_size=7, unique=True))
    events = []
    for seq in seqs:
        token = draw(st.sampled_from([None, "CARD-1", "CARD-2"]))
        events.append(
            EventSummary(
                seq_no=seq,
                event_type=draw(st.sampled_from([STARTED, "Updated", "Updated", ENDED])),
                timestamp=T0 + timedelta(minutes=draw(st.integers(0, 4))),
                trigger_reason="MeterValuePeriodic",
                id_token=token,
                id_token_type=None
                if token is None
                else draw(st.sampled_from(["ISO14443", "Local"])),
                evse_id=draw(maybe),
                connector_id=draw(maybe),
                stopped_reason=draw(st.sampled_from([None, "EVDisconnected", "Remote"])),
                remote_start_id=draw(maybe),
                reservation_id=draw(maybe),
                charging_state=draw(st.sampled_from([None, "Charging", "SuspendedEV", "Idle"])),
                readings=tuple(draw(st.lists(a_reading, max_size=3))),
                warnings=tuple(draw(st.lists(st.sampled_from(["late", "odd"]), max_size=1))),
            )
        )
    return events


@settings(max_examples=400, deadline=None)
@given(transactions(), st.randoms(use_true_random=False))
def test_the_running_fold_is_the_fold_of_all_events_in_any_order(
    events: list[EventSummary], random: Any
) -> None:
    order = list(events)
    random.shuffle(order)
    running: object = None
    for event in order:
        kept = Fold.from_json(running)
        kept.add(event)
        running = orjson.loads(kept.to_json())  # as the transaction row gives it back
    assert Fold.from_json(running).state() == direct(events) == fold(events)


def test_a_fold_of_many_updates_stays_small() -> None:
    updates = [
        EventSummary(
            seq_no=n,
            event_type="Updated",
            timestamp=T0 + timedelta(minutes=n),
            trigger_reason="MeterValuePeriodic",
            readings=(Reading(T0 + timedelta(minutes=n), Decimal(n * 100), None),),
        )
        for n in range(1, 500)
    ]
    kept = Fold.of(updates).to_json()
    assert len(kept) < 2000
    state = Fold.from_json(orjson.loads(kept)).state()
    assert state.meter_start == 100 and state.last_register == updates[-1].readings[0]


def test_a_fold_kept_before_charging_states_were_folded_reads_as_having_none() -> None:
    kept = orjson.loads(Fold.of([EventSummary(0, STARTED, T0, "CablePluggedIn")]).to_json())
    del kept["lastCharging"]
    older = Fold.from_json(kept)
    assert older.charging_state is None
    older.add(EventSummary(1, "Updated", T0, "ChargingStateChanged", charging_state="Charging"))
    assert older.state().charging_state == "Charging"


@settings(max_examples=100, deadline=None)
@given(transactions())
def test_a_copy_of_a_fold_takes_in_events_without_changing_it(events: list[EventSummary]) -> None:
    *before, last = events
    kept = Fold.of(before)
    copy = replace(kept)
    copy.add(last)
    assert kept == Fold.of(before)
    assert copy == Fold.of(events)
