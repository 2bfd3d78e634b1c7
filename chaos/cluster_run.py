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
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bench.fleet import SimFleet
from bench.suite import BENCH_ENV, TEST_ONLY_ENV
from tests.integration.conftest import ADMIN_KEY, Suite
from tests.integration.infra import Infra

from .broker_failover import tails, wait_failover
from .checks import Losses, dead_letters, drained, losses, wait_recovered
from .cluster import ClusterNode, RabbitCluster, private_cluster
from .driver import Driver, Pace
from .faults import start_suite
from .watch import CpWatch, late_since, latency_marks


@dataclass(slots=True)
class Options:
    """How big and how long."""

    cps: int = 1000
    pace: Pace = field(default_factory=Pace)
    command_rate: float = 5.0
    outage_seconds: float = 10.0  # how long the second node stays stopped
    quiet_seconds: float = 60.0  # the no-fault window measured first, to compare with
    recover_timeout: float = 240.0
    log_dir: Path | None = None
    say: bool = True


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


def _log(options: Options, text: str) -> None:
    if options.say:
        print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def _workdir(options: Options) -> tuple[Path, Path]:
    base = Path(tempfile.mkdtemp(prefix="csms-cluster-"))
    base.chmod(0o755)  # Postgres runs as its own user and must reach its data directory
    log_dir = options.log_dir or base / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    return base, log_dir


async def run(options: Options) -> Report:
    """Run the two node faults against a suite on a cluster of the run's own."""
    started_at, started = datetime.now(UTC), time.monotonic()
    base, log_dir = await asyncio.to_thread(_workdir, options)
    _log(options, f"3-node RabbitMQ cluster and Postgres under {base}; suite logs in {log_dir}")
    with private_cluster(base / "servers") as (cluster, postgres):
        _log(options, f"cluster up: {', '.join(cluster.running_nodes())}")
        infra = Infra(cluster.url, postgres.url)
        suite = await asyncio.to_thread(Suite, infra, log_dir)
        for process in [*suite.services.values(), *suite.gateways]:
            env = {k: v for k, v in process.env.items() if k not in TEST_ONLY_ENV}
            process.env = env | BENCH_ENV
        await asyncio.to_thread(start_suite, suite)
        try:
            return await _drive(options, suite, infra, cluster, started_at, started)
        finally:
            await asyncio.to_thread(suite.stop)


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
    _log(
        options,
        f"quorum queue leaders per node: {leaders_start}; replicated on every node:"
        f" {replicated[0]} of {replicated[1]}",
    )
    fleet = SimFleet(
        [suite.gateway_url(i) for i in range(len(suite.gateways))],
        options.cps,
        prefix="CLUSTER",
        call_timeout=30.0,
    )
    took, failed = await fleet.connect_all(concurrency=200)
    _log(options, f"{options.cps} CPs connected and booted in {took:.1f} s ({failed} failed)")
    fleet.auto_reconnect = True
    fleet.reconnect_deadline = float("inf")
    watch = CpWatch(fleet)
    watch.start()
    driver = Driver(fleet, suite.api_url, ADMIN_KEY, options.pace)
    driver.start(options.command_rate)
    phases: list[Phase] = []
    try:
        await _until_sessions_end(fleet, options.recover_timeout)
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
        _log(options, "stopping the fleet: open sessions end, then the final check")
        stuck = await driver.stop(timeout=options.recover_timeout)
        live = cluster.live()
        drained_s, left = await drained(infra.asyncpg_dsn, live, options.recover_timeout)
        dead = await dead_letters(live)
        for line in dead:
            _log(options, f"  dead letter: {line}")
        verification = await fleet.verify(infra.asyncpg_dsn, settle=60.0)
        final = await losses(infra.asyncpg_dsn, fleet, settle=0)
        final.duplicates = verification.duplicates
        final.transactions_missing = verification.missing
        final.transactions_wrong = max(final.transactions_wrong, verification.wrong)
        final.problems += verification.problems
        leaders_end = await asyncio.to_thread(cluster.leaders_per_node)
    finally:
        await watch.stop()
        await fleet.close()
    _log(options, f"final: {final.line()}; left {left or 'nothing'}; {final.problems[:5]}")
    return Report(
        phases=phases,
        final=final,
        transactions=verification.started,
        meter_rows=verification.meter_rows_in_db,
        drained_s=drained_s,
        left=left,
        dead=dead,
        stuck_cps=stuck,
        leaders_start=leaders_start,
        leaders_end=leaders_end,
        replicated=replicated,
        started=started_at,
        seconds=time.monotonic() - started,
        cps=options.cps,
    )


# Breaks a node; returns what brings it back (run in a worker thread).
Fault = Callable[[RabbitCluster, ClusterNode, Options], Awaitable[Callable[[], None]]]


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


def _ended(fleet: SimFleet) -> int:
    return sum(1 for tx in fleet.transactions.values() if tx.meter_stop is not None)


async def _until_sessions_end(fleet: SimFleet, timeout: float) -> None:
    """Wait (bounded) until a session has ended: the fleet is busy charging."""
    deadline = time.monotonic() + timeout
    while not _ended(fleet) and time.monotonic() < deadline:  # noqa: ASYNC110 (a count)
        await asyncio.sleep(0.25)


async def _quiet(options: Options, fleet: SimFleet, driver: Driver, watch: CpWatch) -> Phase:
    """The same figures over a window without a fault: what a fault's row compares with."""
    _log(options, f"no fault for {options.quiet_seconds:.0f} s")
    t0 = time.monotonic()
    before, marks = driver.seen.snapshot(fleet), latency_marks(fleet)
    commands_before = dict(driver.seen.commands)
    await asyncio.sleep(options.quiet_seconds)  # the window itself
    after = driver.seen.snapshot(fleet)
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
        cp_errors=after["errors"] - before["errors"],
        error_kinds="",
        cp_timeouts=after["timeouts"] - before["timeouts"],
        resends=after["resends"] - before["resends"],
        commands=_commands_since(driver, commands_before),
        lost=Losses(),
    )


def _commands_since(driver: Driver, before: dict[str, int]) -> str:
    counts = {k: v - before.get(k, 0) for k, v in driver.seen.commands.items()}
    return ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()) if v) or "-"


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
    before = driver.seen.snapshot(fleet)
    errors_before = dict(fleet.stats.errors)
    commands_before = dict(driver.seen.commands)
    marks = latency_marks(fleet)
    ended_before = _ended(fleet)
    _log(options, f"{what} of {node.node} (leads {', '.join(queues)}; {on_node} connections)")
    failover = await asyncio.to_thread(tails, cluster, node, suite.log_dir)
    t0, since = time.monotonic(), datetime.now(UTC)
    # The fault runs beside the watch: a drain and stop take seconds, and fail-over starts
    # with them.
    breaking = asyncio.create_task(fault(cluster, node, options))
    leaders_s, clients_s, lost_connections = await wait_failover(
        failover, since, queues, breaking, options.recover_timeout, on_node
    )
    bring_back = await breaking
    _log(
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
    after = driver.seen.snapshot(fleet)
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
        cp_errors=after["errors"] - before["errors"],
        error_kinds=", ".join(
            f"{kind} {n}"
            for kind, n in sorted(
                ((k, v - errors_before.get(k, 0)) for k, v in fleet.stats.errors.items()),
                key=lambda item: -item[1],
            )[:3]
            if n
        ),
        cp_timeouts=after["timeouts"] - before["timeouts"],
        resends=after["resends"] - before["resends"],
        commands=_commands_since(driver, commands_before),
        lost=lost,
    )
    _log(
        options,
        f"  node back in {back_s:.1f} s; suite whole {recovered_s:.1f} s after the fault"
        f"{'; NOT: ' + still if still else ''}; {disconnected} CPs disconnected (longest"
        f" {longest:.1f} s); {late} of {answered} answers late (slowest {slowest:.1f} s);"
        f" {phase.cp_errors} errors ({phase.error_kinds}), {phase.cp_timeouts} timeouts,"
        f" {phase.resends} re-sends;"
        f" commands {phase.commands}; lost: {lost.line()} {lost.problems[:3]}",
    )
    return phase
