"""A transaction's end is taken once the broker holds it (issue 45, "Decisions first"): it waits
in order behind its station's bulk data, and when its owner is behind, the station is answered
after `GATEWAY_END_ANSWER_AFTER` without it: a 1.6 StopTransaction with the idTagInfo the
session-service judges over RPC, a 2.0.1 Ended without totalCost, with the idTokenInfo of its
idToken if it names one. Nothing is refused and nothing is lost: the end is stored once its
owner gets to it.

Here the owner is not behind but absent: the session-service consumes its decisions, events and
RPCs but not `<service>.calls` (SESSION_CONSUME), so the bulk and the ends wait in the queue."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import asyncpg
import httpx

from csms_shared.ocpp._base import utcnow
from tests.integration.conftest import Suite
from tests.integration.support import ChargePointClient, eventually, metric
from tests.integration.test_sessions_charging import iso
from tests.integration.test_v201_transactions import tx_event

APART = "csms_gateway_ends_answered_apart_total"
BOOT = {"chargePointVendor": "Taken", "chargePointModel": "T1"}
BOOT_201 = {"reason": "PowerUp", "chargingStation": {"model": "T2", "vendorName": "Taken"}}


async def _rows(db: asyncpg.Connection, cp_id: str) -> list[asyncpg.Record]:
    """The station's transactions, oldest first."""
    return await db.fetch(
        "SELECT id, stop_time, meter_stop, energy_wh, stop_reason"
        " FROM sessions.transactions WHERE charge_point_id = $1 ORDER BY id",
        cp_id,
    )


async def test_ends_are_answered_while_their_owner_cannot_store_them_and_stored_after(
    suite: Suite, api: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    tag = f"TK{uuid.uuid4().hex[:8].upper()}"
    assert (await api.post("/id-tags", json={"idTag": tag})).status_code == 201
    # Answered apart after 0.3 s; the call timeout far beyond the test's waits.
    gateway, port = suite.extra_gateway(
        "gw-end-taken", GATEWAY_END_ANSWER_AFTER="0.3", GATEWAY_CALL_TIMEOUT="120"
    )
    internal = int(gateway.env["GATEWAY_INTERNAL_PORT"])
    v16_id, v201_id = (f"TK-{uuid.uuid4().hex[:8]}" for _ in range(2))
    t0 = utcnow().replace(microsecond=0) - timedelta(minutes=30)
    suite.restart_service("session-service", SESSION_CONSUME="decisions,events,rpc")
    try:
        v16 = await ChargePointClient.connect(f"ws://127.0.0.1:{port}", v16_id)
        v201 = await ChargePointClient.connect(
            f"ws://127.0.0.1:{port}", v201_id, subprotocols=["ocpp2.0.1"]
        )
        assert (await v16.call("BootNotification", BOOT))["status"] == "Accepted"
        assert (await v201.call("BootNotification", BOOT_201))["status"] == "Accepted"

        # 1.6: the start is a decision (answered); the stop waits behind the MeterValues.
        start = {"connectorId": 1, "idTag": tag, "meterStart": 1000, "timestamp": iso(t0)}
        started = await v16.call("StartTransaction", start)
        assert started["idTagInfo"]["status"] == "Accepted", started
        tx16 = int(started["transactionId"])
        sample = {"timestamp": iso(t0), "sampledValue": [{"value": "1500"}]}
        meter = {"connectorId": 1, "transactionId": tx16, "meterValue": [sample]}
        assert await v16.call("MeterValues", meter) == {}
        stop = {
            "transactionId": tx16,
            "idTag": tag,
            "meterStop": 6000,
            "timestamp": iso(t0 + timedelta(minutes=20)),
            "reason": "EVDisconnected",
        }
        # Judged as the list has it, though the stop itself is not stored yet.
        assert await v16.call("StopTransaction", stop, timeout=60) == {
            "idTagInfo": {"status": "Accepted"}
        }
        # A stop without an idTag has nothing to judge: an empty answer.
        other = await v16.call("StartTransaction", start | {"connectorId": 2})
        plain = {"transactionId": other["transactionId"], "meterStop": 1000, "timestamp": iso(t0)}
        assert await v16.call("StopTransaction", plain, timeout=60) == {}

        # 2.0.1: an Ended without an idToken is answered without totalCost.
        token = {"idToken": tag, "type": "ISO14443"}
        first = tx_event(
            "Started", 0, t0, "TK-TX", 500, evse={"id": 1, "connectorId": 1}, idToken=token
        )
        answer = await v201.call("TransactionEvent", first)
        assert answer["idTokenInfo"]["status"] == "Accepted"
        ended = tx_event(
            "Ended", 1, t0 + timedelta(minutes=20), "TK-TX", 2500, context="Transaction.End"
        )
        assert await v201.call("TransactionEvent", ended, timeout=60) == {}
        # One ended with the card it started with: its idTokenInfo, judged apart.
        second = first | {
            "transactionInfo": {"transactionId": "TK-TX2"},
            "evse": {"id": 2, "connectorId": 1},
        }
        assert (await v201.call("TransactionEvent", second))["idTokenInfo"]["status"] == "Accepted"
        stopped = ended | {"transactionInfo": {"transactionId": "TK-TX2"}, "idToken": token}
        assert await v201.call("TransactionEvent", stopped, timeout=60) == {
            "idTokenInfo": {"status": "Accepted"}
        }

        assert await metric(internal, APART, action="StopTransaction") == 2
        assert await metric(internal, APART, action="TransactionEvent") == 2
        # Taken, not stored: nobody consumes the bulk lane yet.
        rows = [*await _rows(db, v16_id), *await _rows(db, v201_id)]
        assert [row["stop_time"] for row in rows] == [None] * 4

        # An Ended that is its transaction's first event: its idToken is the transaction's
        # first, judged as a start on its EVSE, as the Ended's own handling will judge it. The
        # card may hold one transaction open, and holds one already: ConcurrentTx.
        limited = f"TL{uuid.uuid4().hex[:8].upper()}"
        assert (
            await api.post("/id-tags", json={"idTag": limited, "maxConcurrentTx": 1})
        ).status_code == 201
        card = {"idToken": limited, "type": "ISO14443"}
        held = first | {"transactionInfo": {"transactionId": "TK-TX3"}, "idToken": card}
        # A reservationId past 32 bits names none of ours (and fails nothing).
        held |= {"evse": {"id": 3, "connectorId": 1}, "reservationId": 2**31}
        assert (await v201.call("TransactionEvent", held))["idTokenInfo"]["status"] == "Accepted"
        alone = ended | {"transactionInfo": {"transactionId": "TK-TX4"}, "idToken": card}
        alone |= {"evse": {"id": 4, "connectorId": 1}}
        assert await v201.call("TransactionEvent", alone, timeout=60) == {
            "idTokenInfo": {"status": "ConcurrentTx"}
        }
    finally:
        suite.restart_service("session-service", SESSION_CONSUME="")

    # Back: every end is stored, in order after the bulk data before it.
    async def stored() -> list[Any] | None:
        rows = [*await _rows(db, v16_id), *await _rows(db, v201_id)]
        ended = [r["stop_time"] is not None for r in rows]
        # TK-TX3 stays open.
        return rows if ended == [True, True, True, True, False, True] else None

    try:
        row16, _, row201, _, _, alone_row = await eventually(stored, timeout=60)
        # What the Ended was told apart is what its own handling decided.
        status = await db.fetchval(
            "SELECT id_tag_status FROM sessions.transactions WHERE id = $1", alone_row["id"]
        )
        assert status == "ConcurrentTx"
        assert row16["id"] == tx16
        assert (row16["meter_stop"], row16["energy_wh"], row16["stop_reason"]) == (
            6000,
            5000,
            "EVDisconnected",
        )
        assert row201["energy_wh"] == 2000
        sources = await db.fetch(
            "SELECT source, value FROM sessions.meter_values WHERE transaction_id = $1", tx16
        )
        assert ("MeterValues", "1500") in {(r["source"], r["value"]) for r in sources}
    finally:
        await v16.close()
        await v201.close()
        gateway.stop()
