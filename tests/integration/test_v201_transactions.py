"""OCPP 2.0.1 transactions through a gateway: TransactionEvent Started/Updated/Ended into the
same transactions as 1.6 (energy, cost, events, the REST list), once per seqNo, in any order;
Authorize of idTokens against the same list.

The CPs send no BootNotification first: the suite admits unknown CPs as Accepted
(REGISTRY_UNKNOWN_CHARGE_POINTS=accept), and these tests are about the session-service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from csms_shared.contracts.rpc import SessionsRpc
from csms_shared.ocpp._base import utcnow
from tests.integration.support import ChargePointClient, eventually
from tests.integration.test_sessions_charging import Bus, extra_session_service, iso, new_tag

pytestmark = pytest.mark.integration


@pytest.fixture
async def bus(suite: Any) -> AsyncIterator[Bus]:
    async with Bus.open(suite.infra.broker_url) as opened:
        yield opened


V201 = ["ocpp2.0.1"]


def tx_event(
    kind: str,
    seq: int,
    at: Any,
    tx_id: str,
    wh: int | None = None,
    *,
    context: str = "Sample.Periodic",
    **extra: Any,
) -> dict[str, Any]:
    """A TransactionEvent request, with an energy register reading if `wh` is given."""
    payload: dict[str, Any] = {
        "eventType": kind,
        "timestamp": iso(at),
        "triggerReason": {"Started": "Authorized", "Ended": "EVCommunicationLost"}.get(
            kind, "MeterValuePeriodic"
        ),
        "seqNo": seq,
        "transactionInfo": {"transactionId": tx_id, **extra.pop("info", {})},
        **extra,
    }
    if wh is not None:
        payload["meterValue"] = [
            {
                "timestamp": iso(at),
                "sampledValue": [
                    {
                        "value": wh,
                        "context": context,
                        "measurand": "Energy.Active.Import.Register",
                        "unitOfMeasure": {"unit": "Wh"},
                    }
                ],
            }
        ]
    return payload


async def connect(connect_cp: Any, cp_id: str) -> ChargePointClient:
    cp: ChargePointClient = await connect_cp(cp_id, subprotocols=V201)
    assert cp.ws.subprotocol == "ocpp2.0.1"
    return cp


async def listed(api: httpx.AsyncClient, cp_id: str) -> list[dict[str, Any]]:
    reply = await api.get("/transactions", params={"chargePointId": cp_id})
    assert reply.status_code == 200, reply.text
    items: list[dict[str, Any]] = reply.json()["items"]
    return items


async def test_a_whole_transaction_with_energy_cost_events_and_the_rest_list(
    connect_cp: Any, cp_id: str, bus: Bus, api: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    tap = await bus.tap("transaction.*")
    tag = new_tag()
    await bus.rpc(SessionsRpc.create_id_tag, idTag=tag, parentIdTag="FLEET-201")
    cp = await connect(connect_cp, cp_id)
    t0 = utcnow().replace(microsecond=0) - timedelta(minutes=30)
    token = {"idToken": tag, "type": "ISO14443"}

    started = await cp.call(
        "TransactionEvent",
        tx_event(
            "Started",
            0,
            t0,
            "TX-A",
            1000,
            context="Transaction.Begin",
            evse={"id": 1, "connectorId": 1},
            idToken=token,
            info={"chargingState": "Charging", "remoteStartId": 7},
        ),
    )
    assert started == {
        "idTokenInfo": {
            "status": "Accepted",
            "groupIdToken": {"idToken": "FLEET-201", "type": "Central"},
        }
    }
    assert (
        await cp.call(
            "TransactionEvent", tx_event("Updated", 1, t0 + timedelta(minutes=10), "TX-A", 5000)
        )
        == {}
    )
    ended = await cp.call(
        "TransactionEvent",
        tx_event(
            "Ended",
            2,
            t0 + timedelta(minutes=30),
            "TX-A",
            13500,
            context="Transaction.End",
            idToken=token,
            info={"stoppedReason": "EVDisconnected"},
        ),
    )
    # The suite runs the default tariff: 0.30 EUR per kWh, no session fee.
    assert ended["totalCost"] == 3.75
    assert ended["idTokenInfo"]["status"] == "Accepted"

    [item] = await listed(api, cp_id)
    assert item["ocppVersion"] == "2.0.1"
    assert item["stationTransactionId"] == "TX-A"
    assert (item["connectorId"], item["evseConnectorId"], item["idTag"]) == (1, 1, tag)
    assert (item["idTokenType"], item["remoteStartId"]) == ("ISO14443", 7)
    assert (item["meterStart"], item["meterStop"], item["energyWh"]) == (1000, 13500, 12500)
    assert (item["cost"], item["stopReason"], item["active"]) == (3.75, "EVDisconnected", False)

    values = await db.fetch(
        "SELECT value, context, source FROM sessions.meter_values WHERE transaction_id = $1"
        " ORDER BY timestamp",
        item["transactionId"],
    )
    assert [(v["value"], v["context"]) for v in values] == [
        ("1000", "Transaction.Begin"),
        ("5000", "Sample.Periodic"),
        ("13500", "Transaction.End"),
    ]
    assert {v["source"] for v in values} == {"TransactionEvent"}

    [begun] = await tap.wait("transaction.started", stationTransactionId="TX-A")
    [done] = await tap.wait("transaction.stopped", stationTransactionId="TX-A")
    assert begun["ocppVersion"] == done["ocppVersion"] == "2.0.1"
    assert (done["energyWh"], done["cost"]) == (12500, 3.75)


async def test_a_resent_event_is_answered_the_same_and_counted_once(
    connect_cp: Any, cp_id: str, api: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    cp = await connect(connect_cp, cp_id)
    t0 = utcnow().replace(microsecond=0) - timedelta(minutes=5)
    token = {"idToken": "UNKNOWN-201", "type": "ISO14443"}
    first = tx_event("Started", 0, t0, "TX-R", 200, evse={"id": 1}, idToken=token)
    answer = await cp.call("TransactionEvent", first)
    assert answer == {"idTokenInfo": {"status": "Unknown"}}
    assert await cp.call("TransactionEvent", first) == answer
    update = tx_event("Updated", 1, t0 + timedelta(minutes=1), "TX-R", 900)
    assert await cp.call("TransactionEvent", update) == {}
    assert await cp.call("TransactionEvent", update) == {}

    [item] = await listed(api, cp_id)
    assert item["idTagStatus"] == "Unknown"  # as the station was told, in our terms too

    async def applied() -> int:
        # An Updated without an idToken is answered once the broker has it (a notification).
        return int(
            await db.fetchval(
                "SELECT count(*) FROM sessions.transaction_events WHERE transaction_id = $1",
                item["transactionId"],
            )
        )

    async def both_applied() -> bool:
        return await applied() == 2

    await eventually(both_applied)
    count = await db.fetchval(
        "SELECT count(*) FROM sessions.meter_values WHERE transaction_id = $1",
        item["transactionId"],
    )
    assert count == 2
    assert await applied() == 2  # the copy changed nothing


async def test_two_transactions_that_start_alike_are_two_transactions(
    connect_cp: Any, cp_id: str, api: httpx.AsyncClient
) -> None:
    # One EVSE, one token, one second, one register reading, two transactionIds: the content
    # key that tells a re-sent 1.6 StartTransaction (uq_transactions_start) is not 2.0.1's.
    cp = await connect(connect_cp, cp_id)
    t0 = utcnow().replace(microsecond=0) - timedelta(minutes=5)
    token = {"idToken": "ALIKE-201", "type": "ISO14443"}
    for tx_id in ("TX-1", "TX-2"):
        started = tx_event("Started", 0, t0, tx_id, 500, evse={"id": 1}, idToken=token)
        assert await cp.call("TransactionEvent", started) == {"idTokenInfo": {"status": "Unknown"}}
    items = await listed(api, cp_id)
    assert sorted(item["stationTransactionId"] for item in items) == ["TX-1", "TX-2"]
    assert {(item["meterStart"], item["startTime"]) for item in items} == {(500, iso(t0))}


async def test_out_of_order_and_offline_events_converge(
    connect_cp: Any, cp_id: str, api: httpx.AsyncClient
) -> None:
    t0 = utcnow().replace(microsecond=0) - timedelta(hours=1)
    cp = await connect(connect_cp, cp_id)
    # The Ended first: the transaction exists at once, stopped.
    await cp.call(
        "TransactionEvent",
        tx_event(
            "Ended",
            2,
            t0 + timedelta(minutes=40),
            "TX-O",
            9000,
            context="Transaction.End",
            evse={"id": 2},
            offline=True,
        ),
    )
    [stopped] = await listed(api, cp_id)
    assert stopped["active"] is False and stopped["stopReason"] == "Local"
    await cp.close()

    # The station reconnects and empties its offline queue: the Updated, then the Started.
    again = await connect(connect_cp, cp_id)
    # No totalCost for them: it answers the Ended (no idToken either: no idTokenInfo).
    assert {} == await again.call(
        "TransactionEvent",
        tx_event("Updated", 1, t0 + timedelta(minutes=20), "TX-O", 5000, offline=True),
    )
    assert {} == await again.call(
        "TransactionEvent",
        tx_event(
            "Started",
            0,
            t0,
            "TX-O",
            1000,
            context="Transaction.Begin",
            evse={"id": 2},
            offline=True,
        ),
    )

    async def converged() -> dict[str, Any] | None:
        [item] = await listed(api, cp_id)
        return item if item["meterStart"] == 1000 else None

    item = await eventually(converged)
    assert item["active"] is False
    assert (item["startTime"], item["meterStop"], item["energyWh"]) == (iso(t0), 9000, 8000)
    assert item["cost"] == 2.4
    assert item["connectorId"] == 2


async def test_authorize_an_unknown_and_a_known_token(
    connect_cp: Any, cp_id: str, bus: Bus
) -> None:
    tag = new_tag()
    await bus.rpc(SessionsRpc.create_id_tag, idTag=tag, parentIdTag="FLEET-AUTH")
    cp = await connect(connect_cp, cp_id)
    unknown = await cp.call("Authorize", {"idToken": {"idToken": new_tag(), "type": "ISO14443"}})
    assert unknown == {"idTokenInfo": {"status": "Unknown"}}
    known = await cp.call("Authorize", {"idToken": {"idToken": tag.lower(), "type": "ISO14443"}})
    assert known == {
        "idTokenInfo": {
            "status": "Accepted",
            "groupIdToken": {"idToken": "FLEET-AUTH", "type": "Central"},
        }
    }
    # The same number read as another kind of card is another token.
    other = await cp.call("Authorize", {"idToken": {"idToken": tag, "type": "ISO15693"}})
    assert other == {"idTokenInfo": {"status": "Unknown"}}
    free = await cp.call("Authorize", {"idToken": {"idToken": "", "type": "NoAuthorization"}})
    assert free == {"idTokenInfo": {"status": "Accepted"}}


async def test_meter_values_of_an_evse_are_stored(
    connect_cp: Any, cp_id: str, db: asyncpg.Connection
) -> None:
    cp = await connect(connect_cp, cp_id)
    at = utcnow().replace(microsecond=0)
    reading = {
        "timestamp": iso(at),
        "sampledValue": [{"value": 2.5, "unitOfMeasure": {"unit": "kWh", "multiplier": 0}}],
    }
    assert await cp.call("MeterValues", {"evseId": 3, "meterValue": [reading]}) == {}

    async def stored() -> list[asyncpg.Record]:
        return await db.fetch(
            "SELECT connector_id, value, unit, transaction_id FROM sessions.meter_values"
            " WHERE charge_point_id = $1",
            cp_id,
        )

    [row] = await eventually(stored)
    assert (row["connector_id"], row["value"], row["unit"], row["transaction_id"]) == (
        3,
        "2.5",
        "kWh",
        None,
    )


async def test_a_transaction_without_ended_goes_stale_and_its_late_ended_still_counts(
    connect_cp: Any, cp_id: str, suite: Any, bus: Bus, db: asyncpg.Connection, tmp_path: Path
) -> None:
    cp = await connect(connect_cp, cp_id)
    t0 = utcnow().replace(microsecond=0) - timedelta(minutes=10)
    await cp.call("TransactionEvent", tx_event("Started", 0, t0, "TX-S", 1000, evse={"id": 1}))
    [item] = (await bus.rpc(SessionsRpc.list_transactions, chargePointId=cp_id))["items"]
    tx_id = item["transactionId"]

    async def audit() -> list[str]:
        rows = await db.fetch(
            "SELECT action FROM sessions.transaction_audit WHERE transaction_id = $1 ORDER BY id",
            tx_id,
        )
        return [row["action"] for row in rows]

    async def revived() -> bool:
        return (await audit())[:2] == ["flagged_stale", "alive_again"]

    async def flagged() -> bool:
        stale = await db.fetchval(
            "SELECT stale_since FROM sessions.transactions WHERE id = $1", tx_id
        )
        return stale is not None

    # A replica whose sweep calls a transaction stale after 1.5 s without a sign of life.
    async with extra_session_service(
        suite, tmp_path, SESSION_STALE_AFTER="1.5", SESSION_SWEEP_INTERVAL="0.2"
    ):
        await eventually(flagged)
        # An Updated is a sign of life, as 1.6 MeterValues are.
        at = t0 + timedelta(minutes=5)
        await cp.call("TransactionEvent", tx_event("Updated", 1, at, "TX-S", 3000))
        # Answered once published (a notification): applied soon after.
        await eventually(revived)
        await eventually(flagged)

    closed = await bus.rpc(
        SessionsRpc.close_stale_transaction, transactionId=tx_id, reason="gone", operator="ops"
    )
    assert (closed["stoppedBy"], closed["meterStop"]) == ("operator", 3000)

    # The station's own Ended, queued while it was away, replaces the operator's estimate.
    ended = tx_event("Ended", 2, t0 + timedelta(minutes=9), "TX-S", 4000, context="Transaction.End")
    answer = await cp.call("TransactionEvent", ended | {"offline": True})
    assert answer == {"totalCost": 0.9}
    row = await db.fetchrow("SELECT * FROM sessions.transactions WHERE id = $1", tx_id)
    assert (row["meter_stop"], row["energy_wh"], row["stopped_by"]) == (4000, 3000, "ChargePoint")
    assert row["close_reason"] is None
    assert (await audit())[-1] == "stopped_after_operator_close"


async def test_a_2_0_1_stations_readings_are_announced_as_meter_values_in_1_6_terms(
    connect_cp: Any, cp_id: str, bus: Bus, api: httpx.AsyncClient
) -> None:
    tap = await bus.tap("meter.values")
    cp = await connect(connect_cp, cp_id)
    t0 = utcnow().replace(microsecond=0) - timedelta(minutes=10)
    started = tx_event("Started", 0, t0, "TX-MV", 1000, context="Transaction.Begin", evse={"id": 2})
    await cp.call("TransactionEvent", started)
    loose = {
        "evseId": 3,
        "meterValue": [
            {
                "timestamp": iso(t0),
                "sampledValue": [
                    {"value": 230.5, "measurand": "Voltage", "unitOfMeasure": {"unit": "V"}},
                    {"value": 7, "measurand": "Energy.Active.Net"},
                ],
            }
        ],
    }
    assert await cp.call("MeterValues", loose) == {}

    [in_tx] = await tap.wait("meter.values", chargePointId=cp_id, connectorId=2)
    [row] = await listed(api, cp_id)
    assert in_tx["ocppVersion"] == "2.0.1"
    assert in_tx["transactionId"] == row["transactionId"]
    assert in_tx["meterValue"][0]["sampledValue"] == [
        {
            "value": "1000",
            "context": "Transaction.Begin",
            "measurand": "Energy.Active.Import.Register",
            "unit": "Wh",
        }
    ]
    [alone] = await tap.wait("meter.values", chargePointId=cp_id, connectorId=3)
    assert "transactionId" not in alone
    # Energy.Active.Net has no 1.6 name: stored, not announced.
    assert alone["meterValue"][0]["sampledValue"] == [
        {"value": "230.5", "measurand": "Voltage", "unit": "V"}
    ]
