"""Run a fleet against running gateways and report what it saw.

.venv/bin/python -m bench.simulate --cps 200 --duration 60 --heartbeat 10 --meter-interval 5 \\
    --sessions-per-hour 30 --session-seconds 30 --dsn postgresql://postgres@127.0.0.1/postgres

Against `make up`, start it with SESSION_UNKNOWN_ID_TAGS=accept (the fleet's idTags are not in
the auth list) or the transactions are answered Invalid (they are still recorded and checked).
"""

from __future__ import annotations

import argparse
import asyncio
import time

import uvloop

from .fleet import Behaviour, SimFleet
from .procs import raise_file_limit


def _args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument(
        "--gateways",
        nargs="+",
        default=["ws://127.0.0.1:9000", "ws://127.0.0.1:9001"],
        help="gateway base URLs; CPs are spread over them",
    )
    p.add_argument("--cps", type=int, default=100, help="simulated charge points")
    p.add_argument("--prefix", default="SIM", help="charge point ids are PREFIX-00000 ...")
    p.add_argument("--duration", type=float, default=60.0, help="seconds to run (bounded)")
    p.add_argument("--heartbeat", type=float, default=30.0, help="H: seconds between Heartbeats")
    p.add_argument("--meter-interval", type=float, default=10.0, help="M: s between MeterValues")
    p.add_argument("--sessions-per-hour", type=float, default=6.0, help="charging sessions per CP")
    p.add_argument("--session-seconds", type=float, default=60.0, help="length of a session")
    p.add_argument("--no-commands", action="store_true", help="do not answer CS->CP commands")
    p.add_argument("--concurrency", type=int, default=500, help="connections opened at once")
    p.add_argument("--dsn", help="Postgres DSN: check every transaction in schema sessions")
    return p.parse_args()


async def main() -> int:
    """Connect, live for --duration, stop open sessions, report, verify."""
    args = _args()
    print(f"file limit: {raise_file_limit()}")
    fleet = SimFleet(
        args.gateways, args.cps, prefix=args.prefix, answer_commands=not args.no_commands
    )
    seconds, failed = await fleet.connect_all(args.concurrency)
    held = sum(cp.connected for cp in fleet.cps)
    print(f"connected and booted {held}/{args.cps} in {seconds:.1f} s ({failed} failed)")
    behaviour = Behaviour(
        heartbeat=args.heartbeat,
        meter_interval=args.meter_interval,
        sessions_per_hour=args.sessions_per_hour,
        session_seconds=args.session_seconds,
    )
    fleet.auto_reconnect = True
    fleet.reconnect_deadline = time.monotonic() + args.duration + 60
    fleet.stats.reset()
    started = time.monotonic()
    await asyncio.gather(*(fleet.live(cp, behaviour, args.duration) for cp in fleet.cps))
    open_cps = [cp for cp in fleet.cps if cp.state["tx"] is not None]
    await asyncio.gather(*(fleet.stop_transaction(cp) for cp in open_cps), return_exceptions=True)
    elapsed = time.monotonic() - started
    held = sum(cp.connected for cp in fleet.cps)
    print(f"\n{held} connections held at the end; {fleet.stats.answered() / elapsed:.0f} msg/s")
    print(fleet.stats.report(elapsed))
    print(f"commands answered: {fleet.stats.commands_answered}; re-sends: {fleet.resends}")
    await fleet.close()
    if args.dsn:
        result = await fleet.verify(args.dsn)
        print(result.line())
        for problem in result.problems:
            print("  " + problem)
        return 1 if result.lost else 0
    return 0


if __name__ == "__main__":
    raise SystemExit(uvloop.run(main()))
