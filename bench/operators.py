"""Operators sending commands over REST, in a process of their own.

The fleet's load client keeps its event loop busy (tens of thousands of Heartbeats a second);
operators timed on that same loop would measure its lag, not the suite. They run here instead,
as separate processes would in life: `python -m bench.operators` reads a JSON job on stdin and
prints one JSON line with every round trip's latency and the HTTP statuses. The CPs answering
the commands are this process's own too (`answerers` of them, connected to `gateways` and booted
first): a CP on the fleet's loop answers after that loop's lag, which is the load client's, not
the suite's (a charge point is a device of its own).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
import time
from collections import Counter
from typing import Any

import httpx
import uvloop

from .fleet import SimFleet


async def run(job: dict[str, Any]) -> dict[str, Any]:
    """Warm up on the first CPs, then `workers` operators back to back for `seconds`."""
    answerers = SimFleet(job["gateways"], job["answerers"], prefix="OP")
    try:
        _, failed = await answerers.connect_all(concurrency=50)
        if failed:
            raise SystemExit(f"{failed} of the answering CPs could not connect")
        # Ready: the caller starts its load and says when to begin.
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        return await _send(job, [cp.cp_id for cp in answerers.cps])
    finally:
        await answerers.close()


async def _send(job: dict[str, Any], cps: list[str]) -> dict[str, Any]:
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    headers = {"Authorization": f"Bearer {job['key']}"}
    async with httpx.AsyncClient(base_url=job["url"], headers=headers, timeout=30) as client:

        async def one(cp_id: str) -> None:
            started = time.perf_counter()
            try:
                response = await client.post(
                    f"/charge-points/{cp_id}/commands/GetConfiguration", json={}
                )
            except httpx.HTTPError:
                statuses[0] += 1
                return
            latencies.append(time.perf_counter() - started)
            statuses[response.status_code] += 1

        for cp_id in cps[:10]:  # warm up: connections, caches
            await one(cp_id)
        latencies.clear()
        statuses.clear()
        numbers = itertools.count()
        end = time.monotonic() + job["seconds"]

        async def worker() -> None:
            for _ in range(job["max"]):
                n = next(numbers)
                if n >= job["max"] or time.monotonic() >= end:
                    return
                await one(cps[(n * 7919) % len(cps)])

        await asyncio.gather(*(worker() for _ in range(job["workers"])))
    return {"latencies": latencies, "statuses": dict(statuses)}


def main() -> None:
    """Read the job from stdin (one JSON line), print "ready", wait for a line on stdin, then
    print the result as one JSON line."""
    job = json.loads(sys.stdin.readline())
    print(json.dumps(uvloop.run(run(job))))


if __name__ == "__main__":
    main()
