"""`python -m chaos.cluster_cli` (`make cluster-test`): run it, print the table, optionally
write it into docs/RELIABILITY.md."""

from __future__ import annotations

import asyncio
import sys

from . import cli
from .cluster_run import Options, Report, run
from .watch import LATE_SECONDS


def table(report: Report) -> str:
    """The report as a Markdown table with lines of context above it."""
    lines = [
        f"{cli.dated(report.started)}; 3 RabbitMQ 3.10 nodes, suite and fleet on the same machine",
        f"- fleet: {report.cps} CPs charging (Authorize, StartTransaction, MeterValues,"
        f" StopTransaction), an operator sending GetConfiguration over REST;"
        f" {report.seconds / 60:.1f} min in all",
        f"- {report.replicated[1]} quorum queues, {report.replicated[0]} with a replica on each"
        f" of the 3 nodes; leaders per node: {_leaders(report.leaders_start)} at the start,"
        f" {_leaders(report.leaders_end)} at the end",
        "",
        "| fault | fail-over (s): new leaders / longest a suite connection was without a node"
        " (connections lost) |"
        " suite whole (s) | node back (s) |"
        " CPs disconnected (longest, s) | answers late (> "
        f"{LATE_SECONDS:.0f} s) / all (slowest, s) | CPs saw: errors / timeouts / re-sends |"
        " commands (HTTP status: count) | lost |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for p in report.phases:
        if not p.queues:  # the window without a fault
            lines.append(
                f"| {p.what} | | | | {p.cps_disconnected} ({p.longest_disconnect_s:.1f}) |"
                f" {p.late} / {p.answered} ({p.slowest_s:.1f}) | {p.cp_errors} /"
                f" {p.cp_timeouts} / {p.resends} | {p.commands} | |"
            )
            continue
        whole = f"{p.recovered_s:.1f}" + (f" (NOT: {p.not_recovered})" if p.not_recovered else "")
        lines.append(
            f"| {p.what} of the node leading {len(p.queues)} queues |"
            f" {p.failover_s:.1f}: {p.leaders_s:.1f} / {p.clients_s:.1f} ({p.connections_lost})"
            f" | {whole} |"
            f" {p.back_s:.1f} | {p.cps_disconnected} ({p.longest_disconnect_s:.1f}) |"
            f" {p.late} / {p.answered} ({p.slowest_s:.1f}) | {p.cp_errors}"
            f"{f' ({p.error_kinds})' if p.error_kinds else ''} / {p.cp_timeouts} /"
            f" {p.resends} | {p.commands} | {p.lost.line()} |"
        )
    left = ", ".join(report.left) or "nothing"
    dead = f"{len(report.dead)} dead letters" if report.dead else "no dead letters"
    lines.append(
        f"| **at the end**: fleet stopped, {report.transactions} transactions,"
        f" {report.meter_rows} meter rows | drained in {report.drained_s:.1f} | | |"
        f" CPs still busy: {report.stuck_cps} | | left in outboxes and queues: {left}; {dead} |"
        f" | {report.final.line()} |"
    )
    return "\n".join(lines)


def _leaders(per_node: dict[str, int]) -> str:
    return ", ".join(
        f"{n.split('@')[0].rsplit('-', 1)[-1]}: {c}" for n, c in sorted(per_node.items())
    )


def main() -> int:
    parser = cli.parser("make cluster-test", __doc__, cps=1000)
    parser.add_argument("--outage", type=float, default=10.0, help="s the second node is down")
    args = parser.parse_args()
    options = cli.options(Options, args, outage_seconds=args.outage)
    report = asyncio.run(run(options))
    cli.show(table(report), "cluster", args.write)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
