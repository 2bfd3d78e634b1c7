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
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bench.fleet import SimFleet
from tests.integration.conftest import ADMIN_KEY
from tests.integration.infra import Infra

from . import harness
from .checks import Losses, losses, wait_recovered
from .cli import dated
from .driver import Driver
from .faults import FAULTS, Stage
from .servers import private_servers


@dataclass(slots=True)
class Options(harness.RunOptions):
    """The fleet's size and pace (harness.RunOptions), which faults, how long each lasts."""

    faults: list[str] = field(default_factory=lambda: list(FAULTS))
    stall_seconds: float = 30.0
    outage_seconds: float = 5.0


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


async def run(options: Options) -> Report:
    """Run the faults against a suite of the run's own; the report says what happened."""
    started_at = datetime.now(UTC)
    started = time.monotonic()
    base, log_dir = await asyncio.to_thread(harness.workdir, "csms-chaos-", options.log_dir)
    harness.log(options, f"private RabbitMQ and Postgres under {base}; suite logs in {log_dir}")
    with private_servers(base / "servers") as (rabbit, postgres):
        infra = Infra(rabbit.url, postgres.url)
        async with harness.running_suite(infra, log_dir) as suite:
            return await _faults(
                options,
                infra,
                Stage(suite, rabbit, postgres, options.stall_seconds, options.outage_seconds),
                started_at,
                started,
            )


async def _faults(
    options: Options, infra: Infra, stage: Stage, started_at: datetime, started: float
) -> Report:
    fleet, took, failed = await harness.connect_fleet(stage.suite, options.cps, "CHAOS")
    harness.log(
        options, f"{options.cps} CPs connected and booted in {took:.1f} s ({failed} failed)"
    )
    driver = Driver(fleet, stage.suite.api_url, ADMIN_KEY, options.pace)
    driver.start(options.command_rate)
    rows: list[Row] = []
    try:
        await harness.until_sessions_end(fleet, options.recover_timeout)
        for name in options.faults:
            rows.append(await _one(options, stage, fleet, driver, name, infra))
        end = await harness.final_checks(driver, fleet, infra.asyncpg_dsn, stage.rabbit, options)
    finally:
        await fleet.close()
    report = Report(
        rows=rows,
        final=end.losses,
        transactions=end.transactions,
        meter_rows=end.meter_rows,
        drained_s=end.drained_s,
        left=end.left,
        dead=end.dead,
        stuck_cps=end.stuck_cps,
        started=started_at,
        seconds=time.monotonic() - started,
        cps=options.cps,
    )
    final = end.losses
    harness.log(
        options, f"final: {final.line()}; left {end.left or 'nothing'}; {final.problems[:5]}"
    )
    return report


async def _one(
    options: Options,
    stage: Stage,
    fleet: SimFleet,
    driver: Driver,
    name: str,
    infra: Infra,
) -> Row:
    fault = FAULTS[name]
    seen_from = harness.Since(driver, fleet)
    ended_before = harness.ended(fleet)
    harness.log(options, f"{name}: {fault.what} ({harness.ended(fleet)} sessions ended so far)")
    t0 = time.monotonic()
    await fault.inject(stage)
    seconds, still = await wait_recovered(
        infra.asyncpg_dsn, stage.suite, fleet, ended_before, options.recover_timeout
    )
    total = time.monotonic() - t0
    lost = await losses(infra.asyncpg_dsn, fleet, settle=60.0)
    seen = seen_from.tally()
    row = Row(
        fault=name,
        what=fault.what,
        recovered_s=seconds,
        not_recovered=still,
        cp_errors=seen.cp_errors,
        cp_timeouts=seen.cp_timeouts,
        resends=seen.resends,
        commands=seen.commands_line,
        server_errors=seen.server_errors,
        lost=lost,
    )
    harness.log(
        options,
        f"  recovered in {seconds:.1f} s after the fault was undone ({total:.1f} s in all)"
        f"{'; NOT: ' + still if still else ''}; CPs saw {row.cp_errors} errors,"
        f" {row.cp_timeouts} timeouts, {row.resends} re-sends; commands {row.commands};"
        f" errors by kind: {seen.error_kinds() or '-'}; timeouts by action:"
        f" {', '.join(f'{k} {v}' for k, v in sorted(seen.timeouts.items())) or '-'};"
        f" lost: {lost.line()} {lost.problems[:3]}",
    )
    return row


def table(report: Report) -> str:
    """The report as a Markdown table with a line of context above it."""
    lines = [
        dated(report.started),
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
