"""`make failover-test`: the Postgres fail-over in each mode, a table of it, optionally into
docs/RELIABILITY.md (between the failover markers)."""

from __future__ import annotations

import argparse
import asyncio
import math
import platform
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from .driver import Pace
from .failover import MODES, Options, Outcome, run

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "RELIABILITY.md"
BEGIN, END = "<!-- failover:begin -->", "<!-- failover:end -->"


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="make failover-test", description=__doc__)
    parser.add_argument("--cps", type=int, default=300, help="charge points in the fleet")
    parser.add_argument("--modes", default=",".join(MODES), help="comma-separated: sync,async")
    parser.add_argument("--interval", type=float, default=5.0, help="s between a CP's messages")
    parser.add_argument("--lag", type=float, default=10.0, help="s the link stalls before the kill")
    parser.add_argument("--command-rate", type=float, default=5.0, help="REST commands a second")
    parser.add_argument("--write", action="store_true", help=f"write the table into {DOC.name}")
    return parser.parse_args()


def _seconds(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.1f}"


def table(outcomes: list[Outcome], options: Options, started: datetime, minutes: float) -> str:
    """The outcomes as a Markdown table with a line of context above it."""
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    lines = [
        f"- date: {started:%Y-%m-%d %H:%M} UTC; commit `{commit}`; {platform.machine()},"
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
    args = _args()
    modes = args.modes.split(",")
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        print(f"unknown modes {unknown}; there are {list(MODES)}", file=sys.stderr)
        return 2
    options = Options(
        cps=args.cps,
        modes=modes,
        pace=Pace(interval=args.interval),
        command_rate=args.command_rate,
        lag_seconds=args.lag,
    )
    started = datetime.now(UTC)
    outcomes = asyncio.run(run(options))
    minutes = (datetime.now(UTC) - started).total_seconds() / 60
    text = table(outcomes, options, started, minutes)
    print()
    print(text)
    if args.write:
        doc = DOC.read_text()
        block = f"{BEGIN}\n{text}\n{END}"
        doc = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: block, doc, flags=re.S)
        DOC.write_text(doc)
        print(f"\nwritten into {DOC}")
    # Synchronous must lose nothing; asynchronous is run to show what it loses.
    sync = [o for o in outcomes if o.mode == "sync"]
    return 0 if all(o.clean for o in sync) else 1


if __name__ == "__main__":
    sys.exit(main())
