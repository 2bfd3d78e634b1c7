"""Bulk storing (issue 45 item 2): how fast the session-service stores a backlog of bulk data.

A backlog is published straight to `ocpp.calls` the way the gateways bundle notifications
(one message of 100 calls of one action, `ws_gateway.call_messages.bundle_body`), far faster
than a station fleet could send it, and the session-service drains it. No gateway or simulator
shares the two cores, so the figure is the session-service's own storing rate (with the broker
and Postgres): what a backlog after a burst or a mass reconnection drains at. Two backlogs, one
after the other:

- 2.0.1: `STATIONS` stations each with a transaction, `ROUNDS` TransactionEvent Updated each
  (seqNo 0 creates the transaction; the rest are the plain Updated of a running transaction,
  the energy register and the power: two meter rows each);
- 1.6: the same count of MeterValues with a transactionId of a running transaction (started by a
  StartTransaction each through the same bus first), the same two readings.

Figures: calls stored per second from the first publish until every meter row is in the
database and the queue is empty, and the session-service's CPU per call (ms). Read them beside
the rate the gateways answer (the `decisions` scenario's "answered").
"""

from __future__ import annotations

import asyncio
import itertools
import time
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson

from csms_shared.bus.bundle import FastBundledCall, encode_bundle_fast
from csms_shared.bus.client import BusClient, message_properties
from csms_shared.bus.topology import (
    CALLS,
    DECISIONS,
    HEADER_BUNDLE,
    HEADER_CHARGE_POINT,
    HEADER_GATEWAY,
    HEADER_MESSAGE_ID,
    HEADER_RECEIVED_AT,
)

from .context import Bench
from .procs import CpuWatch, cpu_seconds
from .report import Row, num
from .suite import BenchSuite

SCENARIO = "Bulk storing"
STATIONS = 100
ROUNDS = 300  # calls per station: 30,000 of each version
QUEUE = "session-service.calls"
DRAIN_BOUND = 300.0
ROWS_PER_CALL = 2
_runs = itertools.count(1)


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _updated(station_tx: str, seq: int, wh: int) -> dict[str, Any]:
    at = _now()
    sample = {"context": "Sample.Periodic"}
    return {
        "eventType": "Updated",
        "timestamp": at,
        "triggerReason": "MeterValuePeriodic",
        "seqNo": seq,
        "transactionInfo": {"transactionId": station_tx, "chargingState": "Charging"},
        "evse": {"id": 1, "connectorId": 1},
        "meterValue": [
            {
                "timestamp": at,
                "sampledValue": [
                    {
                        "value": wh,
                        **sample,
                        "measurand": "Energy.Active.Import.Register",
                        "unitOfMeasure": {"unit": "Wh"},
                    },
                    {
                        "value": 7200,
                        **sample,
                        "measurand": "Power.Active.Import",
                        "unitOfMeasure": {"unit": "W"},
                    },
                ],
            }
        ],
    }


def _meter_values(transaction_id: int, wh: int) -> dict[str, Any]:
    sample = {"context": "Sample.Periodic", "location": "Outlet"}
    return {
        "connectorId": 1,
        "transactionId": transaction_id,
        "meterValue": [
            {
                "timestamp": _now(),
                "sampledValue": [
                    {
                        "value": str(wh),
                        **sample,
                        "measurand": "Energy.Active.Import.Register",
                        "unit": "Wh",
                    },
                    {"value": "7200", **sample, "measurand": "Power.Active.Import", "unit": "W"},
                ],
            }
        ],
    }


class Publisher:
    """Publishes bundles to `ocpp.calls` as a gateway does (confirmed, persistent)."""

    def __init__(self, client: BusClient, gateway: str) -> None:
        self.client = client
        self.gateway = gateway
        self._ids = itertools.count(1)

    async def bundle(self, routing_key: str, calls: list[tuple[str, dict[str, Any]]]) -> None:
        body = encode_bundle_fast(
            [
                FastBundledCall(cp=cp, id=f"b{next(self._ids)}", at=_now(), payload=payload)
                for cp, payload in calls
            ]
        )
        headers = {HEADER_GATEWAY: self.gateway, HEADER_BUNDLE: len(calls)}
        properties = message_properties(persistent=True, headers=headers)
        await self.client.publish(CALLS.name, routing_key, body, properties)

    async def ask(self, routing_key: str, cp: str, payload: dict[str, Any]) -> dict[str, Any]:
        """One decision call through `ocpp.decisions`, its answer's payload."""
        headers = {
            HEADER_GATEWAY: self.gateway,
            HEADER_CHARGE_POINT: cp,
            HEADER_MESSAGE_ID: f"a{next(self._ids)}",
            HEADER_RECEIVED_AT: _now(),
        }
        properties = message_properties(persistent=True, headers=headers)
        answer = await self.client.request(
            DECISIONS.name, routing_key, orjson.dumps(payload), properties, timeout=30.0
        )
        reply = orjson.loads(answer)
        if reply.get("payload") is None:
            raise RuntimeError(f"{routing_key} of {cp} refused: {reply}")
        return dict(reply["payload"])


async def _rows(conn: asyncpg.Connection, prefix: str) -> int:
    return int(
        await conn.fetchval(
            "SELECT count(*) FROM sessions.meter_values WHERE charge_point_id LIKE $1",
            prefix + "-%",
        )
    )


async def _drain(
    bench: Bench,
    suite: BenchSuite,
    conn: asyncpg.Connection,
    prefix: str,
    label: str,
    publish: Any,
    calls: int,
) -> None:
    """Publish a backlog (`publish()`), wait until it is stored; one row of figures."""
    pid = suite.pid(suite.suite.services["session-service"])
    before = await _rows(conn, prefix)
    cpu_before = cpu_seconds(pid)
    # Every process of the suite, the broker and Postgres: what storing a call costs in all.
    watch = CpuWatch(await suite.cpu_groups())
    started = time.monotonic()
    spying = asyncio.create_task(bench.spy(f"bulk-{label.split()[0]}", {"session": pid}, 15.0))
    await publish()
    published = time.monotonic() - started
    expected = before + calls * ROWS_PER_CALL
    deadline = started + DRAIN_BOUND
    stored = before
    while time.monotonic() < deadline:
        stored = await _rows(conn, prefix)
        if stored >= expected and await suite.queue_depth(QUEUE) == 0:
            break
        await asyncio.sleep(0.2)
    took = time.monotonic() - started
    cpu = cpu_seconds(pid) - cpu_before
    watch.stop()
    await spying
    done = (stored - before) // ROWS_PER_CALL
    bench.cpu_lines.append(f"bulk backlog, {label}, {done:,} stored: {watch.describe(done)}")
    bench.log(
        f"bulk {label}: {calls:,} published in {published:.1f} s, {done:,} stored in {took:.1f} s;"
        f" session-service CPU {cpu:.1f} s"
    )
    bench.add(
        Row(
            SCENARIO,
            f"{label}: a backlog of {calls:,} from {STATIONS} stations, stored per second"
            " (session-service CPU per call)",
            f"{num(done / took)}/s ({cpu / max(done, 1) * 1000:.2f} ms)",
            target="twice the rate before issue 45 item 2 (bench/RESULTS.md)",
        )
    )


async def bulk(bench: Bench, suite: BenchSuite) -> None:
    """The two backlogs, 2.0.1 then 1.6."""
    run = next(_runs)
    client = BusClient(suite.broker_url, name="bench-bulk")
    await client.start()
    publisher = Publisher(client, "bench-bulk")
    conn = await asyncpg.connect(suite.dsn)
    try:
        prefix = f"BU{run}"
        stations = [f"{prefix}-{n:05d}" for n in range(STATIONS)]

        async def updates() -> None:
            for seq in range(ROUNDS):
                await publisher.bundle(
                    "v201.TransactionEvent",
                    [(cp, _updated(f"{cp}-tx", seq, 1000 + seq * 10)) for cp in stations],
                )

        await _drain(
            bench, suite, conn, prefix, "2.0.1 TransactionEvent Updated", updates, ROUNDS * STATIONS
        )

        prefix = f"BM{run}"
        stations = [f"{prefix}-{n:05d}" for n in range(STATIONS)]
        started = [
            await publisher.ask(
                "v16.StartTransaction",
                cp,
                {"connectorId": 1, "idTag": "BULK", "meterStart": 0, "timestamp": _now()},
            )
            for cp in stations
        ]
        ids = [int(answer["transactionId"]) for answer in started]

        async def meter_values() -> None:
            for n in range(ROUNDS):
                await publisher.bundle(
                    "v16.MeterValues",
                    [
                        (cp, _meter_values(tx, 1000 + n * 10))
                        for cp, tx in zip(stations, ids, strict=True)
                    ],
                )

        await _drain(bench, suite, conn, prefix, "1.6 MeterValues", meter_values, ROUNDS * STATIONS)
    finally:
        await conn.close()
        await client.close()
