"""A 1.6 transaction's charging state announced as `transaction.charging_state_changed`, the
event 2.0.1's takes: a StatusNotification (followed from `connector.status`) that makes the
newest state of the transaction open on its connector another one, by the station's time, is
announced once through the outbox; a copy, the same state again, a report older than the
newest (arriving late) and one with no transaction open announce nothing."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from csms_shared.contracts.events import ConnectorStatus
from csms_shared.ocpp.v16.enums import ChargePointStatus
from csms_shared.ocpp.version import OcppVersion
from csms_shared.vocabulary import ChargingState
from session_service.charging_states import Changed, ConnectorReport, StateAt, changes
from session_service.db import outbox
from session_service.follow_commands_connectors import connector_status, connectors_status
from session_service.settings import Settings

from .test_parking import _at, _ctx, _kept, _name, _started, _status

CHARGING, SUSPENDED_EV = ChargingState.CHARGING, ChargingState.SUSPENDED_EV
EVENT = "transaction.charging_state_changed"


async def _follow(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, *events: ConnectorStatus
) -> None:
    """The events followed one at a time, each in a transaction of its own."""
    for event in events:
        async with sessions() as session, session.begin():
            await connector_status(event, _ctx(session, settings))


async def _announced(sessions: async_sessionmaker[AsyncSession], cp: str) -> list[dict[str, Any]]:
    """The charging state changes of `cp` in the outbox, oldest first."""
    async with sessions() as session:
        bodies = await session.scalars(
            select(outbox.c.body).where(outbox.c.routing_key == EVENT).order_by(outbox.c.id)
        )
        events = [orjson.loads(body) for body in bodies]
    return [event for event in events if event["chargePointId"] == cp]


def _states(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(event["chargingState"], event["at"]) for event in events]


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


async def test_a_16_state_of_an_open_transaction_is_announced_in_the_event_of_both_versions(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    cp = _name("CP")
    row = await _started(sessions, settings, cp)
    await _follow(sessions, settings, _status(cp, ChargePointStatus.SUSPENDED_EV, 10))
    [event] = await _announced(sessions, cp)
    assert event == {
        "v": 1,
        "event": EVENT,
        "at": _iso(_at(10)),
        "chargePointId": cp,
        "connectorId": 1,
        "evseConnectorId": 1,
        "transactionId": row.id,
        "stationTransactionId": str(row.id),
        "chargingState": "SuspendedEV",
        "ocppVersion": "1.6",
    }
    # Kept for the parking time as before.
    assert await _kept(sessions, row.id) == [(_at(10), "SuspendedEV")]


async def test_the_same_state_again_a_copy_or_a_late_older_report_announces_nothing(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    cp = _name("CP")
    row = await _started(sessions, settings, cp)
    charging = _status(cp, ChargePointStatus.CHARGING, 10)
    await _follow(sessions, settings, charging)
    assert _states(await _announced(sessions, cp)) == [("Charging", _iso(_at(10)))]
    # The event delivered again, the same state said later.
    await _follow(sessions, settings, charging, _status(cp, ChargePointStatus.CHARGING, 20))
    # SuspendedEV at 40, then a Finishing sent at 30 that arrives after it: 40 stays newest.
    suspended = _status(cp, ChargePointStatus.SUSPENDED_EV, 40)
    await _follow(sessions, settings, suspended, _status(cp, ChargePointStatus.FINISHING, 30))
    assert _states(await _announced(sessions, cp)) == [
        ("Charging", _iso(_at(10))),
        ("SuspendedEV", _iso(_at(40))),
    ]
    # Every report is still kept: the parking time is read from all of them.
    assert await _kept(sessions, row.id) == [
        (_at(10), "Charging"),
        (_at(20), "Charging"),
        (_at(30), "EVConnected"),
        (_at(40), "SuspendedEV"),
    ]


async def test_no_transaction_open_on_the_connector_announces_nothing(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    cp, v201, other = _name("CP"), _name("CP"), _name("CP")
    await _started(sessions, settings, v201, OcppVersion.V201)
    row = await _started(sessions, settings, other)
    await _follow(
        sessions,
        settings,
        # No transaction at all: a car waiting before its StartTransaction.
        _status(cp, ChargePointStatus.SUSPENDED_EV, 5),
        # A 2.0.1 station's state comes with its TransactionEvents.
        _status(v201, ChargePointStatus.SUSPENDED_EV, 5, version=OcppVersion.V201),
        # Another connector of a station with a transaction open on connector 1.
        _status(other, ChargePointStatus.SUSPENDED_EV, 5).model_copy(update={"connector_id": 2}),
        # A status that says no car state.
        _status(other, ChargePointStatus.AVAILABLE, 6),
    )
    for station in (cp, v201, other):
        assert await _announced(sessions, station) == []
    assert await _kept(sessions, row.id) == []


async def test_a_group_announces_what_one_at_a_time_does(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    reports = [
        (ChargePointStatus.PREPARING, 0),
        (ChargePointStatus.CHARGING, 10),
        (ChargePointStatus.CHARGING, 10),  # a copy
        (ChargePointStatus.SUSPENDED_EV, 40),
        (ChargePointStatus.SUSPENDED_EVSE, 35),  # late
        (ChargePointStatus.CHARGING, 50),
    ]
    one, many = _name("CP"), _name("CP")
    await _started(sessions, settings, one)
    await _started(sessions, settings, many)
    await _follow(sessions, settings, *(_status(one, status, at) for status, at in reports))
    async with sessions() as session, session.begin():
        group = [_status(many, status, at) for status, at in reports]
        await connectors_status(group, _ctx(session, settings))
    expected = [
        ("EVConnected", _iso(_at(0))),
        ("Charging", _iso(_at(10))),
        ("SuspendedEV", _iso(_at(40))),
        ("Charging", _iso(_at(50))),
    ]
    assert _states(await _announced(sessions, one)) == expected
    assert _states(await _announced(sessions, many)) == expected


def test_of_two_states_at_one_instant_the_one_parking_does_not_count_is_the_newest() -> None:
    def report(state: ChargingState) -> tuple[int, ConnectorReport]:
        return 1, ConnectorReport("CP", 1, "1.6", _at(10), state)

    suspended, charging = report(SUSPENDED_EV), report(CHARGING)
    # Charging after SuspendedEV at one instant is the newer; the other way round it is not.
    assert changes({1: StateAt(_at(10), SUSPENDED_EV)}, [charging]) == [Changed(*charging)]
    assert changes({1: StateAt(_at(10), CHARGING)}, [suspended]) == []
    # Nothing known yet: any state is a change.
    assert changes({}, [suspended, charging]) == [Changed(*suspended), Changed(*charging)]
