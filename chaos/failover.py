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
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from bench.fleet import SimFleet
from tests.integration.conftest import ADMIN_KEY, Suite

from . import harness
from .checks import Losses, losses, wait_recovered
from .driver import Driver
from .pg_failover import PairInfra, PgPair
from .pg_probe import Probe, lsn
from .servers import PrivateRabbit

MODES = ("sync", "async")


@dataclass(slots=True)
class Options(harness.RunOptions):
    """The fleet's size and pace (harness.RunOptions), which modes, how long the lag."""

    cps: int = 300
    modes: list[str] = field(default_factory=lambda: list(MODES))
    lag_seconds: float = 10.0  # the link stalls this long before the kill
    settle: float = 60.0  # how long the checks wait for acknowledged rows to show up


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


@contextlib.asynccontextmanager
async def _servers(
    options: Options, synchronous: bool
) -> AsyncIterator[tuple[Suite, PgPair, PrivateRabbit]]:
    base, log_dir = await asyncio.to_thread(
        harness.workdir, "csms-failover-", options.log_dir, "sync" if synchronous else "async"
    )
    rabbit = PrivateRabbit(base / "rabbitmq")
    pair = PgPair(base / "postgres", synchronous=synchronous)
    try:
        await asyncio.to_thread(rabbit.start)
        await asyncio.to_thread(pair.start)
        harness.log(
            options,
            f"primary :{pair.primary.port}, standby :{pair.standby.port}; logs {log_dir}",
        )
        infra = PairInfra(rabbit.url, pair.sqlalchemy_url, pair_dsn=pair.asyncpg_dsn)
        async with harness.running_suite(infra, log_dir) as suite:
            yield suite, pair, rabbit
    finally:
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
    harness.log(
        options,
        f"{mode}: starting a RabbitMQ node, a primary and a {mode} standby, the suite",
    )
    async with _servers(options, synchronous) as (suite, pair, rabbit):
        fleet, took, failed = await harness.connect_fleet(suite, options.cps, "FAILOVER")
        harness.log(
            options, f"{mode}: {options.cps} CPs connected in {took:.1f} s ({failed} failed)"
        )
        driver = Driver(fleet, suite.api_url, ADMIN_KEY, options.pace)
        probe = Probe(pair.asyncpg_dsn)
        await probe.start()
        driver.start(options.command_rate)
        try:
            outcome = await _fail_over(options, mode, suite, pair, fleet, driver, probe)
            end = await harness.final_checks(
                driver,
                fleet,
                pair.asyncpg_dsn,
                rabbit,
                options,
                settle=options.settle,
                drain_timeout=options.recover_timeout if synchronous else options.settle,
                label=f"{mode}: ",
            )
            outcome.stuck_cps, outcome.left, outcome.dead = end.stuck_cps, end.left, end.dead
            outcome.final = end.losses
            outcome.transactions, outcome.meter_rows = end.transactions, end.meter_rows
        finally:
            await probe.stop()
            await fleet.close()
    harness.log(options, f"{mode}: {line(outcome)}")
    return outcome


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
    await harness.until_sessions_end(fleet, options.recover_timeout)
    seen_from = harness.Since(driver, fleet)
    ended_before = harness.ended(fleet)
    harness.log(
        options,
        f"{mode}: {ended_before} sessions ended; the link stalls {options.lag_seconds} s",
    )
    pair.link.pause()
    await asyncio.sleep(options.lag_seconds)  # the lag itself: the standby falls behind
    primary_at = lsn(await asyncio.to_thread(pair.primary.sql, "SELECT pg_current_wal_lsn()"))
    told = _as_told(fleet)
    failover = await asyncio.to_thread(pair.fail_over)
    killed_at = failover.died_at
    standby_at = lsn(failover.standby_lsn)
    harness.log(
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
        harness.log(options, f"  {mode}: {problem}")
    last = probe.last_ack_before(killed_at)
    first = probe.first_ack_after(killed_at)
    seen = seen_from.tally()
    harness.log(options, f"  {mode}: the CPs' errors (action:code): {seen.errors}")
    return Outcome(
        mode=mode,
        promoted_s=failover.promoted_s,
        writes_resumed_s=(first - killed_at) if first else float("nan"),
        no_writes_s=(first - last) if first and last else float("nan"),
        recovered_s=recovered_s,
        not_recovered=still,
        cp_errors=seen.cp_errors,
        cp_timeouts=seen.cp_timeouts,
        resends=seen.resends,
        commands=seen.commands_line,
        server_errors=seen.server_errors,
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
