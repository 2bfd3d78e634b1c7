"""Fleet-sized scenarios: commands under load, idle connections, reconnect storms."""

from __future__ import annotations

import asyncio
import json
import math
import signal
import sys
import time
from collections import Counter
from pathlib import Path

import asyncpg

from .context import Bench, free_port, own_pid
from .fleet import Behaviour, SimFleet
from .load import paced
from .procs import CpuWatch, listen_drops, open_files, rss_kib
from .report import Row, num, verdict
from .stats import Summary
from .suite import BenchSuite
from .throughput import connect_only

ROOT = Path(__file__).resolve().parent.parent  # `python -m bench.operators` runs from here


async def commands(bench: Bench, suite: BenchSuite, fleet: SimFleet) -> None:
    """REST -> gateway -> CP -> gateway -> REST while the fleet sends Heartbeats.

    The operators run in a process of their own (bench/operators.py): on the fleet's busy loop
    their timings would include that loop's lag. So do the CPs answering the commands (40 of
    them, beside the fleet): on the fleet's loop their answers waited behind its Heartbeats.
    """
    p = bench.profile
    load_rate = max(200.0, bench.figures.get("heartbeat_rate", 1000.0) / 2)
    bench.log(f"commands: GetConfiguration over REST, fleet at {load_rate:.0f} Heartbeats/s")
    job = {
        "url": suite.api_url,
        "key": suite.admin_key,
        "gateways": suite.gateway_urls,
        "answerers": 40,
        "seconds": p.command_seconds,
        "workers": p.command_workers,
        "max": p.max_commands,
    }
    operators = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.operators",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    assert operators.stdin is not None and operators.stdout is not None
    operators.stdin.write(json.dumps(job).encode() + b"\n")
    await operators.stdin.drain()
    # Their CPs connected and booted before the load and the clock start.
    await asyncio.wait_for(operators.stdout.readline(), 120)
    # The load runs alone for a few seconds first: what it costs by itself, to set apart from
    # what the commands cost.
    alone = 3.0
    load = asyncio.create_task(
        paced(fleet.cps, load_rate, alone + p.command_seconds + 2.0, fleet.heartbeat, fleet.stats)
    )
    await asyncio.sleep(0.5)
    groups = await suite.cpu_groups() | {"client": own_pid()}
    quiet = CpuWatch(groups)
    await asyncio.sleep(alone - 0.5)
    quiet.stop()
    watch = CpuWatch(groups)
    spying = asyncio.create_task(
        bench.spy(
            "Commands",
            {
                name: suite.pid(suite.suite.services[name])
                for name in ("command-api", "station-registry", "load-manager")
                if name in suite.suite.services
            },
            min(10.0, p.command_seconds),
        )
    )
    out, _ = await asyncio.wait_for(operators.communicate(b"go\n"), p.command_seconds + 120)
    watch.stop()
    step = await load
    await spying
    result = json.loads(out) if operators.returncode == 0 and out else {}
    latencies: list[float] = result.get("latencies", [])
    statuses = Counter({int(k): v for k, v in result.get("statuses", {}).items()})
    s = Summary.of(latencies)
    bench.log(
        f"  {s.count} commands, statuses {dict(statuses)}; p50 {s.p50:.1f} p99 {s.p99:.1f} "
        f"max {s.max:.1f} ms; fleet: {step.line()}"
    )
    # What the commands add: the span's CPU less the load's own at the same rate (a group
    # busier alone, on periodic work of its own, counts as adding nothing).
    added = {
        k: max(0.0, v - quiet.used.get(k, 0.0) * watch.wall / max(quiet.wall, 1e-9))
        / max(s.count, 1)
        for k, v in watch.used.items()
    }
    bench.log(
        "  CPU per command, less the Heartbeats' own (us): "
        + ", ".join(f"{k} {v * 1e6:.0f}" for k, v in added.items() if v * 1e6 >= 50)
        + f"; total {sum(added.values()) * 1e3:.1f} ms"
    )
    bench.add(
        Row(
            "Commands",
            f"REST->CP->REST p50 / p99 (ms), {p.command_workers} operators",
            f"{s.p50:.1f} / {s.p99:.1f}",
            f"under {num(step.rate)} Heartbeat/s (p99 {step.latency.p99:.1f} ms)",
            target="p99 < 100 ms",
            met=verdict(s.p99 < 100 and statuses.get(200, 0) == s.count and s.count > 0),
        )
    )


async def connections(bench: Bench, suite: BenchSuite) -> SimFleet:
    """Idle CPs on ONE gateway: memory per connection, connect + boot rate; the fleet stays."""
    n = bench.profile.connections
    # A fresh echo process: memory freed by earlier connections would hide the cost of new ones.
    port = free_port()
    echo_pid = await bench.spawn("echo-idle", "bench.baselines.echo", str(port), port=port)
    await asyncio.sleep(0.5)
    echo = SimFleet([f"ws://127.0.0.1:{port}"], n, prefix="ECON", answer_commands=False)
    rss0 = rss_kib(echo_pid)
    seconds = await connect_only(echo, f"ws://127.0.0.1:{port}")
    await asyncio.sleep(1.0)
    held = sum(cp.connected for cp in echo.cps)
    echo_kib = (rss_kib(echo_pid) - rss0) / max(held, 1)
    echo_rate = held / seconds
    bench.log(f"echo: {held} idle connections, {echo_kib:.1f} KiB each, {echo_rate:.0f} opens/s")
    for cp in echo.cps:
        cp.abort()
    bench.stop_child(echo_pid)

    # A fresh gateway process, so its memory before is a clean start.
    await asyncio.to_thread(suite.gateway(0).stop)
    await suite.restart_gateway(0)
    await asyncio.sleep(1.0)
    pid = suite.pid(suite.gateway(0))
    rss0, drops0 = rss_kib(pid), listen_drops()
    fleet = SimFleet(suite.gateway_urls, n, prefix="CN")
    bench.log(f"connections: {n} CPs connect and boot on gateway 0 (pid {pid}, {rss0} KiB)")
    watch = CpuWatch(await suite.cpu_groups() | {"client": own_pid()})
    spied = {
        "gateway0": pid,
        "station-registry": suite.pid(suite.suite.services["station-registry"]),
    }
    spying = asyncio.create_task(bench.spy("Connect", spied, 10.0))
    seconds, failed = await fleet.connect_all(concurrency=500, gateway=0)
    watch.stop(await suite.cpu_groups() | {"client": own_pid()})
    await spying
    await asyncio.sleep(2.0)
    held = sum(cp.connected for cp in fleet.cps)
    rss1 = rss_kib(pid)
    kib = (rss1 - rss0) / max(held, 1)
    rate = held / seconds
    drops = listen_drops() - drops0
    line = f"connect+boot of {held} CPs at {rate:.0f}/s: {watch.describe(held)}"
    bench.cpu_lines.append(line)
    bench.log(
        f"  {held}/{n} held ({failed} failed), {rss1} KiB RSS, {open_files(pid)} fds, "
        f"{kib:.1f} KiB each; connect+boot {seconds:.1f} s = {rate:.0f}/s; "
        f"SYNs dropped by full accept queues: {drops}; {line}"
    )
    errors = dict(fleet.stats.errors.most_common(4))
    if errors or fleet.stats.timeouts:
        bench.log(f"  errors {errors}, timeouts {dict(fleet.stats.timeouts)}")
    bench.figures["connections_held"] = held
    bench.add(
        Row(
            "Connections",
            "idle CPs held by one gateway",
            num(held),
            f"fd limit {num(_file_limit(pid))}",
            target=">= 19,000 (full profile)",
            met=verdict(held >= 19_000) if n >= 19_000 else f"{num(n)} asked",
        )
    )
    bench.add(
        Row(
            "Connections",
            "RSS per idle connection (KiB)",
            f"{kib:.1f}",
            f"bare echo {echo_kib:.1f}",
            f"{kib / echo_kib:.1f}x" if echo_kib > 0 else "-",
            "<= 16 KiB (issue 45)",
            verdict(kib <= 16) + ("" if held >= 19_000 else f" (at {num(held)})"),
        )
    )
    bench.add(
        Row(
            "Connections",
            "connect + boot rate (CPs/s)",
            num(rate),
            f"bare echo opens {num(echo_rate)}/s",
            f"{rate / echo_rate:.2f}x" if echo_rate else "-",
            ">= 1,000/s",
            verdict(rate >= 1000 and failed == 0),
        )
    )
    if drops:
        bench.notes.append(
            f"{drops} SYNs were dropped by full accept queues during the connect storm "
            "(the kernel retries them after 1 s, 3 s, ...)."
        )
    return fleet


def _file_limit(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/limits") as f:
            for line in f:
                if line.startswith("Max open files"):
                    return int(line.split()[3])
    except (OSError, ValueError, IndexError):
        pass
    return 0


async def _presence(suite: BenchSuite, cp_ids: list[str], gateway_id: str, timeout: float) -> int:
    """How many of `cp_ids` the registry shows online at `gateway_id` (waits up to timeout)."""
    conn = await asyncpg.connect(suite.dsn)
    try:
        count = 0
        for _ in range(int(timeout / 0.25) + 1):
            count = await conn.fetchval(
                "SELECT count(*) FROM registry.charge_points"
                " WHERE id = ANY($1::text[]) AND online AND gateway = $2",
                cp_ids,
                gateway_id,
            )
            if count >= len(cp_ids):
                break
            await asyncio.sleep(0.25)
        return int(count)
    finally:
        await conn.close()


async def storm(bench: Bench, suite: BenchSuite, fleet: SimFleet, victim: int, sig: int) -> None:
    """Stop the gateway holding the fleet; time until every CP is back and booted elsewhere."""
    p = bench.profile
    survivor = 1 - victim
    name = "SIGTERM" if sig == signal.SIGTERM else "SIGKILL"
    settled = await suite.settle(p.drain_timeout * 2)
    bench.log(f"storm ({name}): the services settled in {settled:.1f} s")
    moving = [cp for cp in fleet.cps if cp.connected and cp.state["gateway"] == victim]
    charging = moving[: p.storm_charging]
    meter_interval = max(1.0, len(charging) / 100)  # some 100 MeterValues/s in all
    fleet.stats.reset()
    await fleet.start_all(charging)
    charging = [cp for cp in charging if cp.state["tx"] is not None]
    if fleet.stats.failures():
        bench.log(f"  starting transactions: {fleet.stats.report(1.0)}")
    bench.log(
        f"storm ({name}): gateway {victim} holds {len(moving)} CPs, {len(charging)} charging "
        f"with MeterValues every {meter_interval:.0f} s"
    )
    fleet.stats.reset()
    fleet.auto_reconnect = True
    bound = max(120.0, len(moving) / 20)  # the registry admits some 50 CPs/s on this machine
    fleet.reconnect_deadline = time.monotonic() + bound + 60
    behaviour = Behaviour(meter_interval=meter_interval, session_seconds=1e9)
    lives = [asyncio.create_task(fleet.live(cp, behaviour, 600)) for cp in charging]
    await asyncio.sleep(2.0)
    t0 = time.monotonic()
    stopping = asyncio.create_task(asyncio.to_thread(suite.gateway(victim).stop, sig))
    back = 0
    for _ in range(int(bound / 0.1) + 1):  # at most `bound` seconds
        back = sum(1 for cp in moving if cp.state["booted"] > t0 and cp.connected)
        if back == len(moving) or time.monotonic() - t0 > bound:
            break
        await asyncio.sleep(0.1)
    all_back = back == len(moving)
    took = max(cp.state["booted"] for cp in moving) - t0 if all_back else math.inf
    outages = Summary.of(
        [
            cp.state["booted"] - cp.state.get("lost_at", t0)
            for cp in moving
            if cp.state["booted"] > t0
        ]
    )
    await stopping
    await asyncio.sleep(2.0)  # the charging CPs carry on at their new gateway
    for task in lives:
        task.cancel()
    await asyncio.gather(*lives, return_exceptions=True)
    await fleet.stop_all(charging)
    fleet.auto_reconnect = False
    survivor_id = suite.gateway(survivor).env["GATEWAY_INSTANCE_ID"]
    presence_started = time.monotonic()
    present = await _presence(suite, [cp.cp_id for cp in moving], survivor_id, 120.0)
    presence_took = time.monotonic() - presence_started
    check = await fleet.verify(suite.dsn, settle=p.drain_timeout)
    lost = (len(moving) - back) + check.lost
    bench.log(
        f"  {back}/{len(moving)} back and booted in {took:.1f} s (per CP outage p50 "
        f"{outages.p50:.0f} p99 {outages.p99:.0f} max {outages.max:.0f} ms); registry shows "
        f"{present} online at the survivor; re-sends {fleet.resends}; {check.line()}"
    )
    for problem in check.problems:
        bench.log("    " + problem)
    bench.log("  " + fleet.stats.report(took if all_back else bound).replace("\n", "\n  "))
    bench.add(
        Row(
            f"Storm ({name})",
            f"{num(len(moving))} CPs back + booted on the other gateway (s)",
            f"{took:.1f}" if all_back else f"{back} back after {bound:.0f} s",
            f"per-CP outage p50 {outages.p50 / 1000:.1f} s, p99 {outages.p99 / 1000:.1f} s",
            target="5,000 within 30 s",
            met=verdict(all_back and took <= 30 and len(moving) >= 5000)
            if len(moving) >= 5000
            else verdict(all_back and took <= 30 * len(moving) / 5000) + " (scaled)",
        )
    )
    bench.add(
        Row(
            f"Storm ({name})",
            "lost: CPs not back, transactions, acked meter rows",
            f"{lost} (tx {check.in_db}/{check.started}, rows {num(check.meter_rows_in_db)}/"
            f"{num(check.meter_rows_acked)})",
            target="nothing lost",
            met=verdict(lost == 0),
        )
    )
    bench.add(
        Row(
            f"Storm ({name})",
            "registry shows them online at the survivor",
            f"{num(present)} / {num(len(moving))}",
            f"waited {presence_took:.1f} s after the storm",
            target="all",
            met=verdict(present == len(moving)),
        )
    )
