"""`make bench`: start a suite of its own, run every scenario, print one table, keep it."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import time
import traceback
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from . import (
    allocation,
    bindings,
    bulk,
    decisions,
    fleetwide,
    message_log_cost,
    overload,
    roaming,
    throughput,
    webhooks,
)
from .context import PROFILES, ROOT, Bench
from .fleet import SimFleet
from .fleet201 import SimFleet201
from .procs import raise_file_limit
from .report import Row, block, table, update_results
from .suite import BenchSuite, left_out, running_suite, suite_overrides

SCENARIOS = (
    "limits",
    "heartbeat",
    "metervalues",
    "v201",
    "reqreply",
    "commands",
    "messagelog",
    "overload",
    "connections",
    "storm",
    "connectstorm",
    "allocation",
    "bindings",
    "roaming",
    "webhooks",
    "decisions",
    "bulk",
)


def _args() -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument(
        "--profile", choices=sorted(PROFILES), default=os.environ.get("BENCH_PROFILE") or "quick"
    )
    p.add_argument("--only", nargs="+", choices=SCENARIOS, help="run these scenarios only")
    p.add_argument("--py-spy", action="store_true", help="sample the gateway and services")
    p.add_argument("--no-results", action="store_true", help="do not update bench/RESULTS.md")
    return p.parse_args()


async def _guard(bench: Bench, name: str, work: Callable[[], Awaitable[object]]) -> object:
    """Run one scenario; a failure becomes a row and a note, and the run goes on."""
    try:
        return await work()
    except Exception as exc:
        bench.log(f"{name} failed:\n{traceback.format_exc()}")
        bench.add(Row(name, "scenario failed", type(exc).__name__, met="NOT run"))
        bench.notes.append(f"{name} failed: {type(exc).__name__}: {exc}")
        return None


async def _scenarios(bench: Bench, suite: BenchSuite, only: set[str]) -> None:
    p = bench.profile
    if "limits" in only:
        await _guard(bench, "Stack limits", lambda: throughput.stack_limits(bench, suite))
    if only & {"heartbeat", "metervalues", "reqreply", "commands", "messagelog"}:
        fleet = SimFleet(suite.gateway_urls, p.throughput_cps, prefix="TP")
        seconds, failed = await fleet.connect_all(concurrency=200)
        bench.log(f"throughput fleet: {p.throughput_cps} CPs booted in {seconds:.1f} s")
        if failed:
            bench.notes.append(f"{failed} of the throughput fleet's CPs could not connect")
        settled = await suite.settle(p.drain_timeout * 2)
        bench.log(f"the services settled (queues and outboxes empty) in {settled:.1f} s")
        if "heartbeat" in only:
            await _guard(bench, "Heartbeat", lambda: throughput.heartbeat(bench, suite, fleet))
        if "metervalues" in only:
            await _guard(bench, "MeterValues", lambda: throughput.meter_values(bench, suite, fleet))
        if "reqreply" in only:
            await _guard(
                bench, "Request/reply", lambda: throughput.request_reply(bench, suite, fleet)
            )
        if "commands" in only:
            await _guard(bench, "Commands", lambda: fleetwide.commands(bench, suite, fleet))
        if "messagelog" in only:
            await _guard(bench, "Message log", lambda: message_log_cost.cost(bench, suite, fleet))
        await fleet.close()
    if "v201" in only:
        v201 = SimFleet201(suite.gateway_urls, p.throughput_cps, prefix="V2")
        seconds, failed = await v201.connect_all(concurrency=200)
        bench.log(f"2.0.1 fleet: {p.throughput_cps} stations booted in {seconds:.1f} s")
        if failed:
            bench.notes.append(f"{failed} of the 2.0.1 fleet's stations could not connect")
        await suite.settle(p.drain_timeout * 2)
        await _guard(
            bench,
            "TransactionEvent 2.0.1",
            lambda: throughput.meter_values(bench, suite, v201, "TransactionEvent 2.0.1"),
        )
        await v201.close()
    if "overload" in only:
        await _guard(bench, "Overload", lambda: overload.mix(bench, suite))
    if "connectstorm" in only:
        await _guard(bench, "Connect storm", lambda: overload.connect_storm(bench, suite))
    if "allocation" in only:
        await _guard(bench, "Allocation", lambda: allocation.allocation(bench, suite))
    if "bindings" in only:
        await _guard(bench, "Station bindings", lambda: bindings.bindings(bench, suite))
    if "roaming" in only:
        await _guard(bench, "Roaming (OCPI)", lambda: roaming.roaming(bench, suite))
    if "webhooks" in only:
        await _guard(bench, "Webhooks", lambda: webhooks.webhooks(bench, suite))
    if "decisions" in only:
        await _guard(bench, "Decisions first", lambda: decisions.decisions(bench, suite))
    if "bulk" in only:
        await _guard(bench, "Bulk storing", lambda: bulk.bulk(bench, suite))
    if only & {"connections", "storm"}:
        idle = await _guard(bench, "Connections", lambda: fleetwide.connections(bench, suite))
        if isinstance(idle, SimFleet):
            extra = idle.cps[p.storm_cps :]
            if extra and "storm" in only:
                bench.log(f"closing {len(extra)} CPs: the storm moves {p.storm_cps}")
                await idle.close(extra)
                idle.cps = idle.cps[: p.storm_cps]
                # The gateway unbinds and announces each closed CP; let it finish first.
                took = await suite.wait_connections(0, p.storm_cps, 600.0)
                bench.log(f"gateway 0 handled the {len(extra)} disconnects in {took:.1f} s")
            if "storm" in only:
                await _guard(
                    bench,
                    "Storm (SIGTERM)",
                    lambda: fleetwide.storm(bench, suite, idle, 0, signal.SIGTERM),
                )
                await suite.restart_gateway(0)
                await _guard(
                    bench,
                    "Storm (SIGKILL)",
                    lambda: fleetwide.storm(bench, suite, idle, 1, signal.SIGKILL),
                )
            await idle.close()


async def main() -> int:
    """Run the benchmark; 0 when every scenario ran (targets met or not)."""
    args = _args()
    limit = raise_file_limit()
    out = ROOT / "bench" / "out" / datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    bench = Bench(PROFILES[args.profile], out, py_spy=args.py_spy)
    bench.log(f"profile {args.profile}; file limit {limit}; logs in {out}")
    if overrides := suite_overrides():
        bench.log(f"suite settings from BENCH_SUITE_ENV: {overrides}")
    if without := left_out():
        bench.log(f"left out of the suite (BENCH_WITHOUT): {', '.join(without)}")
    only = set(args.only or SCENARIOS)
    started = time.monotonic()
    # SIGTERM or Ctrl-C cancels the run, so the suite's processes, vhost and database go with it.
    loop, task = asyncio.get_running_loop(), asyncio.current_task()
    assert task is not None
    for stop in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(stop, task.cancel)
    try:
        async with running_suite(out / "logs") as suite:
            bench.log(f"suite up: gateways {suite.gateway_urls}, api {suite.api_url}")
            await _scenarios(bench, suite, only)
    except asyncio.CancelledError:
        bench.log("stopped by a signal; the suite is stopped")
        return 130
    finally:
        bench.stop_children()
    seconds = time.monotonic() - started
    command = "make bench" + ("" if args.profile == "quick" else f" BENCH_PROFILE={args.profile}")
    if args.only or args.py_spy:
        flags = (["--only", *args.only] if args.only else []) + (
            ["--py-spy"] if args.py_spy else []
        )
        command += f" BENCH_ARGS='{' '.join(flags)}'"
    if overrides := os.environ.get("BENCH_SUITE_ENV", "").strip():
        command = f"BENCH_SUITE_ENV='{overrides}' {command}"
    if without := left_out():
        command = f"BENCH_WITHOUT='{' '.join(without)}' {command}"
    notes = [*bench.notes, *(f"CPU per message, {line}" for line in bench.cpu_lines)]
    print()
    print(table(bench.rows))
    print()
    for note in notes:
        print(f"- {note}")
    if not args.no_results:
        update_results(args.profile, block(args.profile, command, bench.rows, notes, seconds))
        print(f"\nbench/RESULTS.md updated ({seconds / 60:.1f} min)")
    failed = any(row.met == "NOT run" for row in bench.rows)
    return 1 if failed else 0
