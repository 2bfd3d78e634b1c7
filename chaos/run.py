"""`make chaos`: a busy fleet, one fault after another, and the proof that nothing was lost.

The run starts a RabbitMQ node and a Postgres cluster of its own (chaos/servers.py), the suite
on them (two gateways and every service, shipped settings), and a fleet of simulated CPs doing
charging sessions while an operator sends commands. It injects each fault in turn; after each
it waits for recovery (every process ready, every CP connected and shown online at the gateway
that holds it, sessions ending again) and checks what the CPs were told against the database.
At the end it stops the fleet cleanly and checks everything once more: every transaction
stored exactly once with its energy, every acknowledged meter row stored, no command pending
forever, outboxes and queues (dead-letter queues included) empty.
"""

from __future__ import annotations

import asyncio
import platform
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bench.fleet import SimFleet
from bench.suite import BENCH_ENV, TEST_ONLY_ENV
from tests.integration.conftest import ADMIN_KEY, Suite
from tests.integration.infra import Infra

from .checks import Losses, dead_letters, drained, losses, wait_recovered
from .driver import Driver, Pace
from .faults import FAULTS, Stage, start_suite
from .servers import private_servers

ROOT = Path(__file__).resolve().parents[1]


@dataclass(slots=True)
class Options:
    """How big and how long."""

    cps: int = 1000
    faults: list[str] = field(default_factory=lambda: list(FAULTS))
    pace: Pace = field(default_factory=Pace)
    command_rate: float = 5.0  # REST commands a second, all run long
    stall_seconds: float = 30.0
    outage_seconds: float = 5.0
    recover_timeout: float = 240.0
    log_dir: Path | None = None
    say: bool = True


@dataclass(slots=True)
class Row:
    """One fault's line of the table."""

    fault: str
    what: str
    recovered_s: float
    not_recovered: str
    cp_errors: int
    cp_timeouts: int
    resends: int
    commands: str
    server_errors: int  # REST answers 500: a fault must give 503 or an outcome, never a crash
    lost: Losses


@dataclass(slots=True)
class Report:
    """The whole run: a row per fault and the final check."""

    rows: list[Row]
    final: Losses
    transactions: int
    meter_rows: int
    drained_s: float
    left: list[str]
    dead: list[str]
    stuck_cps: int
    started: datetime
    seconds: float
    cps: int

    @property
    def ok(self) -> bool:
        """Nothing lost, everything recovered, everything drained."""
        return (
            not self.final.total
            and not self.left
            and not self.dead
            and not self.stuck_cps
            and all(
                not r.lost.total and not r.not_recovered and not r.server_errors for r in self.rows
            )
        )


def _log(options: Options, text: str) -> None:
    if options.say:
        print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def _workdir(options: Options) -> tuple[Path, Path]:
    base = Path(tempfile.mkdtemp(prefix="csms-chaos-"))
    base.chmod(0o755)  # Postgres runs as its own user and must reach its data directory
    log_dir = options.log_dir or base / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    return base, log_dir


async def run(options: Options) -> Report:
    """Run the faults against a suite of the run's own; the report says what happened."""
    started_at = datetime.now(UTC)
    started = time.monotonic()
    base, log_dir = await asyncio.to_thread(_workdir, options)
    _log(options, f"private RabbitMQ and Postgres under {base}; suite logs in {log_dir}")
    with private_servers(base / "servers") as (rabbit, postgres):
        infra = Infra(rabbit.url, postgres.url)
        suite = await asyncio.to_thread(Suite, infra, log_dir)
        for process in [*suite.services.values(), *suite.gateways]:
            env = {k: v for k, v in process.env.items() if k not in TEST_ONLY_ENV}
            process.env = env | BENCH_ENV
        await asyncio.to_thread(start_suite, suite)
        try:
            return await _faults(
                options,
                suite,
                infra,
                Stage(suite, rabbit, postgres, options.stall_seconds, options.outage_seconds),
                started_at,
                started,
            )
        finally:
            await asyncio.to_thread(suite.stop)


async def _faults(
    options: Options,
    suite: Suite,
    infra: Infra,
    stage: Stage,
    started_at: datetime,
    started: float,
) -> Report:
    fleet = SimFleet(
        [suite.gateway_url(i) for i in range(len(suite.gateways))],
        options.cps,
        prefix="CHAOS",
        call_timeout=30.0,
    )
    took, failed = await fleet.connect_all(concurrency=200)
    _log(options, f"{options.cps} CPs connected and booted in {took:.1f} s ({failed} failed)")
    fleet.auto_reconnect = True
    fleet.reconnect_deadline = float("inf")
    driver = Driver(fleet, suite.api_url, ADMIN_KEY, options.pace)
    driver.start(options.command_rate)
    rows: list[Row] = []
    try:
        await _until_sessions_end(fleet, 0, options.recover_timeout)
        for name in options.faults:
            rows.append(await _one(options, stage, fleet, driver, name, infra))
        _log(options, "stopping the fleet: open sessions end, then the final check")
        stuck = await driver.stop(timeout=options.recover_timeout)
        drained_s, left = await drained(infra.asyncpg_dsn, stage.rabbit, options.recover_timeout)
        dead = await dead_letters(stage.rabbit)
        for line in dead:
            _log(options, f"  dead letter: {line}")
        verification = await fleet.verify(infra.asyncpg_dsn, settle=60.0)
        final = await losses(infra.asyncpg_dsn, fleet, settle=0)
        final.duplicates = verification.duplicates
        final.transactions_missing = verification.missing
        final.transactions_wrong = max(final.transactions_wrong, verification.wrong)
        final.problems += verification.problems
    finally:
        await fleet.close()
    report = Report(
        rows=rows,
        final=final,
        transactions=verification.started,
        meter_rows=verification.meter_rows_in_db,
        drained_s=drained_s,
        left=left,
        dead=dead,
        stuck_cps=stuck,
        started=started_at,
        seconds=time.monotonic() - started,
        cps=options.cps,
    )
    _log(options, f"final: {final.line()}; left {left or 'nothing'}; {final.problems[:5]}")
    return report


def _ended(fleet: SimFleet) -> int:
    return sum(1 for tx in fleet.transactions.values() if tx.meter_stop is not None)


async def _until_sessions_end(fleet: SimFleet, before: int, timeout: float) -> None:
    """Wait (bounded) until sessions have ended since `before`: the fleet is busy charging."""
    deadline = time.monotonic() + timeout
    while _ended(fleet) <= before and time.monotonic() < deadline:  # noqa: ASYNC110 (a count)
        await asyncio.sleep(0.25)


async def _one(
    options: Options,
    stage: Stage,
    fleet: SimFleet,
    driver: Driver,
    name: str,
    infra: Infra,
) -> Row:
    fault = FAULTS[name]
    before = driver.seen.snapshot(fleet)
    commands_before = dict(driver.seen.commands)
    ended_before = _ended(fleet)
    _log(options, f"{name}: {fault.what} ({_ended(fleet)} sessions ended so far)")
    t0 = time.monotonic()
    await fault.inject(stage)
    seconds, still = await wait_recovered(
        infra.asyncpg_dsn, stage.suite, fleet, ended_before, options.recover_timeout
    )
    total = time.monotonic() - t0
    lost = await losses(infra.asyncpg_dsn, fleet, settle=60.0)
    after = driver.seen.snapshot(fleet)
    commands = {
        k: v - commands_before.get(k, 0)
        for k, v in driver.seen.commands.items()
        if v - commands_before.get(k, 0)
    }
    row = Row(
        fault=name,
        what=fault.what,
        recovered_s=seconds,
        not_recovered=still,
        cp_errors=after["errors"] - before["errors"],
        cp_timeouts=after["timeouts"] - before["timeouts"],
        resends=after["resends"] - before["resends"],
        commands=", ".join(f"{k}: {v}" for k, v in sorted(commands.items())) or "-",
        server_errors=commands.get("500", 0),
        lost=lost,
    )
    _log(
        options,
        f"  recovered in {seconds:.1f} s after the fault was undone ({total:.1f} s in all)"
        f"{'; NOT: ' + still if still else ''}; CPs saw {row.cp_errors} errors,"
        f" {row.cp_timeouts} timeouts, {row.resends} re-sends; commands {row.commands};"
        f" lost: {lost.line()} {lost.problems[:3]}",
    )
    return row


def table(report: Report) -> str:
    """The report as a Markdown table with a line of context above it."""
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    lines = [
        f"- date: {report.started:%Y-%m-%d %H:%M} UTC; commit `{commit}`; machine: {cpu},"
        f" Python {platform.python_version()}",
        f"- fleet: {report.cps} CPs charging (sessions of Authorize, StartTransaction,"
        f" MeterValues, StopTransaction), an operator sending GetConfiguration over REST;"
        f" {report.seconds / 60:.1f} min in all",
        "",
        "| fault | recovered in (s) | CPs saw: errors / timeouts / re-sends | commands (HTTP"
        " status: count) | lost |",
        "|---|---|---|---|---|",
    ]
    for row in report.rows:
        recovered = f"{row.recovered_s:.1f}" + (
            f" (NOT: {row.not_recovered})" if row.not_recovered else ""
        )
        lines.append(
            f"| {row.what} | {recovered} | {row.cp_errors} / {row.cp_timeouts} /"
            f" {row.resends} | {row.commands} | {row.lost.line()} |"
        )
    final = report.final
    left = ", ".join(report.left) or "nothing"
    dead = f"{len(report.dead)} dead letters" if report.dead else "no dead letters"
    lines.append(
        f"| **at the end**: fleet stopped, {report.transactions} transactions,"
        f" {report.meter_rows} meter rows | drained in {report.drained_s:.1f} | left in"
        f" outboxes and queues: {left}; {dead} | CPs still busy: {report.stuck_cps} |"
        f" {final.line()} |"
    )
    return "\n".join(lines)
