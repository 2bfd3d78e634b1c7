"""What the OCPP message log costs: Heartbeat and MeterValues peaks with it at `all` and `off`.

Both levels in the same run, on the same fleet: the throughput fleet's CPs are switched with
the admin's per-CP override (`PUT /charge-points/{id}/message-log`), which is what an operator
would do, and the switch is known to be applied when the gateways' record counters stop (off)
or move again (all). Each peak is found as the Heartbeat and MeterValues scenarios find theirs,
the service behind the gateway keeping up; the writer's queue is read after each level.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from .context import Bench, own_pid
from .cp import SimChargePoint
from .fleet import SimFleet
from .load import find_peak
from .procs import CpuWatch
from .report import Row, num, verdict
from .suite import BenchSuite
from .throughput import REGISTRY, SESSIONS, _suite_step

WRITER_QUEUE = "message-log.records"
COUNTER = "csms_gateway_message_log_records_total"
DROPPED = "csms_gateway_message_log_dropped_total"
PYTHON_GROUPS = ("gateway", "message-log")
CPU_RATES = (1000, 6000)


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


async def _peaks(bench: Bench, suite: BenchSuite, fleet: SimFleet) -> tuple[float, float]:
    p = bench.profile

    async def heartbeats(rate: float) -> Any:
        return await _suite_step(
            bench, suite, fleet, fleet.heartbeat, REGISTRY, rate, p.step_seconds
        )

    heartbeat = await find_peak(
        heartbeats,
        1000,
        ceiling=100_000,
        doublings=p.doublings,
        bisections=p.bisections,
        log=bench.log,
    )

    async def send(cp: SimChargePoint) -> None:
        if cp.state.get("tx") is not None:
            await fleet.meter_values(cp)

    async def meters(rate: float) -> Any:
        return await _suite_step(bench, suite, fleet, send, SESSIONS, rate, p.step_seconds)

    meter = await find_peak(
        meters,
        500,
        ceiling=100_000,
        doublings=p.doublings,
        bisections=p.bisections,
        log=bench.log,
    )
    return heartbeat.peak_rate, meter.peak_rate


async def cost(bench: Bench, suite: BenchSuite, fleet: SimFleet) -> None:
    """Heartbeat and MeterValues peaks at `all` against `off`; the writer's backlog."""
    await fleet.start_all([cp for cp in fleet.cps if cp.state.get("tx") is None], 64)
    await suite.settle(bench.profile.drain_timeout)
    runs: dict[str, list[tuple[float, float]]] = {"all": [], "off": []}
    backlog = 0
    # Two rounds, the levels in turn: a burst of other work on the shared machine can only
    # lower a peak, so each level's best of two is its figure (both are logged).
    for round_ in (1, 2):
        for level in ("all", "off"):
            await set_level(bench, suite, fleet, level)
            if round_ == 1:
                await _cpu(bench, suite, fleet, level)
            bench.log(f"peaks with the message log at {level!r}, round {round_}")
            runs[level].append(await _peaks(bench, suite, fleet))
            bench.log(f"  round {round_} at {level!r}: Heartbeat, MeterValues {runs[level][-1]}")
            if level == "all":
                backlog = max(backlog, await suite.queue_depth(WRITER_QUEUE))
    peaks = {level: (max(r[0] for r in got), max(r[1] for r in got)) for level, got in runs.items()}
    await set_level(bench, suite, fleet, "all")
    dropped = await _gateway_sum(suite, DROPPED)
    for index, (name, target) in enumerate((("Heartbeat", 0.7), ("MeterValues", 0.8))):
        on, off = peaks["all"][index], peaks["off"][index]
        ratio = on / off if off else 0.0
        bench.add(
            Row(
                f"{name}, message log",
                "peak sustained rate (/s), log all",
                num(on),
                f"log off {num(off)}/s",
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
