"""What the OCPP message log costs: Heartbeat and MeterValues peaks with it at `all` and `off`.

Both levels in the same run, on the same fleet: the throughput fleet's CPs are switched with
the admin's per-CP override (`PUT /charge-points/{id}/message-log`), which is what an operator
would do, and the switch is known to be applied when the gateways' record counters stop (off)
or move again (all). Each peak is found as the Heartbeat and MeterValues scenarios find theirs,
the service behind the gateway keeping up, in pairs found back to back (`cost`); the writer's
queue is read after each message type's pairs.
"""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from .context import Bench, own_pid
from .cp import SimChargePoint
from .fleet import SimFleet
from .load import Step, find_peak
from .procs import CpuWatch
from .report import Row, num, verdict
from .suite import BenchSuite
from .throughput import REGISTRY, SESSIONS, _suite_step

WRITER_QUEUE = "message-log.records"
COUNTER = "csms_gateway_message_log_records_total"
DROPPED = "csms_gateway_message_log_dropped_total"
PYTHON_GROUPS = ("gateway", "message-log")
CPU_RATES = (1000, 6000)
PAIRS = 3  # pairs of peaks per message type, the order of the levels alternating


async def _gateway_sum(suite: BenchSuite, name: str) -> float:
    total = 0.0
    async with httpx.AsyncClient(timeout=10) as http:
        for port in suite.suite.gateway_internal_ports:
            text = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
            for line in text.splitlines():
                if line.startswith(name) and not line.startswith("#"):
                    total += float(line.split()[-1])
    return total


async def set_level(bench: Bench, suite: BenchSuite, fleet: SimFleet, level: str) -> None:
    """Every fleet CP at `level` (`all`: back to the default), applied by the gateways."""
    gate = asyncio.Semaphore(32)
    body: dict[str, Any] = {"level": None if level == "all" else level}
    async with httpx.AsyncClient(
        base_url=suite.api_url,
        headers={"Authorization": f"Bearer {suite.admin_key}"},
        timeout=30,
    ) as api:

        async def put(cp: SimChargePoint) -> None:
            async with gate:
                for attempt in range(3):
                    try:
                        response = await api.put(
                            f"/charge-points/{cp.cp_id}/message-log", json=body
                        )
                    except httpx.TransportError:
                        # A kept-alive connection the server closed meanwhile: again.
                        if attempt == 2:
                            raise
                        continue
                    response.raise_for_status()
                    return

        await asyncio.gather(*(put(cp) for cp in fleet.cps))
    for _ in range(200):
        before = await _gateway_sum(suite, COUNTER)
        await asyncio.gather(*(fleet.heartbeat(cp) for cp in fleet.cps))
        grew = await _gateway_sum(suite, COUNTER) - before
        if (level == "off" and grew == 0) or (level == "all" and grew >= 2 * len(fleet.cps)):
            bench.log(f"message log at {level!r} for the {len(fleet.cps)} fleet CPs")
            return
        await asyncio.sleep(0.1)
    raise RuntimeError(f"the gateways did not apply message log level {level!r}")


async def _cpu(bench: Bench, suite: BenchSuite, fleet: SimFleet, level: str) -> None:
    """Where the CPU goes at fixed Heartbeat rates (a hold each), per process: at 1,000/s,
    where a log bundle is sent half full every 200 ms, and at 6,000/s, where they go full."""
    for rate in CPU_RATES:
        groups = await suite.cpu_groups() | {"client": own_pid()}
        watch = CpuWatch(groups)
        hold = bench.profile.hold_seconds
        python = {name: pids[0] for name, pids in groups.items() if name.startswith(PYTHON_GROUPS)}
        step, *_ = await asyncio.gather(
            _suite_step(bench, suite, fleet, fleet.heartbeat, REGISTRY, rate, hold),
            # With --py-spy: where the gateways and the writer spend it.
            bench.spy(f"messagelog-{level}-{rate}", python, hold),
        )
        watch.stop(await suite.cpu_groups() | {"client": own_pid()})
        line = f"Heartbeat at {rate:,}/s, message log {level}: {watch.describe(step.answered)}"
        bench.log("  " + line)
        bench.cpu_lines.append(line)


async def _paired(
    bench: Bench,
    suite: BenchSuite,
    fleet: SimFleet,
    name: str,
    step: Callable[[float], Awaitable[Step]],
    first: float,
    level: str,
) -> tuple[list[tuple[float, float]], str]:
    """PAIRS pairs of peaks of one message type, the order of the levels turning from pair
    to pair, starting with the level in place (one switch per pair):
    (peak at all, peak at off) per pair, and the level left in place.

    The searches after the first pair start at half its lower peak, both levels of a pair from
    the same rate (so on the same grid), with one bisection more than the ramps elsewhere."""
    p = bench.profile
    start, bisections = first, p.bisections
    pairs: list[tuple[float, float]] = []
    for index in range(1, PAIRS + 1):
        peaks: dict[str, float] = {}
        for current in (level, "off" if level == "all" else "all"):
            if current != level:
                await set_level(bench, suite, fleet, current)
                level = current
            bench.log(f"{name} peak with the message log at {level!r}, pair {index}")
            ramp = await find_peak(
                step,
                start,
                ceiling=100_000,
                doublings=p.doublings,
                bisections=bisections,
                log=bench.log,
            )
            peaks[level] = ramp.peak_rate
        ratio = peaks["all"] / peaks["off"] if peaks["off"] else 0.0
        bench.log(
            f"  {name} pair {index}: all {num(peaks['all'])}/s, off {num(peaks['off'])}/s, "
            f"{ratio:.2f}x"
        )
        pairs.append((peaks["all"], peaks["off"]))
        if index == 1 and min(peaks.values()) > 0:
            start, bisections = min(peaks.values()) / 2, p.bisections + 1
    return pairs, level


async def cost(bench: Bench, suite: BenchSuite, fleet: SimFleet) -> None:
    """Heartbeat and MeterValues peaks at `all` against `off`; the writer's backlog.

    A peak found a few minutes after another on this shared machine can differ from it by 40%
    with nothing changed (RESULTS.md, 2026-11-24 (late)), more than the log costs. So each
    ratio comes from peaks found back to back: PAIRS pairs per message type, the order of the
    levels alternating from pair to pair (Heartbeat off/all, all/off, off/all; MeterValues
    all/off, off/all, all/off) so a drift in the machine's speed weighs on both, and the figure
    is the median of the pairs' ratios (every pair is logged and noted).
    """
    await fleet.start_all([cp for cp in fleet.cps if cp.state.get("tx") is None], 64)
    await suite.settle(bench.profile.drain_timeout)
    step_seconds = bench.profile.step_seconds
    for level in ("all", "off"):
        await set_level(bench, suite, fleet, level)
        await _cpu(bench, suite, fleet, level)

    async def heartbeats(rate: float) -> Step:
        return await _suite_step(bench, suite, fleet, fleet.heartbeat, REGISTRY, rate, step_seconds)

    async def send(cp: SimChargePoint) -> None:
        if cp.state.get("tx") is not None:
            await fleet.meter_values(cp)

    async def meters(rate: float) -> Step:
        return await _suite_step(bench, suite, fleet, send, SESSIONS, rate, step_seconds)

    backlog = 0
    results: dict[str, list[tuple[float, float]]] = {}
    for name, step, first in (("Heartbeat", heartbeats, 1000), ("MeterValues", meters, 500)):
        results[name], level = await _paired(bench, suite, fleet, name, step, first, level)
        backlog = max(backlog, await suite.queue_depth(WRITER_QUEUE))
    await set_level(bench, suite, fleet, "all")
    dropped = await _gateway_sum(suite, DROPPED)
    for name, target in (("Heartbeat", 0.7), ("MeterValues", 0.8)):
        pairs = results[name]
        ratios = [on / off if off else 0.0 for on, off in pairs]
        ratio = statistics.median_low(ratios)  # PAIRS is odd: the median, and one pair's
        on, off = pairs[ratios.index(ratio)]
        listed = ", ".join(f"{r:.2f}" for r in ratios)
        bench.notes.append(
            f"{name}, message log all against off, pairs of peaks back to back: "
            + "; ".join(f"{num(a)}/{num(o)}" for a, o in pairs)
            + f" (ratios {listed}; the row gives the median)"
        )
        bench.add(
            Row(
                f"{name}, message log",
                "peak sustained rate (/s), log all (median pair)",
                num(on),
                f"log off {num(off)}/s; pairs {listed}",
                f"{ratio:.2f}x",
                f">= {target}x off",
                verdict(ratio >= target if off else None),
            )
        )
    bench.add(
        Row(
            "Message log writer",
            "bundles queued after the peaks; records dropped",
            f"{backlog}; {num(dropped)}",
            target="no backlog growth, or drops counted",
            met=verdict(backlog < 100 or dropped > 0),
        )
    )
