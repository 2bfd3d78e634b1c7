"""Rates: the stack's limits, the `ocpp`-library peer, Heartbeat, MeterValues, request/reply."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from .baselines.amqp import Requester
from .context import Bench, free_port, own_pid
from .cp import CallFailed, SimChargePoint
from .fleet import SimFleet
from .load import Ramp, Step, closed_loop, find_peak, paced
from .procs import CpuWatch
from .report import Row, num, verdict
from .stats import Stats, Summary
from .suite import BenchSuite

# A step holds when the CPs got at least this share of the rate asked, the answers stayed
# prompt (median and p99 under these bounds: no queue building up in front of the server) and,
# through the suite, the service behind the gateway kept up (see _suite_step).
HELD = 0.95
P50_BOUND_MS = 50.0
P99_BOUND_MS = 500.0


def held(step: Step, rate: float) -> bool:
    """The step got its rate, without failures, with prompt answers."""
    return (
        step.failed == 0
        and step.rate >= HELD * rate
        and step.latency.p50 <= P50_BOUND_MS
        and step.latency.p99 <= P99_BOUND_MS
    )


# (queue, schema): where a call waits before its service commits it, and where the events the
# commit wrote wait before they are published.
REGISTRY = ("station-registry.calls", "registry")
SESSIONS = ("session-service.calls", "sessions")


async def connect_only(fleet: SimFleet, url: str, concurrency: int = 500) -> float:
    """Open every CP's WebSocket without booting (the baselines); seconds taken."""
    gate = asyncio.Semaphore(concurrency)

    async def one(cp: SimChargePoint) -> None:
        async with gate:
            try:
                await cp.connect(url)
            except CallFailed:
                pass

    started = time.monotonic()
    await asyncio.gather(*(one(cp) for cp in fleet.cps))
    return time.monotonic() - started


async def _ramp_plain(bench: Bench, label: str, url: str, pids: dict[str, list[int]]) -> Ramp:
    """Find the peak Heartbeat rate of a server that needs no broker (echo, peer)."""
    p = bench.profile
    fleet = SimFleet([url], p.throughput_cps, prefix=label.upper()[:4], answer_commands=False)
    await connect_only(fleet, url)
    connected = sum(cp.connected for cp in fleet.cps)
    bench.log(f"{label}: {connected} connections; ramping Heartbeat")

    async def step(rate: float) -> Step:
        watch = CpuWatch(pids | {"client": own_pid()})
        result = await paced(fleet.cps, rate, p.step_seconds, fleet.heartbeat, fleet.stats)
        watch.stop()
        result.sustained = held(result, rate)
        result.note = watch.describe(result.answered)
        return result

    ramp = await find_peak(
        step, 2000, ceiling=200_000, doublings=p.doublings, bisections=p.bisections, log=bench.log
    )
    if ramp.peak is not None:
        half = await step(ramp.peak_rate / 2)
        bench.log("  half:" + half.line())
        bench.figures[f"{label}_half_p99"] = half.latency.p99
        bench.figures[f"{label}_half_p50"] = half.latency.p50
        if bench.py_spy:
            await asyncio.gather(
                bench.spy(label, {name: group[0] for name, group in pids.items()}, p.hold_seconds),
                bench.spy(f"{label}-client", {"client": own_pid()[0]}, p.hold_seconds),
                step(ramp.peak_rate * 0.8),
            )
    await fleet.close()
    bench.figures[f"{label}_rate"] = ramp.peak_rate
    if ramp.peak is not None:
        bench.figures[f"{label}_p99"] = ramp.peak.latency.p99
        bench.figures[f"{label}_client_cpu"] = ramp.peak.client_cpu
    return ramp


async def stack_limits(bench: Bench, suite: BenchSuite) -> None:
    """The bare echo, the `ocpp` peer, bare aio-pika request/reply: the run's references."""
    port = free_port()
    echo_pid = await bench.spawn("echo", "bench.baselines.echo", str(port), port=port)
    echo = await _ramp_plain(bench, "echo", f"ws://127.0.0.1:{port}", {"echo": [echo_pid]})
    bench.stop_child(echo_pid)
    bench.log(f"echo peak {echo.peak_rate:.0f}/s")

    port = free_port()
    peer_pid = await bench.spawn("peer", "bench.baselines.peer", str(port), port=port)
    peer = await _ramp_plain(bench, "peer", f"ws://127.0.0.1:{port}", {"peer": [peer_pid]})
    bench.stop_child(peer_pid)
    bench.log(f"ocpp-library peer peak {peer.peak_rate:.0f} Heartbeats/s")

    replier = await bench.spawn("amqp-replier", "bench.baselines.amqp", suite.broker_url)
    requester = Requester(suite.broker_url)
    await requester.start()
    await asyncio.sleep(1.0)  # the replier declares and consumes
    stats = Stats()
    workers = bench.profile.reqreply_workers

    async def one(_: int) -> int:
        started = time.perf_counter()
        try:
            await requester.request(b'{"idTag":"TAG00001"}')
        except TimeoutError:
            stats.timeout("amqp")
            return 0
        stats.ok("amqp", time.perf_counter() - started)
        return 1

    await closed_loop(workers, 1.0, one)  # warm up
    stats.reset()
    groups = {
        "rabbitmq": (await suite.cpu_groups())["rabbitmq"],
        "replier": [replier],
        "client": own_pid(),
    }
    watch = CpuWatch(groups)
    done, seconds = await closed_loop(workers, bench.profile.reqreply_seconds, one)
    watch.stop()
    rate = done / seconds
    s = stats.summary("amqp")
    bench.figures["amqp_rate"], bench.figures["amqp_p50"], bench.figures["amqp_p99"] = (
        rate,
        s.p50,
        s.p99,
    )
    bench.log(
        f"bare aio-pika request/reply ({workers} in flight): {rate:.0f}/s, "
        f"p50 {s.p50:.1f} p99 {s.p99:.1f} ms; {watch.describe(done)}"
    )
    bench.cpu_lines.append(f"bare aio-pika request/reply: {watch.describe(done)}")
    await requester.close()
    bench.stop_child(replier)
    client = bench.figures.get("echo_client_cpu", 0.0)
    bench.add(
        Row(
            "Stack limits",
            "bare WebSocket echo, Heartbeat frames/s (1 in flight per CP)",
            num(echo.peak_rate),
            f"load client at {client:.0%} of a core" + (": client-bound" if client > 0.9 else ""),
        )
    )
    bench.add(
        Row(
            "Stack limits",
            "ocpp 2.1.0 peer on uvloop, Heartbeat/s",
            num(peer.peak_rate),
            f"p99 {bench.figures.get('peer_p99', 0):.1f} ms at peak, "
            f"{bench.figures.get('peer_half_p99', 0):.1f} at half",
        )
    )
    bench.add(
        Row(
            "Stack limits",
            f"bare aio-pika request/reply/s ({workers} in flight)",
            num(rate),
            f"p50 {s.p50:.1f} / p99 {s.p99:.1f} ms",
        )
    )


async def _suite_step(
    bench: Bench,
    suite: BenchSuite,
    fleet: SimFleet,
    send: Callable[[SimChargePoint], Awaitable[object]],
    service: tuple[str, str],
    rate: float,
    seconds: float,
) -> Step:
    """A paced step through the suite; held only if the service keeps up with the gateway.

    Keeping up: what the CPs had acknowledged is committed and its events published, so the
    service's queue and outbox grow by no more than 0.1 s of messages (what is in flight) plus
    20 over the step, and are empty again soon after it.
    """
    depth0 = await suite.backlog(*service)
    result = await paced(fleet.cps, rate, seconds, send, fleet.stats)
    depth1 = await suite.backlog(*service)
    growth = depth1 - depth0
    result.consumer_rate = (result.answered - growth) / seconds
    drained = await suite.wait_drained(*service, bench.profile.drain_timeout)
    result.sustained = held(result, rate) and growth <= 0.1 * rate + 20 and drained >= 0
    result.note = f"backlog {depth1} (queue + outbox), drained in {drained:.1f}s"
    if result.failed:
        result.note += f"; errors {dict(fleet.stats.errors.most_common(3))}"
    return result


async def _hold(
    bench: Bench,
    suite: BenchSuite,
    label: str,
    fleet: SimFleet,
    send: Callable[[SimChargePoint], Awaitable[object]],
    service: tuple[str, str],
    rate: float,
) -> tuple[Step, Step]:
    """The peak held for longer (CPU per message measured), then half of it."""
    groups = await suite.cpu_groups() | {"client": own_pid()}
    sessions0, commits0 = await suite.db_counters()
    watch = CpuWatch(groups)
    peak = await _suite_step(bench, suite, fleet, send, service, rate, bench.profile.hold_seconds)
    watch.stop(await suite.cpu_groups() | {"client": own_pid()})
    sessions1, commits1 = await suite.db_counters()
    bench.log("  hold:" + peak.line())
    per_k = 1000 / max(peak.answered, 1)
    line = (
        f"{label} at {rate:.0f}/s: {watch.describe(peak.answered)}; per 1000 messages "
        f"{(commits1 - commits0) * per_k:.0f} DB commits, {(sessions1 - sessions0) * per_k:.0f} "
        "new DB connections"
    )
    bench.log("  " + line)
    bench.cpu_lines.append(line)
    half = await _suite_step(
        bench, suite, fleet, send, service, rate / 2, bench.profile.hold_seconds
    )
    bench.log("  half:" + half.line())
    if bench.py_spy:
        pids = {
            "gateway0": suite.pid(suite.gateway(0)),
            "station-registry": suite.pid(suite.suite.services["station-registry"]),
            "session-service": suite.pid(suite.suite.services["session-service"]),
        }
        if "load-manager" in suite.suite.services:
            pids["load-manager"] = suite.pid(suite.suite.services["load-manager"])
        await asyncio.gather(
            bench.spy(label, pids, bench.profile.hold_seconds),
            _suite_step(bench, suite, fleet, send, service, rate * 0.8, bench.profile.hold_seconds),
        )
    return peak, half


def _rate_rows(
    bench: Bench, name: str, ramp: Ramp, peak: Step | None, half: Step | None, target: float
) -> None:
    peer = bench.figures.get("peer_rate", 0.0)
    echo = bench.figures.get("echo_rate", 0.0)
    rate = ramp.peak_rate
    ratio = rate / peer if peer else 0.0
    bench.add(
        Row(
            name,
            "peak sustained rate (/s)",
            num(rate),
            f"ocpp peer {num(peer)} Heartbeat/s",
            f"{ratio:.2f}x",
            f">= {target}x peer",
            verdict(ratio >= target if peer else None),
        )
    )
    bench.add(
        Row(
            name,
            "share of the bare WebSocket echo",
            num(rate),
            f"echo {num(echo)}/s",
            f"{rate / echo:.2f}x" if echo else "-",
        )
    )
    if peak is not None and half is not None:
        bench.add(
            Row(
                name,
                "p99 at peak / at half (ms)",
                f"{peak.latency.p99:.1f} / {half.latency.p99:.1f}",
                f"peer {bench.figures.get('peer_p99', 0):.1f} / "
                f"{bench.figures.get('peer_half_p99', 0):.1f}",
                target="< 50 ms at half",
                met=verdict(half.latency.p99 < 50),
            )
        )


async def heartbeat(bench: Bench, suite: BenchSuite, fleet: SimFleet) -> None:
    """Highest sustained Heartbeat rate end to end (the registry keeping up), p99 at it and half."""
    p = bench.profile
    bench.log("Heartbeat ramp through the suite")

    async def step(rate: float) -> Step:
        return await _suite_step(
            bench, suite, fleet, fleet.heartbeat, REGISTRY, rate, p.step_seconds
        )

    ramp = await find_peak(
        step, 1000, ceiling=100_000, doublings=p.doublings, bisections=p.bisections, log=bench.log
    )
    peak = half = None
    if ramp.peak is not None:
        peak, half = await _hold(
            bench, suite, "Heartbeat", fleet, fleet.heartbeat, REGISTRY, ramp.peak_rate
        )
    bench.figures["heartbeat_rate"] = ramp.peak_rate
    _rate_rows(bench, "Heartbeat", ramp, peak, half, 1.5)


async def meter_values(
    bench: Bench, suite: BenchSuite, fleet: SimFleet, name: str = "MeterValues"
) -> None:
    """Highest sustained MeterValues rate with every message committed; then the DB check.
    With a 2.0.1 fleet (`fleet201`), its transaction's meter values as TransactionEvent
    Updated, under `name`, against the same targets."""
    p = bench.profile
    bench.log(f"{name}: a transaction on every CP, then the ramp")
    await fleet.start_all(fleet.cps, 64)
    charging = [cp for cp in fleet.cps if cp.state["tx"] is not None]
    await suite.settle(p.drain_timeout)

    async def send(cp: SimChargePoint) -> None:
        if cp.state["tx"] is not None:
            await fleet.meter_values(cp)

    async def step(rate: float) -> Step:
        return await _suite_step(bench, suite, fleet, send, SESSIONS, rate, p.step_seconds)

    ramp = await find_peak(
        step, 500, ceiling=100_000, doublings=p.doublings, bisections=p.bisections, log=bench.log
    )
    peak = half = None
    if ramp.peak is not None:
        peak, half = await _hold(bench, suite, name, fleet, send, SESSIONS, ramp.peak_rate)
    key = "meter_values" if name == "MeterValues" else name.lower().replace(" ", "_")
    bench.figures[f"{key}_rate"] = ramp.peak_rate

    fleet.stats.reset()
    started = time.monotonic()
    await fleet.stop_all(charging, 64)
    report = fleet.stats.report(time.monotonic() - started).replace("\n", "\n  ")
    bench.log(f"  stopped {len(charging)} transactions:\n  {report}")
    await suite.wait_drained(*SESSIONS, p.drain_timeout)
    check = await fleet.verify(suite.dsn, settle=p.drain_timeout)
    bench.log("  " + check.line())
    for problem in check.problems:
        bench.log("    " + problem)
    # Issue 45: MeterValues at the peer's Heartbeat rate, TransactionEvent Updated at half of it.
    _rate_rows(bench, name, ramp, peak, half, 1.0 if name == "MeterValues" else 0.5)
    bench.add(
        Row(
            name,
            "acknowledged meter rows in the DB",
            f"{num(check.meter_rows_in_db)} / {num(check.meter_rows_acked)}",
            target="all",
            met=verdict(check.meter_rows_in_db >= check.meter_rows_acked and not check.lost),
        )
    )


async def request_reply(bench: Bench, suite: BenchSuite, fleet: SimFleet) -> None:
    """Authorize, StartTransaction, StopTransaction closed-loop vs bare aio-pika; p99 at half."""
    p = bench.profile
    cps = fleet.cps[: p.reqreply_workers]
    bench.log(f"request/reply: {len(cps)} CPs, Authorize -> StartTransaction -> StopTransaction")

    async def session(w: int) -> int:
        cp = cps[w]
        try:
            await fleet.start_transaction(cp)
            await fleet.stop_transaction(cp)
        except CallFailed:
            return 0
        return 3

    await closed_loop(len(cps), 1.0, session)  # warm up
    fleet.stats.reset()
    groups = await suite.cpu_groups() | {"client": own_pid()}
    sessions0, commits0 = await suite.db_counters()
    watch = CpuWatch(groups)
    done, seconds = await closed_loop(len(cps), p.reqreply_seconds, session)
    watch.stop(await suite.cpu_groups() | {"client": own_pid()})
    sessions1, commits1 = await suite.db_counters()
    rate = done / seconds
    lat = Summary.of(
        [
            x
            for a in ("Authorize", "StartTransaction", "StopTransaction")
            for x in fleet.stats.latencies.get(a, [])
        ]
    )
    per_k = 1000 / max(done, 1)
    line = (
        f"request/reply at {rate:.0f} calls/s: {watch.describe(done)}; per 1000 calls "
        f"{(commits1 - commits0) * per_k:.0f} DB commits, {(sessions1 - sessions0) * per_k:.0f} "
        "new DB connections"
    )
    bench.log(f"  {line}; p50 {lat.p50:.1f} p99 {lat.p99:.1f} ms")
    bench.log("  " + fleet.stats.report(seconds).replace("\n", "\n  "))
    bench.cpu_lines.append(line)

    async def cycle(cp: SimChargePoint) -> None:
        if cp.state["tx"] is not None:
            await fleet.stop_transaction(cp)
        elif cp.state.get("authorized"):
            cp.state["authorized"] = False
            await fleet.start_transaction(cp, authorize=False)
        else:
            await fleet.authorize(cp, "TAG00001")
            cp.state["authorized"] = True

    half = await paced(cps, rate / 2, p.hold_seconds, cycle, fleet.stats)
    half.sustained = held(half, rate / 2)
    bench.log("  half:" + half.line())
    if bench.py_spy:
        pids = {
            "gateway0": suite.pid(suite.gateway(0)),
            "session-service": suite.pid(suite.suite.services["session-service"]),
            "command-api": suite.pid(suite.suite.services["command-api"]),
        }
        if "load-manager" in suite.suite.services:
            pids["load-manager"] = suite.pid(suite.suite.services["load-manager"])
        await asyncio.gather(
            bench.spy("RequestReply", pids, p.hold_seconds),
            closed_loop(len(cps), p.hold_seconds, session),
        )
    for cp in cps:  # close what the half-rate cycle left open
        if cp.state["tx"] is not None:
            try:
                await fleet.stop_transaction(cp)
            except CallFailed:
                pass
    amqp = bench.figures.get("amqp_rate", 0.0)
    ratio = rate / amqp if amqp else 0.0
    bench.figures["reqreply_rate"] = rate
    bench.add(
        Row(
            "Request/reply",
            f"Authorize/Start/Stop calls/s ({len(cps)} in flight)",
            num(rate),
            f"bare aio-pika {num(amqp)}/s",
            f"{ratio:.0%}",
            ">= 75% of aio-pika",
            verdict(ratio >= 0.75 if amqp else None),
        )
    )
    bench.add(
        Row(
            "Request/reply",
            "p50 / p99 at peak; p99 at half (ms)",
            f"{lat.p50:.1f} / {lat.p99:.1f}; {half.latency.p99:.1f}",
            f"aio-pika {bench.figures.get('amqp_p50', 0):.1f} / "
            f"{bench.figures.get('amqp_p99', 0):.1f}",
            target="< 50 ms at half",
            met=verdict(half.latency.p99 < 50),
        )
    )
    check = await fleet.verify(suite.dsn, settle=p.drain_timeout)
    bench.log("  transactions so far: " + check.line())
    for problem in check.problems:
        bench.log("    " + problem)
    bench.add(
        Row(
            "Transactions",
            "started by the fleet: in DB once, right energy",
            f"{num(check.in_db - check.wrong)} / {num(check.started)}",
            target="all, no duplicates",
            met=verdict(check.lost == 0 and check.started > 0),
        )
    )
