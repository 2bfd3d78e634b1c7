"""`python -m chaos`: run the faults, print the table, optionally write it into the docs."""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from pathlib import Path

from .driver import Pace
from .faults import FAULTS
from .run import Options, run, table

DOC = Path(__file__).resolve().parents[1] / "docs" / "RELIABILITY.md"
BEGIN, END = "<!-- chaos:begin -->", "<!-- chaos:end -->"


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="make chaos", description=__doc__)
    parser.add_argument("--cps", type=int, default=1000, help="charge points in the fleet")
    parser.add_argument(
        "--faults",
        default=",".join(FAULTS),
        help=f"comma-separated, in order (default all): {', '.join(FAULTS)}",
    )
    parser.add_argument("--interval", type=float, default=5.0, help="s between a CP's messages")
    parser.add_argument("--stall", type=float, default=30.0, help="s a service stays SIGSTOPped")
    parser.add_argument("--outage", type=float, default=5.0, help="s the broker stays stopped")
    parser.add_argument("--command-rate", type=float, default=5.0, help="REST commands a second")
    parser.add_argument(
        "--write", action="store_true", help=f"write the table into {DOC.name} (latest run)"
    )
    return parser.parse_args()


def main() -> int:
    args = _args()
    unknown = [f for f in args.faults.split(",") if f not in FAULTS]
    if unknown:
        print(f"unknown faults {unknown}; there are {list(FAULTS)}", file=sys.stderr)
        return 2
    options = Options(
        cps=args.cps,
        faults=args.faults.split(","),
        pace=Pace(interval=args.interval),
        command_rate=args.command_rate,
        stall_seconds=args.stall,
        outage_seconds=args.outage,
    )
    report = asyncio.run(run(options))
    text = table(report)
    print()
    print(text)
    if args.write:
        doc = DOC.read_text()
        block = f"{BEGIN}\n{text}\n{END}"
        doc = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: block, doc, flags=re.S)
        DOC.write_text(doc)
        print(f"\nwritten into {DOC}")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
