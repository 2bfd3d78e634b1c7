"""What every fault run does around its faults: the suite on the run's servers, a busy fleet,
the figures a fault is measured by, and the final checks once the fleet has stopped."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from bench.fleet import SimFleet
from bench.suite import BENCH_ENV, TEST_ONLY_ENV
from tests.integration.conftest import Suite
from tests.integration.infra import Infra

from .checks import Losses, dead_letters, drained, losses
from .driver import Driver, Pace
from .faults import start_suite
from .servers import PrivateRabbit


@dataclass(slots=True)
class RunOptions:
    """How big and how long: what every run has; each run's options add their own."""

    cps: int = 1000
    pace: Pace = field(default_factory=Pace)
    command_rate: float = 5.0  # REST commands a second, all run long
    recover_timeout: float = 240.0  # the longest a wait for recovery or a drain may take
    log_dir: Path | None = None  # the suite's logs; a folder of the run's own by default
    say: bool = True  # print progress lines


def log(options: RunOptions, text: str) -> None:
    """A timestamped progress line, when the run is to say what it does."""
    if options.say:
        print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def workdir(prefix: str, log_dir: Path | None, logs_under: str = "") -> tuple[Path, Path]:
    """A fresh base directory for the servers, and the suite's log directory (`log_dir`, or
    logs/ in the base; `logs_under` a folder below it): (base, log directory)."""
    base = Path(tempfile.mkdtemp(prefix=prefix))
    base.chmod(0o755)  # Postgres runs as its own user and must reach its data directories
    logs = (log_dir or base / "logs") / logs_under
    logs.mkdir(parents=True, exist_ok=True)
    return base, logs


@contextlib.asynccontextmanager
async def running_suite(infra: Infra, log_dir: Path) -> AsyncIterator[Suite]:
    """Two gateways and every service on `infra` with the shipped settings (the test-only
    ones dropped, the bench's added), ready; stopped on the way out."""
    suite = await asyncio.to_thread(Suite, infra, log_dir)
    for process in [*suite.services.values(), *suite.gateways]:
        env = {k: v for k, v in process.env.items() if k not in TEST_ONLY_ENV}
        process.env = env | BENCH_ENV
    try:
        await asyncio.to_thread(start_suite, suite)
        yield suite
    finally:
        await asyncio.to_thread(suite.stop)


async def connect_fleet(suite: Suite, cps: int, prefix: str) -> tuple[SimFleet, float, int]:
    """`cps` simulated CPs spread over the gateways, booted, reconnecting forever after:
    (the fleet, seconds to connect them all, how many failed to)."""
    fleet = SimFleet(
        [suite.gateway_url(i) for i in range(len(suite.gateways))],
        cps,
        prefix=prefix,
        call_timeout=30.0,
    )
    took, failed = await fleet.connect_all(concurrency=200)
    fleet.auto_reconnect = True
    fleet.reconnect_deadline = float("inf")
    return fleet, took, failed


def ended(fleet: SimFleet) -> int:
    """How many of the fleet's sessions have ended."""
    return sum(1 for tx in fleet.transactions.values() if tx.meter_stop is not None)


async def until_sessions_end(fleet: SimFleet, timeout: float) -> None:
    """Wait (bounded) until a session has ended: the fleet is busy charging."""
    deadline = time.monotonic() + timeout
    while not ended(fleet) and time.monotonic() < deadline:  # noqa: ASYNC110 (a count)
        await asyncio.sleep(0.25)


@dataclass(frozen=True, slots=True)
class Tally:
    """What the CPs and the operator saw over a stretch of the run."""

    cp_errors: int
    cp_timeouts: int
    resends: int
    commands: dict[str, int]  # HTTP status: count, the non-zero ones
    errors: dict[str, int]  # the CPs' errors by kind (action:code), the non-zero ones
    timeouts: dict[str, int]  # the CPs' timeouts by action ("connect": a handshake's)

    @property
    def commands_line(self) -> str:
        """The command outcomes as one cell: `200: 41, 503: 2`, or `-`."""
        return ", ".join(f"{k}: {v}" for k, v in sorted(self.commands.items())) or "-"

    @property
    def server_errors(self) -> int:
        """REST answers 500: a fault must give 503 or an outcome, never a crash."""
        return self.commands.get("500", 0)

    def error_kinds(self, most: int = 3) -> str:
        """The commonest kinds of CP error with their counts: `StartTransaction:Timeout 4`."""
        common = sorted(self.errors.items(), key=lambda item: -item[1])[:most]
        return ", ".join(f"{kind} {n}" for kind, n in common)


class Since:
    """A mark in the run: `tally` gives what the CPs and the operator saw after it."""

    def __init__(self, driver: Driver, fleet: SimFleet) -> None:
        self._driver, self._fleet = driver, fleet
        self._seen = driver.seen.snapshot(fleet)
        self._commands = dict(driver.seen.commands)
        self._errors = dict(fleet.stats.errors)
        self._timeouts = dict(fleet.stats.timeouts)

    def tally(self) -> Tally:
        """The counts since the mark."""
        seen = self._driver.seen.snapshot(self._fleet)
        return Tally(
            cp_errors=seen["errors"] - self._seen["errors"],
            cp_timeouts=seen["timeouts"] - self._seen["timeouts"],
            resends=seen["resends"] - self._seen["resends"],
            commands=_grown(self._commands, self._driver.seen.commands),
            errors=_grown(self._errors, self._fleet.stats.errors),
            timeouts=_grown(self._timeouts, self._fleet.stats.timeouts),
        )


def _grown(before: dict[str, int], now: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in now.items() if v - before.get(k, 0)}


@dataclass(slots=True)
class FinalCheck:
    """The run's end: the fleet stopped, then everything checked once more."""

    stuck_cps: int  # CPs still in a call when the fleet had to stop
    drained_s: float
    left: list[str]  # outboxes and queues not empty
    dead: list[str]  # dead letters
    losses: Losses
    transactions: int
    meter_rows: int


async def final_checks(
    driver: Driver,
    fleet: SimFleet,
    dsn: str,
    rabbit: PrivateRabbit,
    options: RunOptions,
    *,
    settle: float = 60.0,
    drain_timeout: float | None = None,
    label: str = "",
) -> FinalCheck:
    """Stop the fleet (open sessions end), wait for outboxes and queues to drain, and check
    every transaction stored once with its energy (meter values `settle` s to show up),
    every acknowledged meter row stored, no command pending forever, no dead letters.
    `drain_timeout` defaults to the options' recover_timeout; `label` leads progress lines."""
    log(options, f"{label}stopping the fleet: open sessions end, then the final check")
    stuck = await driver.stop(timeout=options.recover_timeout)
    drained_s, left = await drained(dsn, rabbit, drain_timeout or options.recover_timeout)
    dead = await dead_letters(rabbit)
    for line in dead:
        log(options, f"  {label}dead letter: {line}")
    verification = await fleet.verify(dsn, settle=settle)
    final = await losses(dsn, fleet, settle=0)
    final.duplicates = verification.duplicates
    final.transactions_missing = verification.missing
    final.transactions_wrong = max(final.transactions_wrong, verification.wrong)
    final.problems += verification.problems
    return FinalCheck(
        stuck_cps=stuck,
        drained_s=drained_s,
        left=left,
        dead=dead,
        losses=final,
        transactions=verification.started,
        meter_rows=verification.meter_rows_in_db,
    )
