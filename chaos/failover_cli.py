"""`make failover-test`: the Postgres fail-over in each mode, a table of it, optionally into
docs/RELIABILITY.md (between the failover markers)."""

from __future__ import annotations

import asyncio
import math
import platform
import sys
from datetime import UTC, datetime

from . import cli
from .failover import MODES, Options, Outcome, run


def _seconds(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.1f}"


def table(outcomes: list[Outcome], options: Options, started: datetime, minutes: float) -> str:
    """The outcomes as a Markdown table with a line of context above it."""
    lines = [
        f"- date: {started:%Y-%m-%d %H:%M} UTC; commit `{cli.commit()}`; {platform.machine()},"
        f" Python {platform.python_version()}; {minutes:.1f} min in all",
        f"- fleet: {options.cps} CPs charging, a message every ~{options.pace.interval:g} s"
        f" each, {options.command_rate:g} GetConfiguration a second over REST, a probe"
        f" committing rows one after another; the replication link stalled"
        f" {options.lag_seconds:g} s before the primary was killed",
        "",
        "| replication | promoted (s after the kill) | a client wrote again (s after the kill;"
        " without a write in all) | suite"
        " recovered (s after the kill) | CPs saw: errors / timeouts / re-sends | commands |"
        " standby behind at the kill | probe commits acknowledged / lost | CP data"
        " acknowledged before the kill, lost | at the end |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for o in outcomes:
        recovered = _seconds(o.recovered_s) + (
            f" (NOT: {o.not_recovered})" if o.not_recovered else ""
        )
        end = (
            f"{o.transactions} transactions, {o.meter_rows} meter rows; lost: {o.final.line()};"
            f" left: {', '.join(o.left) or 'nothing'}; {len(o.dead)} dead letters"
        )
        lines.append(
            f"| {o.mode} | {o.promoted_s:.1f} |"
            f" {_seconds(o.writes_resumed_s)}; {_seconds(o.no_writes_s)} | {recovered} |"
            f" {o.cp_errors} / {o.cp_timeouts} / {o.resends} | {o.commands} |"
            f" {o.wal_behind:,} bytes of WAL | {o.probe_acked} / {o.probe_lost}"
            f" ({o.probe_past_standby} past the standby's LSN) | {o.at_kill.line()} | {end} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = cli.parser("make failover-test", __doc__, cps=300)
    parser.add_argument("--modes", default=",".join(MODES), help="comma-separated: sync,async")
    parser.add_argument("--lag", type=float, default=10.0, help="s the link stalls before the kill")
    args = parser.parse_args()
    options = cli.options(
        Options, args, modes=cli.names(args.modes, MODES, "modes"), lag_seconds=args.lag
    )
    started = datetime.now(UTC)
    outcomes = asyncio.run(run(options))
    minutes = (datetime.now(UTC) - started).total_seconds() / 60
    cli.show(table(outcomes, options, started, minutes), "failover", args.write)
    # Synchronous must lose nothing; asynchronous is run to show what it loses.
    sync = [o for o in outcomes if o.mode == "sync"]
    return 0 if all(o.clean for o in sync) else 1


if __name__ == "__main__":
    sys.exit(main())
