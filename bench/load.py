"""Driving charge points: paced open-loop steps, a bounded ramp to the peak, closed loops."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from .cp import CallFailed, SimChargePoint
from .stats import Stats, Summary

# One message of a step: send it from this CP (raises CallFailed; Stats counts it).
Send = Callable[[SimChargePoint], Awaitable[object]]


@dataclass(slots=True)
class Step:
    """One paced step: the rate asked for, what came back, and whether it held."""

    target: float
    seconds: float
    answered: int
    failed: int
    latency: Summary
    client_cpu: float  # share of one core the load client used
    consumer_rate: float | None = None  # what the service behind it committed per second
    sustained: bool = False
    note: str = ""
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        """Answers per second over the step."""
        return self.answered / self.seconds

    def line(self) -> str:
        """One log line."""
        consumer = "" if self.consumer_rate is None else f" consumer {self.consumer_rate:7.0f}/s"
        return (
            f"  target {self.target:8.0f}/s  got {self.rate:8.0f}/s{consumer}  "
            f"p50 {self.latency.p50:6.1f} p99 {self.latency.p99:7.1f} ms  fail {self.failed}  "
            f"client cpu {self.client_cpu:4.0%}  {'OK' if self.sustained else 'no'} {self.note}"
        )


def _process_cpu() -> float:
    t = os.times()
    return t.user + t.system


async def paced(
    cps: Sequence[SimChargePoint], rate: float, seconds: float, send: Send, stats: Stats
) -> Step:
    """Every CP sends at its share of `rate` for `seconds` (one CALL outstanding per CP)."""
    loop = asyncio.get_running_loop()
    stats.reset()
    cps = [cp for cp in cps if cp.connected]
    if not cps:
        return Step(rate, seconds, 0, 0, Summary.of([]), 0.0, note="no CP connected")
    interval = len(cps) / rate
    start = loop.time() + 0.05
    end = start + seconds
    max_each = int(seconds / interval) + 1

    async def worker(i: int, cp: SimChargePoint) -> None:
        due = start + interval * i / len(cps)
        for _ in range(max_each):
            now = loop.time()
            if due >= end or now >= end:
                return
            if due > now:
                await asyncio.sleep(due - now)
            try:
                await send(cp)
            except CallFailed as exc:
                if exc.kind == "disconnected":
                    return
            due += interval

    cpu0, wall0 = _process_cpu(), time.monotonic()
    await asyncio.gather(*(worker(i, cp) for i, cp in enumerate(cps)))
    wall = time.monotonic() - wall0
    return Step(
        target=rate,
        seconds=seconds,
        answered=stats.answered(),
        failed=stats.failures(),
        latency=stats.merged(),
        client_cpu=(_process_cpu() - cpu0) / wall,
    )


async def closed_loop(
    workers: int, seconds: float, one: Callable[[int], Awaitable[int]], max_each: int = 1_000_000
) -> tuple[int, float]:
    """`workers` loops each running `one(worker)` back to back for `seconds`; (units, seconds)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    done = [0] * workers

    async def run(w: int) -> None:
        for _ in range(max_each):
            if loop.time() >= end:
                return
            done[w] += await one(w)

    started = time.monotonic()
    await asyncio.gather(*(run(w) for w in range(workers)))
    return sum(done), time.monotonic() - started


@dataclass(slots=True)
class Ramp:
    """The steps of a bounded search for the highest sustained rate."""

    steps: list[Step] = field(default_factory=list)
    peak: Step | None = None

    @property
    def peak_rate(self) -> float:
        """The highest rate that held (0 when none did)."""
        return self.peak.rate if self.peak else 0.0


async def find_peak(
    run_step: Callable[[float], Awaitable[Step]],
    start: float,
    *,
    ceiling: float,
    doublings: int = 7,
    bisections: int = 3,
    log: Callable[[str], None] = print,
) -> Ramp:
    """Double from `start` until a step fails, then bisect: at most doublings+bisections+3 rates.

    A step that fails is run once more and counts as failed only if it fails again: on a shared
    machine one step can fall to a passing burst of other work, and a ramp that took it for
    the limit would report a fraction of the peak. Both runs are logged.
    """
    ramp = Ramp()
    good: float | None = None
    bad: float | None = None
    rate = start

    async def run_confirmed(rate: float) -> Step:
        step = await run_step(rate)
        ramp.steps.append(step)
        log(step.line())
        if not step.sustained:
            step = await run_step(rate)
            ramp.steps.append(step)
            log(step.line() + " (run again)")
        return step

    for _ in range(doublings):
        step = await run_confirmed(rate)
        if step.sustained:
            good, ramp.peak = rate, step
            if rate * 2 > ceiling:
                break
            rate *= 2
        else:
            bad = rate
            break
    if good is None:
        # Even the first step failed: go down a few times.
        for _ in range(3):
            rate /= 2
            step = await run_confirmed(rate)
            if step.sustained:
                good, ramp.peak = rate, step
                break
            bad = rate
    if good is None or bad is None:
        return ramp
    for _ in range(bisections):
        if bad / good < 1.12:
            break
        mid = (good * bad) ** 0.5
        step = await run_confirmed(mid)
        if step.sustained:
            good, ramp.peak = mid, step
        else:
            bad = mid
    return ramp
