"""Parking time: read from a transaction's charging states (any order, copies, none known,
SuspendedEVSE never billed), priced by the one cost engine on top of the time fee (with and
without VAT), and against the real Postgres: states kept once, a 1.6 station's reports kept
against its open transaction only, a tariff's parking fee kept, announced and copied at the
start, and a stop that counts and bills the parking time."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
import pytest
from pydantic import ValidationError
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from csms_shared.bus.router import Context
from csms_shared.contracts.events import ConnectorStatus
from csms_shared.contracts.resources import Transaction
from csms_shared.contracts.rpc import CreateTariff, OfTransaction, UpdateTariff
from csms_shared.ocpp.v16.enums import ChargePointErrorCode, ChargePointStatus
from csms_shared.ocpp.version import OcppVersion
from csms_shared.vocabulary import ChargingState
from session_service import charging_states, rpc_tariffs, rpc_transactions, sweeper
from session_service.charging_states import StateAt, parking_seconds, reported_at
from session_service.db import charging_states as states_table
from session_service.db import outbox, tariff_assignments, tariffs
from session_service.energy import Cost, cost
from session_service.follow_commands_connectors import connectors_status
from session_service.resources import transaction_of
from session_service.settings import Settings
from session_service.tariffs import prices
from session_service.transactions import StartRow, apply_stop, insert_starts

T0 = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
EV = ChargingState.EV_CONNECTED
CHARGING = ChargingState.CHARGING
SUSPENDED_EV = ChargingState.SUSPENDED_EV
SUSPENDED_EVSE = ChargingState.SUSPENDED_EVSE
IDLE = ChargingState.IDLE


def _at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def _states(*pairs: tuple[float, ChargingState]) -> list[StateAt]:
    return [StateAt(_at(minutes), state) for minutes, state in pairs]


# -- the rule ------------------------------------------------------------------------------


def test_parking_is_the_time_in_ev_connected_suspended_ev_or_idle() -> None:
    # Plugged in 5 min, charging 30, the car full 15, unplugged-but-not-stopped 10: 30 min.
    history = _states((0, EV), (5, CHARGING), (35, SUSPENDED_EV), (50, IDLE))
    assert parking_seconds(history, T0, _at(60)) == 30 * 60


def test_the_order_reports_arrive_in_and_their_copies_change_nothing() -> None:
    history = _states((0, CHARGING), (40, SUSPENDED_EV), (50, CHARGING), (55, EV))
    expected = parking_seconds(history, T0, _at(60))
    assert expected == 15 * 60
    shuffled = [history[2], history[0], history[3], history[1], history[2], history[0]]
    assert parking_seconds(shuffled, T0, _at(60)) == expected


def test_a_station_that_never_says_its_state_is_never_billed_parking() -> None:
    assert parking_seconds([], T0, _at(60)) == 0


def test_before_the_first_state_known_nothing_is_parking() -> None:
    # The station first spoke at 20 minutes: the 20 before are not guessed.
    assert parking_seconds(_states((20, SUSPENDED_EV)), T0, _at(60)) == 40 * 60


def test_a_pause_the_site_causes_is_never_billed() -> None:
    history = _states((0, CHARGING), (10, SUSPENDED_EVSE), (40, SUSPENDED_EV))
    assert parking_seconds(history, T0, _at(60)) == 20 * 60
    assert parking_seconds(_states((0, SUSPENDED_EVSE)), T0, _at(60)) == 0


def test_only_the_time_between_start_and_stop_counts() -> None:
    # A state from before the start runs on into it; one after the stop counts nothing.
    history = _states((-30, EV), (10, CHARGING), (50, SUSPENDED_EV), (70, IDLE))
    assert parking_seconds(history, T0, _at(60)) == 20 * 60
    # A stop before its start (a station's clock) parks nothing.
    assert parking_seconds(history, _at(60), T0) == 0


def test_two_states_at_one_instant_never_bill_the_driver() -> None:
    history = _states((0, SUSPENDED_EV), (0, CHARGING))
    assert parking_seconds(history, T0, _at(60)) == 0


def test_parking_counts_whole_seconds() -> None:
    history = [StateAt(T0 + timedelta(seconds=10.6), IDLE)]
    assert parking_seconds(history, T0, T0 + timedelta(seconds=100)) == 89


def test_a_station_clock_ahead_of_ours_does_not_win() -> None:
    ours = _at(10)
    assert reported_at(_at(15), ours) == ours
    assert reported_at(_at(5), ours) == _at(5)
    assert reported_at(None, ours) == ours


# -- the price -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("vat", "expected"),
    [
        # 1 + 10 kWh x 0.30 + 60 min x 0.10 + 20 min x 0.25 = 15.00
        (None, Cost(Decimal("15.00"))),
        (Decimal(19), Cost(Decimal("15.00"), Decimal("17.85"))),
    ],
)
def test_parking_minutes_are_billed_at_the_parking_fee_on_top_before_vat(
    vat: Decimal | None, expected: Cost
) -> None:
    priced = cost(
        10_000,
        Decimal("0.30"),
        Decimal("1.00"),
        per_minute_fee=Decimal("0.10"),
        seconds=3600,
        parking_per_minute_fee=Decimal("0.25"),
        parking_seconds=1200,
        vat=vat,
    )
    assert priced == expected


def test_parking_is_billed_by_the_second_and_a_fee_of_0_changes_nothing() -> None:
    fee = Decimal("0.20")
    assert cost(0, Decimal(0), Decimal(0), parking_per_minute_fee=fee, parking_seconds=90) == Cost(
        Decimal("0.30")
    )
    before = cost(12_500, Decimal("0.30"), Decimal(0), per_minute_fee=Decimal("0.10"), seconds=90)
    unpriced = cost(
        12_500,
        Decimal("0.30"),
        Decimal(0),
        per_minute_fee=Decimal("0.10"),
        seconds=90,
        parking_seconds=60,
    )
    assert unpriced == before == Cost(Decimal("3.90"))


# -- against the database ------------------------------------------------------------------


def _name(what: str) -> str:
    return f"{what}-{uuid.uuid4().hex[:10]}"


def _ctx(session: AsyncSession, settings: Settings) -> Context[Settings]:
    return Context(session, settings, outbox=outbox)


async def _run(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, handler: Any, params: Any
) -> Any:
    async with sessions() as session, session.begin():
        return await handler(params, _ctx(session, settings))


def _start(cp: str, price: Any, version: OcppVersion = OcppVersion.V16) -> StartRow:
    return StartRow(
        charge_point_id=cp,
        connector_id=1,
        evse_connector_id=1,
        id_tag="PARK-TAG",
        id_token_type="ISO14443",
        id_tag_status="Accepted",
        meter_start=1000,
        start_time=T0,
        reservation_id=None,
        charging_priority=0,
        tariff_id=price.tariff_id,
        price_per_kwh=price.price_per_kwh,
        session_fee=price.session_fee,
        per_minute_fee=price.per_minute_fee,
        parking_per_minute_fee=price.parking_per_minute_fee,
        currency=price.currency,
        last_seen_at=T0,
        ocpp_version=version.value,
        id_token_source="list",
        roaming_party=None,
        warnings=[],
    )


async def _started(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    cp: str,
    version: OcppVersion = OcppVersion.V16,
    **tariff: Any,
) -> Any:
    """A transaction on connector 1 of `cp`, started at T0 under a tariff of its own."""
    async with sessions() as session, session.begin():
        if tariff:
            tariff_id = (
                await session.execute(
                    insert(tariffs)
                    .values(name=_name("park"), currency="EUR", **tariff)
                    .returning(tariffs.c.id)
                )
            ).scalar_one()
            await session.execute(
                insert(tariff_assignments).values(
                    tariff_id=tariff_id, target_kind="charge_point", target=cp
                )
            )
        [price] = await prices(session, settings, [(cp, T0)])
        [(row, _)] = await insert_starts(session, [_start(cp, price, version)])
    return row


def _status(
    cp: str,
    status: ChargePointStatus,
    minutes: float,
    *,
    version: OcppVersion = OcppVersion.V16,
    at: datetime | None = None,
) -> ConnectorStatus:
    return ConnectorStatus.model_validate(
        {
            "chargePointId": cp,
            "connectorId": 1,
            "status": status,
            "errorCode": ChargePointErrorCode.NO_ERROR,
            "timestamp": _at(minutes),
            "ocppVersion": version,
            "at": at or _at(120),
        }
    )


async def _kept(sessions: async_sessionmaker[AsyncSession], transaction_id: int) -> list[Any]:
    async with sessions() as session:
        rows = await session.execute(
            select(states_table.c.at, states_table.c.state)
            .where(states_table.c.transaction_id == transaction_id)
            .order_by(states_table.c.at)
        )
        return [(row.at, row.state) for row in rows]


async def test_a_state_is_kept_once(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    row = await _started(sessions, settings, _name("CP"))
    state = StateAt(_at(5), SUSPENDED_EV)
    for _ in range(2):
        async with sessions() as session, session.begin():
            await charging_states.record(session, [(row.id, state), (row.id, state)])
    assert await _kept(sessions, row.id) == [(_at(5), "SuspendedEV")]


async def test_a_16_stations_reports_go_to_its_open_transaction_only(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    cp, other = _name("CP"), _name("CP")
    row = await _started(sessions, settings, cp)
    v201 = await _started(sessions, settings, other, OcppVersion.V201)
    events = [
        _status(cp, ChargePointStatus.CHARGING, 0),
        _status(cp, ChargePointStatus.SUSPENDED_EV, 40),
        _status(cp, ChargePointStatus.SUSPENDED_EV, 40),  # the event delivered again
        _status(cp, ChargePointStatus.FINISHING, 50),  # Finishing: EVConnected
        _status(cp, ChargePointStatus.AVAILABLE, 55),  # no charging state
        # A clock ahead of ours: the event's time.
        _status(cp, ChargePointStatus.SUSPENDED_EVSE, 200, at=_at(58)),
        # A 2.0.1 station's state comes with its TransactionEvents.
        _status(other, ChargePointStatus.SUSPENDED_EV, 10, version=OcppVersion.V201),
    ]
    async with sessions() as session, session.begin():
        await connectors_status(events, _ctx(session, settings))
    assert await _kept(sessions, row.id) == [
        (_at(0), "Charging"),
        (_at(40), "SuspendedEV"),
        (_at(50), "EVConnected"),
        (_at(58), "SuspendedEVSE"),
    ]
    assert await _kept(sessions, v201.id) == []
    # Once it is stopped, none is open: a report is kept nowhere.
    async with sessions() as session, session.begin():
        stopped = await apply_stop(
            session,
            row,
            meter_stop=11_000,
            stop_time=_at(60),
            reason=None,
            stop_id_tag=None,
            stopped_by="ChargePoint",
        )
    async with sessions() as session, session.begin():
        late = _status(cp, ChargePointStatus.SUSPENDED_EV, 59)
        await connectors_status([late], _ctx(session, settings))
    assert len(await _kept(sessions, row.id)) == 4
    # SuspendedEV 40-50 and EVConnected 50-58 (SuspendedEVSE after): 18 minutes.
    assert stopped.parking_seconds == 18 * 60


async def test_a_stop_counts_and_bills_the_parking_time(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    row = await _started(
        sessions,
        settings,
        _name("CP"),
        price_per_kwh=Decimal("0.30"),
        session_fee=1,
        per_minute_fee=Decimal("0.10"),
        parking_per_minute_fee=Decimal("0.25"),
        vat=19,
    )
    assert row.parking_per_minute_fee == Decimal("0.25")
    async with sessions() as session, session.begin():
        await charging_states.record(
            session,
            [(row.id, StateAt(_at(40), SUSPENDED_EV)), (row.id, StateAt(_at(0), CHARGING))],
        )
        stopped = await apply_stop(
            session,
            row,
            meter_stop=11_000,
            stop_time=_at(60),
            reason=None,
            stop_id_tag=None,
            stopped_by="ChargePoint",
        )
    shown = transaction_of(stopped, Transaction)
    # 1 + 10 kWh x 0.30 + 60 min x 0.10 + 20 min x 0.25 = 15.00 net, 17.85 with 19 % VAT.
    assert (shown.parking_seconds, shown.cost_excl_vat, shown.cost) == (1200, 15, 17.85)
    wire = shown.model_dump(mode="json", by_alias=True)
    assert (wire["parkingSeconds"], wire["parkingPerMinuteFee"]) == (1200, 0.25)


async def test_a_running_transaction_shows_no_parking_time_yet(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    row = await _started(sessions, settings, _name("CP"))
    wire = transaction_of(row, Transaction).model_dump(mode="json", by_alias=True)
    assert "parkingSeconds" not in wire
    assert wire["parkingPerMinuteFee"] == 0


async def _announced(sessions: async_sessionmaker[AsyncSession], tariff_id: int) -> list[Any]:
    async with sessions() as session:
        bodies = await session.scalars(
            select(outbox.c.body)
            .where(outbox.c.routing_key == "tariff.changed")
            .order_by(outbox.c.id)
        )
        events = [orjson.loads(body) for body in bodies]
    return [e.get("tariff") for e in events if e["tariffId"] == tariff_id]


async def test_a_tariffs_parking_fee_is_kept_announced_and_changed(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    plain = CreateTariff(name=_name("plain"), price_per_kwh=Decimal("0.3"), currency="EUR")
    created = await _run(sessions, settings, rpc_tariffs.create_tariff, plain)
    assert created.parking_per_minute_fee == 0
    changed = await _run(
        sessions,
        settings,
        rpc_tariffs.update_tariff,
        UpdateTariff(tariff_id=created.tariff_id, parking_per_minute_fee=Decimal("0.1234")),
    )
    assert changed.parking_per_minute_fee == 0.1234
    renamed = await _run(
        sessions,
        settings,
        rpc_tariffs.update_tariff,
        UpdateTariff(tariff_id=created.tariff_id, name=_name("renamed")),
    )
    assert renamed.parking_per_minute_fee == 0.1234
    announced = await _announced(sessions, created.tariff_id)
    assert [t["parkingPerMinuteFee"] for t in announced] == [0, 0.1234, 0.1234]


@pytest.mark.parametrize(
    ("fee", "error"),
    [("-0.01", "greater than or equal to 0"), ("0.00001", "4 decimal places")],
)
def test_a_parking_fee_out_of_range_is_refused(fee: str, error: str) -> None:
    with pytest.raises(ValidationError, match=error):
        CreateTariff(name="t", price_per_kwh=1, currency="EUR", parking_per_minute_fee=fee)


def test_a_parking_fee_cannot_be_cleared() -> None:
    with pytest.raises(ValidationError, match="parkingPerMinuteFee: cannot be cleared"):
        UpdateTariff(tariff_id=1, parking_per_minute_fee=None)


async def test_the_cost_so_far_is_the_one_formula_up_to_now_and_the_final_cost_once_ended(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    """`running_cost` (what the roaming service sends an eMSP while a session runs): the
    engine's formula over the energy, time and parking so far; once stopped, the stored cost."""
    cp = _name("CP")
    started_at = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    async with sessions() as session, session.begin():
        tariff_id = (
            await session.execute(
                insert(tariffs)
                .values(
                    name=_name("running"),
                    currency="EUR",
                    price_per_kwh=Decimal("0.40"),
                    session_fee=Decimal("1.00"),
                    per_minute_fee=Decimal("0.01"),
                    parking_per_minute_fee=Decimal("0.10"),
                    vat=Decimal("19"),
                )
                .returning(tariffs.c.id)
            )
        ).scalar_one()
        await session.execute(
            insert(tariff_assignments).values(
                tariff_id=tariff_id, target_kind="charge_point", target=cp
            )
        )
        [price] = await prices(session, settings, [(cp, started_at)])
        start = _start(cp, price)
        start["start_time"] = started_at
        [(row, _)] = await insert_starts(session, [start])
        await session.execute(
            insert(states_table),
            [
                {"transaction_id": row.id, "at": started_at, "state": CHARGING.value},
                {
                    "transaction_id": row.id,
                    "at": started_at + timedelta(minutes=90),
                    "state": SUSPENDED_EV.value,
                },
            ],
        )
    asked = OfTransaction(transaction_id=row.id)
    so_far = await _run(sessions, settings, rpc_transactions.running_cost, asked)
    assert not so_far.ended and so_far.energy_wh == 0
    assert so_far.duration_seconds >= 7200 and so_far.parking_seconds >= 1800
    expected = cost(
        so_far.energy_wh,
        Decimal("0.40"),
        Decimal("1.00"),
        per_minute_fee=Decimal("0.01"),
        seconds=so_far.duration_seconds,
        parking_per_minute_fee=Decimal("0.10"),
        parking_seconds=so_far.parking_seconds,
        vat=Decimal("19"),
    )
    assert (Decimal(str(so_far.cost_excl_vat)), Decimal(str(so_far.cost_incl_vat))) == (
        expected.excl_vat,
        expected.incl_vat,
    )

    async with sessions() as session, session.begin():
        stopped = await apply_stop(
            session,
            row,
            meter_stop=6000,
            stop_time=started_at + timedelta(hours=2),
            reason=None,
            stop_id_tag=None,
            stopped_by="ChargePoint",
        )
    final = await _run(sessions, settings, rpc_transactions.running_cost, asked)
    told = transaction_of(stopped, Transaction)
    assert final.ended and final.energy_wh == 5000 and final.parking_seconds == 1800
    assert (final.cost_excl_vat, final.cost_incl_vat) == (told.cost_excl_vat, told.cost_incl_vat)


async def test_the_sweep_prunes_old_charging_states_of_ended_transactions_only(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    ended = await _started(sessions, settings, _name("CP"))
    running = await _started(sessions, settings, _name("CP"))
    async with sessions() as session, session.begin():
        for row in (ended, running):
            await session.execute(
                insert(states_table),
                [
                    {"transaction_id": row.id, "at": _at(0), "state": CHARGING.value},
                    {"transaction_id": row.id, "at": _at(30), "state": SUSPENDED_EV.value},
                ],
            )
        await apply_stop(
            session,
            ended,
            meter_stop=2000,
            stop_time=_at(60),
            reason=None,
            stop_id_tag=None,
            stopped_by="ChargePoint",
        )

    async def prune(days: float) -> None:
        # Until nothing more goes (other tests' rows share the table, and a batch is bounded).
        async with sessions() as session, session.begin():
            while await sweeper.prune_charging_states(session, T0 + timedelta(days=days)):
                pass

    await prune(29)  # not a month old yet
    assert len(await _kept(sessions, ended.id)) == len(await _kept(sessions, running.id)) == 2
    await prune(31)  # the ended one's go; the open one keeps its states
    assert await _kept(sessions, ended.id) == []
    assert len(await _kept(sessions, running.id)) == 2
