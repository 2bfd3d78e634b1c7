"""Decisions first (issue 45): session starts and ends during a burst of bulk data.

100 2.0.1 stations, each with a transaction open, send 100,000 TransactionEvent Updated in 30 s
(the issue's burst: each station one per 30 ms, the next when the last was answered; until stop
64 they sent as fast as they were answered, 100,000 in ~19 s). Meanwhile probe stations of both
versions keep deciding, one call at a time each: 1.6 Authorize, StartTransaction,
StopTransaction and BootNotification; 2.0.1 Authorize, TransactionEvent Started and Ended and
BootNotification. The probes go on after the burst until the session-service has stored what
was answered (every answered Updated's rows in the database), so the drain is measured too.

Figures: each decision's p50 / p99 / max and how many were refused or not answered, with the
same probes on the idle suite first (the same run's baseline); the Updated answered per second
beside those stored per second (rows in the DB), and how long the stored lagged behind. Three
times: the session-service as one process; with its decisions in a process of their own
(`SESSION_CONSUME`), as docs/SCALING.md advises under bulk load; and the same with the bulk
process's groups split by station into two shards (`SESSION_GROUP_SHARDS=2`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections import Counter, defaultdict
from typing import Any

import asyncpg

from .context import Bench
from .cp import CallFailed, SimChargePoint
from .fleet import SimFleet, ocpp_now
from .fleet201 import SAMPLES_PER_UPDATE, SimFleet201
from .report import Row, num, verdict
from .stats import Summary
from .suite import BenchSuite

SCENARIO = "Decisions first"
BULK_STATIONS = 100
BURST_SECONDS = 30.0
BURST_MAX = 100_000
PACE = BURST_SECONDS * BULK_STATIONS / BURST_MAX  # seconds between one station's Updated
PROBES = 10  # of each version
PROBE_PAUSE = 0.2  # seconds between a probe's cycles
BASELINE_SECONDS = 15.0
DRAIN_BOUND = 180.0
TARGET_MS = 1000.0
BULK_QUEUE = "session-service.calls"
_numbers = itertools.count(1)


class Probes:
    """Both versions' probe stations deciding in a loop; latencies and refusals per action."""

    def __init__(self, v16: SimFleet, v201: SimFleet201) -> None:
        self.v16 = v16
        self.v201 = v201
        self.latencies: defaultdict[str, list[float]] = defaultdict(list)
        self.refused: Counter[str] = Counter()
        self._stop = asyncio.Event()

    async def _call(self, cp: SimChargePoint, label: str, action: str, payload: Any) -> Any:
        started = time.perf_counter()
        try:
            answer = await cp.call(action, payload, 30.0)
        except CallFailed as exc:
            self.refused[f"{label} {exc.code or exc.kind}"] += 1
            return None
        self.latencies[label].append(time.perf_counter() - started)
        return answer

    async def _cycle_16(self, cp: SimChargePoint, n: int) -> None:
        tag = f"TAG{n % 500:05d}"
        await self._call(cp, "1.6 Authorize", "Authorize", {"idTag": tag})
        start = {"connectorId": 1, "idTag": tag, "meterStart": 0, "timestamp": ocpp_now()}
        answer = await self._call(cp, "1.6 StartTransaction", "StartTransaction", start)
        if answer is not None:
            stop = {"transactionId": answer["transactionId"], "meterStop": 10}
            stop |= {"timestamp": ocpp_now(), "idTag": tag, "reason": "Local"}
            await self._call(cp, "1.6 StopTransaction", "StopTransaction", stop)
        if n % 5 == 0:
            boot = {"chargePointVendor": "BenchCo", "chargePointModel": "Probe"}
            await self._call(cp, "1.6 BootNotification", "BootNotification", boot)

    async def _cycle_201(self, cp: SimChargePoint, n: int) -> None:
        token = {"idToken": f"TAG{n % 500:05d}", "type": "ISO14443"}
        await self._call(cp, "2.0.1 Authorize", "Authorize", {"idToken": token})
        station_id = f"{cp.cp_id}-{next(_numbers)}"

        def event(kind: str, seq: int, **extra: Any) -> dict[str, Any]:
            trigger = "Authorized" if kind == "Started" else "StopAuthorized"
            info: dict[str, Any] = {"transactionId": station_id}
            if kind == "Ended":
                info["stoppedReason"] = "Local"
            return {
                "eventType": kind,
                "timestamp": ocpp_now(),
                "triggerReason": trigger,
                "seqNo": seq,
                "transactionInfo": info,
                "idToken": token,
                **extra,
            }

        started = event("Started", 0, evse={"id": 1, "connectorId": 1})
        if await self._call(cp, "2.0.1 TransactionEvent Started", "TransactionEvent", started):
            ended = event("Ended", 1)
            await self._call(cp, "2.0.1 TransactionEvent Ended", "TransactionEvent", ended)
        if n % 5 == 0:
            station = {"vendorName": "BenchCo", "model": "Probe"}
            boot = {"reason": "PowerUp", "chargingStation": station}
            await self._call(cp, "2.0.1 BootNotification", "BootNotification", boot)

    async def _loop(self, cp: SimChargePoint, v16: bool) -> None:
        n = 0
        while not self._stop.is_set():
            n += 1
            await (self._cycle_16(cp, n) if v16 else self._cycle_201(cp, n))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), PROBE_PAUSE)

    async def run_until(self, done: asyncio.Event) -> None:
        """Decide in a loop on every probe until `done` is set; the latencies so far."""
        self._stop = done
        loops = [self._loop(cp, True) for cp in self.v16.cps]
        loops += [self._loop(cp, False) for cp in self.v201.cps]
        await asyncio.gather(*loops)

    def take(self) -> tuple[dict[str, Summary], Counter[str]]:
        """The figures so far, and a fresh start."""
        figures = {label: Summary.of(values) for label, values in self.latencies.items()}
        refused = self.refused
        self.latencies, self.refused = defaultdict(list), Counter()
        return figures, refused


async def _stored(conn: asyncpg.Connection, prefix: str) -> int:
    """Meter rows of the bulk stations' transactions."""
    return int(
        await conn.fetchval(
            "SELECT count(*) FROM sessions.meter_values m JOIN sessions.transactions t"
            " ON t.id = m.transaction_id WHERE t.charge_point_id LIKE $1",
            prefix + "-%",
        )
    )


async def _behind(conn: asyncpg.Connection, last: dict[str, int]) -> int:
    """Bulk stations whose last answered Updated is not stored yet: its register reading is not
    their open transaction's newest. One read of 100 transactions: counting the meter rows
    every half second instead cost Postgres up to 100 ms a time by the third round (stop 68),
    CPU the drain it watched went without."""
    return int(
        await conn.fetchval(
            "SELECT count(*) FROM unnest($1::text[], $2::numeric[]) AS w(cp, wh)"
            " WHERE NOT EXISTS (SELECT 1 FROM sessions.transactions t"
            " WHERE t.charge_point_id = w.cp AND t.stop_time IS NULL AND t.last_meter_wh >= w.wh)",
            list(last),
            list(last.values()),
        )
    )


async def _round(bench: Bench, suite: BenchSuite, setup: str, tag: str) -> None:
    """One burst with its probes and drain, the session-service run as `setup` says."""
    bulk = SimFleet201(suite.gateway_urls, BULK_STATIONS, prefix=f"DB{tag}", per_address=32)
    v16 = SimFleet(suite.gateway_urls, PROBES, prefix=f"DP16{tag}", per_address=32)
    v201 = SimFleet201(suite.gateway_urls, PROBES, prefix=f"DP21{tag}", per_address=32)
    conn = await asyncpg.connect(suite.dsn)
    try:
        for fleet in (bulk, v16, v201):
            _, failed = await fleet.connect_all(concurrency=50)
            if failed:
                raise RuntimeError(f"{failed} stations of the decisions scenario did not connect")
        await bulk.start_all(bulk.cps, concurrency=50)
        await suite.settle(60.0)
        probes = Probes(v16, v201)

        idle = asyncio.Event()
        baseline_run = asyncio.create_task(probes.run_until(idle))
        await asyncio.sleep(BASELINE_SECONDS)
        idle.set()
        await baseline_run
        baseline, baseline_refused = probes.take()

        done = asyncio.Event()
        probing = asyncio.create_task(probes.run_until(done))
        rows_before = await _stored(conn, f"DB{tag}")
        answered = 0
        last_answered: dict[str, int] = {}  # each bulk station's last answered register reading
        burst_started = time.monotonic()
        burst_end = burst_started + BURST_SECONDS

        async def updates(cp: SimChargePoint) -> None:
            nonlocal answered
            for n in itertools.count():
                # Paced: BURST_MAX over BURST_SECONDS, as the burst (each station sends
                # its next call when answered, and not before its turn).
                if (wait := burst_started + n * PACE - time.monotonic()) > 0:
                    await asyncio.sleep(wait)
                if time.monotonic() >= burst_end or answered >= BURST_MAX:
                    return
                try:
                    await bulk.meter_values(cp)
                except CallFailed:
                    continue
                answered += 1
                last_answered[cp.cp_id] = cp.state["energy"]

        await asyncio.gather(*(updates(cp) for cp in bulk.cps))
        burst = time.monotonic() - burst_started
        rows_at_burst_end = await _stored(conn, f"DB{tag}")
        expected = rows_before + answered * SAMPLES_PER_UPDATE
        deadline = time.monotonic() + DRAIN_BOUND
        # Drained when every answered Updated's rows are stored; counted only once every
        # station's last answered Updated is (`_behind`, cheap), as two groups of one station
        # may commit out of order. Until stop 63 the wait also needed the bulk queue read at 0
        # ready messages: in three runs of stop 64 it never was while the probes went on, and
        # the round reported its bound (180 s) where the session-service's groups showed the
        # backlog stored ~70 s before it. The queue's ready count when drained is logged.
        while time.monotonic() < deadline:
            if (
                await _behind(conn, last_answered) == 0
                and await _stored(conn, f"DB{tag}") >= expected
            ):
                break
            await asyncio.sleep(0.5)
        drained = time.monotonic() - burst_started - burst
        bench.log(f"  {BULK_QUEUE}: {await suite.queue_depth(BULK_QUEUE)} ready when drained")
        outbox = await conn.fetchval("SELECT count(*) FROM sessions.outbox")
        bench.log(f"  sessions.outbox: {outbox} events not yet published when drained")
        rows_after = await _stored(conn, f"DB{tag}")
        done.set()
        await probing
        during, during_refused = probes.take()

        stored = (rows_after - rows_before) // SAMPLES_PER_UPDATE
        bench.log(
            f"decisions ({setup}): {answered:,} Updated answered in {burst:.1f} s;"
            f" {stored:,} stored,"
            f" {(rows_at_burst_end - rows_before) // SAMPLES_PER_UPDATE:,} by the burst's end,"
            f" the rest in {drained:.1f} s more"
        )
        for label in sorted(set(baseline) | set(during)):
            now, before = during.get(label), baseline.get(label)
            refused = sum(n for key, n in during_refused.items() if key.startswith(label))
            refused_before = sum(n for key, n in baseline_refused.items() if key.startswith(label))
            bench.log(f"  {label}: burst {now}, idle {before}, refused {refused}")
            if now is None:
                continue
            bench.add(
                Row(
                    SCENARIO,
                    f"{label} during the burst and its drain, {setup} ({now.count} calls,"
                    f" {refused} refused or unanswered): p50 / p99 / max (ms)",
                    f"{now.p50:.0f} / {now.p99:.0f} / {now.max:.0f}",
                    "-"
                    if before is None
                    else f"{before.p50:.0f} / {before.p99:.0f} / {before.max:.0f} idle"
                    f" ({refused_before} refused)",
                    target=f"p99 < {TARGET_MS:g} ms, none refused",
                    met=verdict(now.p99 < TARGET_MS and refused == 0),
                )
            )
        for key, n in sorted(during_refused.items()):
            bench.notes.append(f"decisions during the burst ({setup}): {n} x {key}")
        bench.add(
            Row(
                SCENARIO,
                f"TransactionEvent Updated from {BULK_STATIONS} stations, {BURST_MAX:,} paced"
                f" over {BURST_SECONDS:g} s, {setup}:"
                " answered / stored per second (burst and drain)",
                f"{num(answered / burst)}/s answered, {num(stored / (burst + drained))}/s stored",
                f"backlog stored {drained:.1f} s after the burst",
                target="drained within 30 s",
                met=verdict(drained <= 30.0 and stored >= answered),
            )
        )
    finally:
        await conn.close()
        for fleet in (bulk, v16, v201):
            await fleet.close()


async def decisions(bench: Bench, suite: BenchSuite) -> None:
    """The burst with the session-service as one process (every lane), then with its
    decisions in a process of their own (SESSION_CONSUME, docs/SCALING.md), then the same with
    the bulk process's groups split by station into two shards (SESSION_GROUP_SHARDS)."""
    await _round(bench, suite, "one session-service process", "a")
    main = "session-service"
    apart, _ = await asyncio.to_thread(suite.suite.extra_service, main, SESSION_CONSUME="decisions")
    try:
        for tag, shards, setup in (
            ("b", "1", "decisions in a process of their own"),
            ("c", "2", "decisions in a process of their own, bulk groups in two shards"),
        ):
            await asyncio.to_thread(
                suite.suite.restart_service,
                main,
                SESSION_CONSUME="calls,events,rpc",
                SESSION_GROUP_SHARDS=shards,
            )
            await _round(bench, suite, setup, tag)
    finally:
        apart.stop()
        await asyncio.to_thread(
            suite.suite.restart_service, main, SESSION_CONSUME="", SESSION_GROUP_SHARDS="1"
        )
