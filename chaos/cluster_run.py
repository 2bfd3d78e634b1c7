"""`make cluster-test`: the suite on a 3-node RabbitMQ cluster, a busy fleet, two node faults.

The run starts a RabbitMQ cluster of its own (chaos/cluster.py) and a Postgres cluster, the
suite on them (every process given the three nodes in `CSMS_BROKER_URL`), and a fleet of
simulated CPs charging while an operator sends commands (chaos/driver.py). Then:

1. SIGKILL of the node that leads the busiest service queues; it comes back.
2. A second node stopped as ops would (once no quorum queue depends on it), then started.

After each: how long until every quorum queue had a leader on a running node and every suite
connection was back (the fail-over), how long until the suite was whole (chaos/checks.py's
wait_recovered), which CPs lost their connection and for how long, calls answered late,
re-sends, command outcomes, and chaos's loss checks. At the end the fleet stops and the same
final checks as `make chaos` run: every transaction once with its energy, every acknowledged
meter row stored, no command pending forever, outboxes and queues drained, no dead letters.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bench.fleet import SimFleet
from tests.integration.conftest import ADMIN_KEY, Suite
from tests.integration.infra import Infra

from . import harness
from .broker_failover import tails, wait_failover
from .checks import Losses, losses, wait_recovered
from .cluster import ClusterNode, RabbitCluster, private_cluster
from .driver import Driver
from .watch import CpWatch, late_since, latency_marks


@dataclass(slots=True)
class Options(harness.RunOptions):
    """The fleet's size and pace (harness.RunOptions), how long the faults last."""

    outage_seconds: float = 10.0  # how long the second node stays stopped
    quiet_seconds: float = 60.0  # the no-fault window measured first, to compare with


@dataclass(slots=True)
class Phase:
    """One node fault's line of the table."""

    what: str
    node: str
    queues: list[str]
    failover_s: float  # the larger of leaders_s and clients_s
    leaders_s: float  # from the fault's start until the last queue it led had a new leader
    clients_s: float  # the longest a suite connection went without a node
    connections_lost: int
    recovered_s: float  # until the suite was whole again (wait_recovered), from the fault
    not_recovered: str
    back_s: float  # the node's restart, until it was running in the cluster again
    cps_disconnected: int
    longest_disconnect_s: float
    answered: int
    late: int
    slowest_s: float
    cp_errors: int
    error_kinds: str
    cp_timeouts: int
    resends: int
    commands: str
    lost: Losses


@dataclass(slots=True)
class Report:
    """The whole run."""

    phases: list[Phase]
    final: Losses
    transactions: int
    meter_rows: int
    drained_s: float
    left: list[str]
    dead: list[str]
    stuck_cps: int
    leaders_start: dict[str, int]
    leaders_end: dict[str, int]
    replicated: tuple[int, int]  # (quorum queues with a replica on every node, all of them)
    started: datetime
    seconds: float
    cps: int

    @property
    def ok(self) -> bool:
        """Nothing lost, every fault recovered from, no CP cut off past the fail-over."""
        return (
            not self.final.total
            and not self.left
            and not self.dead
            and not self.stuck_cps
            and self.replicated[0] == self.replicated[1]
            and all(
                not p.lost.total
                and not p.not_recovered
                and p.longest_disconnect_s <= p.failover_s
                and not re.search(r"(^|, )500:", p.commands)  # a fault is a 503, never a crash
                for p in self.phases
            )
        )


async def run(options: Options) -> Report:
    """Run the two node faults against a suite on a cluster of the run's own."""
    started_at, started = datetime.now(UTC), time.monotonic()
    base, log_dir = await asyncio.to_thread(harness.workdir, "csms-cluster-", options.log_dir)
    harness.log(
        options, f"3-node RabbitMQ cluster and Postgres under {base}; suite logs in {log_dir}"
    )
    with private_cluster(base / "servers") as (cluster, postgres):
        harness.log(options, f"cluster up: {', '.join(cluster.running_nodes())}")
        infra = Infra(cluster.url, postgres.url)
        async with harness.running_suite(infra, log_dir) as suite:
            return await _drive(options, suite, infra, cluster, started_at, started)


async def _drive(
    options: Options,
    suite: Suite,
    infra: Infra,
    cluster: RabbitCluster,
    started_at: datetime,
    started: float,
) -> Report:
    await asyncio.to_thread(cluster.rebalance)
    leaders_start = await asyncio.to_thread(cluster.leaders_per_node)
    replicated = await asyncio.to_thread(cluster.members)
    harness.log(
        options,
        f"quorum queue leaders per node: {leaders_start}; replicated on every node:"
        f" {replicated[0]} of {replicated[1]}",
    )
    fleet, took, failed = await harness.connect_fleet(suite, options.cps, "CLUSTER")
    harness.log(
        options, f"{options.cps} CPs connected and booted in {took:.1f} s ({failed} failed)"
    )
    watch = CpWatch(fleet)
    watch.start()
    driver = Driver(fleet, suite.api_url, ADMIN_KEY, options.pace)
    driver.start(options.command_rate)
    phases: list[Phase] = []
    try:
        await harness.until_sessions_end(fleet, options.recover_timeout)
        phases.append(await _quiet(options, fleet, driver, watch))
        first, queues = await asyncio.to_thread(cluster.busiest_leader)
        phases.append(
            await _phase(
                options, suite, infra, cluster, fleet, driver, watch, first, queues, _kill_first
            )
        )
        second = cluster.nodes[(first.index + 1) % len(cluster.nodes)]
        await asyncio.to_thread(cluster.quorum_safe_to_stop, second, options.recover_timeout)
        led = sorted(
            q.name for q in await asyncio.to_thread(cluster.leaders) if q.leader == second.node
        )
        phases.append(
            await _phase(
                options, suite, infra, cluster, fleet, driver, watch, second, led, _stop_second
            )
        )
        end = await harness.final_checks(driver, fleet, infra.asyncpg_dsn, cluster.live(), options)
        leaders_end = await asyncio.to_thread(cluster.leaders_per_node)
    finally:
        await watch.stop()
        await fleet.close()
    final = end.losses
    harness.log(
        options, f"final: {final.line()}; left {end.left or 'nothing'}; {final.problems[:5]}"
    )
    return Report(
        phases=phases,
        final=final,
        transactions=end.transactions,
        meter_rows=end.meter_rows,
        drained_s=end.drained_s,
        left=end.left,
        dead=end.dead,
        stuck_cps=end.stuck_cps,
        leaders_start=leaders_start,
        leaders_end=leaders_end,
        replicated=replicated,
        started=started_at,
        seconds=time.monotonic() - started,
        cps=options.cps,
    )


# Breaks a node; returns what brings it back (run in a worker thread).
Fault = Callable[[RabbitCluster, ClusterNode, Options], Coroutine[Any, Any, Callable[[], None]]]


async def _kill_first(cluster: RabbitCluster, node: ClusterNode, _: Options) -> Callable[[], None]:
    await asyncio.to_thread(cluster.kill, node)
    return lambda: cluster.restart(node)


async def _stop_second(
    cluster: RabbitCluster, node: ClusterNode, options: Options
) -> Callable[[], None]:
    await asyncio.to_thread(cluster.stop_node, node)

    def back() -> None:
        time.sleep(options.outage_seconds)  # the outage itself, in a worker thread
        cluster.restart(node)

    return back


async def _quiet(options: Options, fleet: SimFleet, driver: Driver, watch: CpWatch) -> Phase:
    """The same figures over a window without a fault: what a fault's row compares with."""
    harness.log(options, f"no fault for {options.quiet_seconds:.0f} s")
    t0 = time.monotonic()
    seen_from, marks = harness.Since(driver, fleet), latency_marks(fleet)
    await asyncio.sleep(options.quiet_seconds)  # the window itself
    seen = seen_from.tally()
    answered, late, slowest = late_since(fleet, marks)
    disconnected, longest = watch.since(t0)
    return Phase(
        what=f"no fault, {options.quiet_seconds:.0f} s",
        node="-",
        queues=[],
        failover_s=0.0,
        leaders_s=0.0,
        clients_s=0.0,
        connections_lost=0,
        recovered_s=0.0,
        not_recovered="",
        back_s=0.0,
        cps_disconnected=disconnected,
        longest_disconnect_s=longest,
        answered=answered,
        late=late,
        slowest_s=slowest,
        cp_errors=seen.cp_errors,
        error_kinds="",
        cp_timeouts=seen.cp_timeouts,
        resends=seen.resends,
        commands=seen.commands_line,
        lost=Losses(),
    )


async def _phase(
    options: Options,
    suite: Suite,
    infra: Infra,
    cluster: RabbitCluster,
    fleet: SimFleet,
    driver: Driver,
    watch: CpWatch,
    node: ClusterNode,
    queues: list[str],
    fault: Fault,
) -> Phase:
    what = "SIGKILL" if fault is _kill_first else f"stop for {options.outage_seconds:.0f} s"
    on_node = await asyncio.to_thread(node.connections)
    seen_from, marks = harness.Since(driver, fleet), latency_marks(fleet)
    ended_before = harness.ended(fleet)
    harness.log(
        options, f"{what} of {node.node} (leads {', '.join(queues)}; {on_node} connections)"
    )
    failover = await asyncio.to_thread(tails, cluster, node, suite.log_dir)
    t0, since = time.monotonic(), datetime.now(UTC)
    # The fault runs beside the watch: a drain and stop take seconds, and fail-over starts
    # with them.
    breaking = asyncio.create_task(fault(cluster, node, options))
    leaders_s, clients_s, lost_connections = await wait_failover(
        failover, since, queues, breaking, options.recover_timeout, on_node
    )
    bring_back = await breaking
    harness.log(
        options,
        f"  new leaders {leaders_s:.1f} s after the fault began; {lost_connections} suite"
        f" connections lost, each back on another node within {clients_s:.1f} s",
    )
    back_started = time.monotonic()
    await asyncio.to_thread(bring_back)
    back_s = time.monotonic() - back_started
    await asyncio.to_thread(cluster.rebalance)
    _, still = await wait_recovered(
        infra.asyncpg_dsn, suite, fleet, ended_before, options.recover_timeout
    )
    recovered_s = time.monotonic() - t0
    lost = await losses(infra.asyncpg_dsn, fleet, settle=60.0)
    seen = seen_from.tally()
    answered, late, slowest = late_since(fleet, marks)
    disconnected, longest = watch.since(t0)
    phase = Phase(
        what=what,
        node=node.node,
        queues=queues,
        failover_s=max(leaders_s, clients_s),
        leaders_s=leaders_s,
        clients_s=clients_s,
        connections_lost=lost_connections,
        recovered_s=recovered_s,
        not_recovered=still,
        back_s=back_s,
        cps_disconnected=disconnected,
        longest_disconnect_s=longest,
        answered=answered,
        late=late,
        slowest_s=slowest,
        cp_errors=seen.cp_errors,
        error_kinds=seen.error_kinds(),
        cp_timeouts=seen.cp_timeouts,
        resends=seen.resends,
        commands=seen.commands_line,
        lost=lost,
    )
    harness.log(
        options,
        f"  node back in {back_s:.1f} s; suite whole {recovered_s:.1f} s after the fault"
        f"{'; NOT: ' + still if still else ''}; {disconnected} CPs disconnected (longest"
        f" {longest:.1f} s); {late} of {answered} answers late (slowest {slowest:.1f} s);"
        f" {phase.cp_errors} errors ({phase.error_kinds}), {phase.cp_timeouts} timeouts,"
        f" {phase.resends} re-sends;"
        f" commands {phase.commands}; lost: {lost.line()} {lost.problems[:3]}",
    )
    return phase
