"""`python -m chaos`: run the faults, print the table, optionally write it into the docs."""

from __future__ import annotations

import asyncio
import sys

from . import cli
from .faults import FAULTS
from .run import Options, run, table


def main() -> int:
    parser = cli.parser("make chaos", __doc__, cps=1000)
    parser.add_argument(
        "--faults",
        default=",".join(FAULTS),
        help=f"comma-separated, in order (default all): {', '.join(FAULTS)}",
    )
    parser.add_argument("--stall", type=float, default=30.0, help="s a service stays SIGSTOPped")
    parser.add_argument("--outage", type=float, default=5.0, help="s the broker stays stopped")
    args = parser.parse_args()
    options = cli.options(
        Options,
        args,
        faults=cli.names(args.faults, FAULTS, "faults"),
        stall_seconds=args.stall,
        outage_seconds=args.outage,
    )
    report = asyncio.run(run(options))
    cli.show(table(report), "chaos", args.write)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
