"""Decisions first (issue 45): a station's decisions travel on `ocpp.decisions` to
`<service>.decisions`, its bulk on `ocpp.calls` to `<service>.calls`; a session-service process
may consume some of its queues only (`SESSION_CONSUME`), so decisions can run apart."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import pytest

from csms_shared.bus.coalesce import shard_of
from csms_shared.ocpp._base import format_datetime, utcnow
from tests.integration.conftest import Suite
from tests.integration.support import CallErrorReply, ChargePointClient, eventually, metric

Connect = Callable[..., Awaitable[ChargePointClient]]
HANDLED = "csms_messages_handled_total"


async def _session(cp: ChargePointClient) -> int:
    """Boot, start, a MeterValues and a stop; the transaction id."""
    await cp.call("BootNotification", {"chargePointVendor": "Lane", "chargePointModel": "L1"})
    now = format_datetime(utcnow())
    start = {"connectorId": 1, "idTag": "LANE", "meterStart": 100, "timestamp": now}
    tx = int((await cp.call("StartTransaction", start))["transactionId"])
    sample = {"timestamp": now, "sampledValue": [{"value": "150"}]}
    await cp.call("MeterValues", {"connectorId": 1, "transactionId": tx, "meterValue": [sample]})
    stop = {"transactionId": tx, "meterStop": 200, "timestamp": now}
    await cp.call("StopTransaction", stop)
    return tx


async def test_decisions_run_in_a_process_of_their_own_and_the_bulk_in_the_other(
    suite: Suite, connect_cp: Connect, db: asyncpg.Connection, cp_id: str
) -> None:
    """Six stations at once, three in each of the bulk process's two shards (SESSION_GROUP_SHARDS,
    coalesce.shard_of): each transaction's data and its stop are stored."""
    main = "session-service"
    main_port = suite.internal_ports[main]
    suite.restart_service(main, SESSION_CONSUME="calls,events,rpc", SESSION_GROUP_SHARDS="2")
    apart, apart_port = suite.extra_service(main, SESSION_CONSUME="decisions")
    names = [f"{cp_id}-{n}" for n in range(64)]
    stations = [n for n in names if shard_of(n, 2) == 0][:3]
    stations += [n for n in names if shard_of(n, 2) == 1][:3]
    try:
        before = {
            port: (await metric(port, HANDLED, kind="call", outcome="ok"))
            for port in (main_port, apart_port)
        }
        cps = [await connect_cp(name) for name in stations]
        txs = await asyncio.gather(*(_session(cp) for cp in cps))

        async def stored() -> Any:
            rows = await db.fetch(
                "SELECT t.meter_stop, (SELECT count(*) FROM sessions.meter_values m"
                " WHERE m.transaction_id = t.id) AS readings"
                " FROM sessions.transactions t WHERE t.id = ANY($1::int[])",
                txs,
            )
            return len(rows) == len(txs) and all(
                row["meter_stop"] == 200 and row["readings"] >= 1 for row in rows
            )

        await eventually(stored)
        # StartTransaction was decided by the decisions' process; the MeterValues (answered by
        # the gateway once the broker had it) and the StopTransaction behind it, which keeps
        # its place after the transaction's bulk data, were handled by the other.
        decided = await metric(apart_port, HANDLED, kind="call", outcome="ok")
        assert decided - before[apart_port] == len(stations)
        bulk = await metric(main_port, HANDLED, kind="call", outcome="ok")
        assert bulk - before[main_port] == 2 * len(stations)
    finally:
        apart.stop()
        suite.restart_service(main, SESSION_CONSUME="", SESSION_GROUP_SHARDS="1")


async def test_decisions_nobody_consumes_are_refused_at_once_and_taken_once_a_process_does(
    suite: Suite, connect_cp: Connect, cp_id: str
) -> None:
    """Every process tells the gateways which lanes it consumes (owner beacons, bus/owners.py):
    with only the bulk consumed, a decision is answered a retriable InternalError at once, not
    left to wait out the call timeout; once a process that consumes decisions comes, the
    station's next try is answered."""
    main = "session-service"
    suite.restart_service(main, SESSION_CONSUME="calls,events,rpc")
    try:
        cp = await connect_cp(cp_id)
        await cp.call("BootNotification", {"chargePointVendor": "Lane", "chargePointModel": "L2"})
        now = format_datetime(utcnow())
        start = {"connectorId": 1, "idTag": "LANE", "meterStart": 0, "timestamp": now}
        with pytest.raises(CallErrorReply) as error:
            await cp.call("StartTransaction", start, timeout=60)
        assert error.value.code == "InternalError"
        assert "no instance of its service is running" in error.value.description
        apart, _ = await asyncio.to_thread(suite.extra_service, main, SESSION_CONSUME="decisions")
        try:
            answer = await cp.call("StartTransaction", start, timeout=60)
            assert int(answer["transactionId"]) > 0
        finally:
            apart.stop()
    finally:
        suite.restart_service(main, SESSION_CONSUME="")
