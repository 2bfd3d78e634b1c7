"""`make failover-test`: the Postgres primary dies under load and its standby takes over.

Each mode runs on servers of its own: a RabbitMQ node (chaos/servers.py) and a primary with a
streaming standby (chaos/pg_failover.py); the suite's processes name both nodes in one
multi-host `CSMS_DATABASE_URL` with `target_session_attrs=read-write`. A fleet of simulated
CPs charges while an operator sends commands (chaos/driver.py) and a probe commits rows of its
own (chaos/pg_probe.py). Then the replication link stalls for `lag_seconds` (a standby falling
behind: a busy disk, a slow network), the primary is killed (SIGKILL of every process), the
link is cut and the standby promoted. Nothing is restarted: the services must find the new
primary themselves. The checks of `make chaos` (chaos/checks.py) then compare what the CPs
were told with what the promoted standby holds.

`sync`: the standby is synchronous; while the link stalls, commits wait, and nothing
acknowledged may be missing. `async`: the same with `synchronous_standby_names` empty, to
count what asynchronous replication loses: acknowledged commits whose WAL had not reached the
standby.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import dataclasses
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from bench.fleet import SimFleet
from bench.suite import BENCH_ENV, TEST_ONLY_ENV
from tests.integration.conftest import ADMIN_KEY, Suite

from .checks import Losses, dead_letters, drained, losses, wait_recovered
from .driver import Driver, Pace
from .faults import start_suite
from .pg_failover import PairInfra, PgPair
from .pg_probe import Probe, lsn
from .servers import PrivateRabbit

MODES = ("sync", "async")


@dataclass(slots=True)
class Options:
    """How big, how long, which modes."""

    cps: int = 300
    modes: list[str] = field(default_factory=lambda: list(MODES))
    pace: Pace = field(default_factory=Pace)
    command_rate: float = 5.0
    lag_seconds: float = 10.0  # the link stalls this long before the kill
    recover_timeout: float = 240.0
    settle: float = 60.0  # how long the checks wait for acknowledged rows to show up
    log_dir: Path | None = None
    say: bool = True


@dataclass(slots=True)
class Outcome:
    """One mode's fail-over: how long, what the CPs saw, what was lost."""

    mode: str
    promoted_s: float  # kill to standby promoted
    writes_resumed_s: float  # kill to a client's first acknowledged commit on the new primary
    no_writes_s: float  # a client's last acknowledged commit on the old primary to that one
    recovered_s: float  # kill to: all ready, all CPs online again, a session ended
    not_recovered: str
    cp_errors: int
    cp_timeouts: int
    resends: int
    commands: str
    server_errors: int
    wal_behind: int  # bytes the primary had written past what the standby had at the kill
    probe_acked: int  # probe commits acknowledged before the kill
    probe_past_standby: int  # ... whose WAL lay beyond what the standby had replayed
    probe_lost: int  # ... that the promoted standby lacks
    at_kill: Losses  # what the CPs had been told at the kill, against the promoted standby
    final: Losses = field(default_factory=Losses)  # the whole run, after the fleet stopped
    transactions: int = 0
    meter_rows: int = 0
    left: list[str] = field(default_factory=list)
    dead: list[str] = field(default_factory=list)
    stuck_cps: int = 0

    @property
    def lost(self) -> int:
        """Acknowledged writes missing on the promoted standby (probe rows, CP data)."""
        return self.probe_lost + self.at_kill.total + self.final.total

    @property
    def clean(self) -> bool:
        """Nothing lost, recovered without a restart, everything drained."""
        return (
            not self.lost
            and not self.not_recovered
            and not self.server_errors
            and not self.left
            and not self.dead
            and not self.stuck_cps
        )


def _log(options: Options, text: str) -> None:
    if options.say:
        print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def _workdir(options: Options, synchronous: bool) -> tuple[Path, Path]:
    base = Path(tempfile.mkdtemp(prefix="csms-failover-"))
    base.chmod(0o755)  # Postgres runs as its own user and must reach its data directories
    log_dir = (options.log_dir or base / "logs") / ("sync" if synchronous else "async")
    log_dir.mkdir(parents=True, exist_ok=True)
    return base, log_dir


@contextlib.asynccontextmanager
async def _servers(
    options: Options, synchronous: bool
) -> AsyncIterator[tuple[Suite, PgPair, PrivateRabbit]]:
    base, log_dir = await asyncio.to_thread(_workdir, options, synchronous)
    rabbit = PrivateRabbit(base / "rabbitmq")
    pair = PgPair(base / "postgres", synchronous=synchronous)
    suite: Suite | None = None
    try:
        await asyncio.to_thread(rabbit.start)
        await asyncio.to_thread(pair.start)
        _log(options, f"primary :{pair.primary.port}, standby :{pair.standby.port}; logs {log_dir}")
        infra = PairInfra(rabbit.url, pair.sqlalchemy_url, pair_dsn=pair.asyncpg_dsn)
        suite = await asyncio.to_thread(Suite, infra, log_dir)
        for process in [*suite.services.values(), *suite.gateways]:
            env = {k: v for k, v in process.env.items() if k not in TEST_ONLY_ENV}
            process.env = env | BENCH_ENV
        await asyncio.to_thread(start_suite, suite)
        yield suite, pair, rabbit
    finally:
        if suite is not None:
            await asyncio.to_thread(suite.stop)
        with contextlib.suppress(Exception):
            await asyncio.to_thread(rabbit.stop)
        await asyncio.to_thread(pair.stop)
        shutil.rmtree(base, ignore_errors=True)


async def run(options: Options) -> list[Outcome]:
    """Each mode on servers of its own; an outcome per mode."""
    outcomes = []
    for mode in options.modes:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}: there are {', '.join(MODES)}")
        outcomes.append(await run_mode(options, synchronous=mode == "sync"))
    return outcomes


async def run_mode(options: Options, *, synchronous: bool) -> Outcome:
    """Start everything, charge, fail over, check."""
    mode = "sync" if synchronous else "async"
    _log(options, f"{mode}: starting a RabbitMQ node, a primary and a {mode} standby, the suite")
    async with _servers(options, synchronous) as (suite, pair, rabbit):
        dsn = pair.asyncpg_dsn
        fleet = SimFleet(
            [suite.gateway_url(i) for i in range(len(suite.gateways))],
            options.cps,
            prefix="FAILOVER",
            call_timeout=30.0,
        )
        took, failed = await fleet.connect_all(concurrency=200)
        _log(options, f"{mode}: {options.cps} CPs connected in {took:.1f} s ({failed} failed)")
        fleet.auto_reconnect = True
        fleet.reconnect_deadline = float("inf")
        driver = Driver(fleet, suite.api_url, ADMIN_KEY, options.pace)
        probe = Probe(dsn)
        await probe.start()
        driver.start(options.command_rate)
        try:
            outcome = await _fail_over(options, mode, suite, pair, fleet, driver, probe)
            _log(options, f"{mode}: stopping the fleet: open sessions end, then the final check")
            outcome.stuck_cps = await driver.stop(timeout=options.recover_timeout)
            drain = options.recover_timeout if synchronous else options.settle
            _, outcome.left = await drained(dsn, rabbit, drain)
            outcome.dead = await dead_letters(rabbit)
            verification = await fleet.verify(dsn, settle=options.settle)
            final = await losses(dsn, fleet, settle=0)
            final.duplicates = verification.duplicates
            final.transactions_missing = verification.missing
            final.transactions_wrong = max(final.transactions_wrong, verification.wrong)
            final.problems += verification.problems
            outcome.final = final
            outcome.transactions = verification.started
            outcome.meter_rows = verification.meter_rows_in_db
        finally:
            await probe.stop()
            await fleet.close()
    _log(options, f"{mode}: {line(outcome)}")
    return outcome


def _ended(fleet: SimFleet) -> int:
    return sum(1 for tx in fleet.transactions.values() if tx.meter_stop is not None)


def _as_told(fleet: SimFleet) -> SimFleet:
    """The fleet as it stood: what each CP had been told so far (transactions copied)."""
    frozen = copy.copy(fleet)
    frozen.transactions = {t: dataclasses.replace(tx) for t, tx in fleet.transactions.items()}
    return frozen


async def _fail_over(
    options: Options,
    mode: str,
    suite: Suite,
    pair: PgPair,
    fleet: SimFleet,
    driver: Driver,
    probe: Probe,
) -> Outcome:
    deadline = time.monotonic() + options.recover_timeout
    while not _ended(fleet) and time.monotonic() < deadline:  # noqa: ASYNC110 (a count)
        await asyncio.sleep(0.25)
    before = driver.seen.snapshot(fleet)
    commands_before = dict(driver.seen.commands)
    errors_before = dict(fleet.stats.errors)
    ended_before = _ended(fleet)
    _log(options, f"{mode}: {ended_before} sessions ended; the link stalls {options.lag_seconds} s")
    pair.link.pause()
    await asyncio.sleep(options.lag_seconds)  # the lag itself: the standby falls behind
    primary_at = lsn(await asyncio.to_thread(pair.primary.sql, "SELECT pg_current_wal_lsn()"))
    told = _as_told(fleet)
    failover = await asyncio.to_thread(pair.fail_over)
    killed_at = failover.died_at
    standby_at = lsn(failover.standby_lsn)
    _log(
        options,
        f"{mode}: primary killed, standby promoted in {failover.promoted_s:.1f} s; the standby"
        f" had replayed to {failover.standby_lsn}, {primary_at - standby_at} bytes behind",
    )
    _, still = await wait_recovered(
        dsn := pair.asyncpg_dsn, suite, fleet, ended_before, options.recover_timeout
    )
    recovered_s = time.monotonic() - killed_at
    at_kill = await losses(dsn, told, settle=options.settle if mode == "sync" else 5.0)
    for problem in at_kill.problems[:10]:
        _log(options, f"  {mode}: {problem}")
    last = probe.last_ack_before(killed_at)
    first = probe.first_ack_after(killed_at)
    after = driver.seen.snapshot(fleet)
    commands = {
        k: v - commands_before.get(k, 0)
        for k, v in driver.seen.commands.items()
        if v - commands_before.get(k, 0)
    }
    errors = {
        k: n - errors_before.get(k, 0)
        for k, n in fleet.stats.errors.items()
        if n - errors_before.get(k, 0)
    }
    _log(options, f"  {mode}: the CPs' errors (action:code): {errors}")
    return Outcome(
        mode=mode,
        promoted_s=failover.promoted_s,
        writes_resumed_s=(first - killed_at) if first else float("nan"),
        no_writes_s=(first - last) if first and last else float("nan"),
        recovered_s=recovered_s,
        not_recovered=still,
        cp_errors=after["errors"] - before["errors"],
        cp_timeouts=after["timeouts"] - before["timeouts"],
        resends=after["resends"] - before["resends"],
        commands=", ".join(f"{k}: {v}" for k, v in sorted(commands.items())) or "-",
        server_errors=commands.get("500", 0),
        wal_behind=max(0, primary_at - standby_at),
        probe_acked=sum(1 for _, t in probe.acked.values() if t < killed_at),
        probe_past_standby=probe.past(standby_at, killed_at),
        probe_lost=len(await probe.missing(killed_at)),
        at_kill=at_kill,
    )


def line(o: Outcome) -> str:
    """One outcome in a sentence."""
    return (
        f"promoted in {o.promoted_s:.1f} s, a client wrote again {o.writes_resumed_s:.1f} s after"
        f" the kill ({o.no_writes_s:.1f} s without an acknowledged write in all),"
        f" suite recovered {o.recovered_s:.1f} s after the kill"
        f"{' (NOT: ' + o.not_recovered + ')' if o.not_recovered else ''}; CPs saw"
        f" {o.cp_errors} errors, {o.cp_timeouts} timeouts, {o.resends} re-sends; commands"
        f" {o.commands}; standby {o.wal_behind} bytes behind at the kill; probe: {o.probe_lost}"
        f" of {o.probe_acked} acknowledged commits lost ({o.probe_past_standby} were past the"
        f" standby); CP data at the kill: {o.at_kill.line()} {o.at_kill.problems[:3]}; at the"
        f" end: {o.final.line()}, left {o.left or 'nothing'}, {len(o.dead)} dead letters,"
        f" {o.stuck_cps} CPs stuck"
    )
