"""Operators sending commands over REST, in a process of their own.

The fleet's load client keeps its event loop busy (tens of thousands of Heartbeats a second);
operators timed on that same loop would measure its lag, not the suite. They run here instead,
as separate processes would in life: `python -m bench.operators` reads a JSON job on stdin and
prints one JSON line with every round trip's latency and the HTTP statuses.
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


async def run(job: dict[str, Any]) -> dict[str, Any]:
    """Warm up on the first CPs, then `workers` operators back to back for `seconds`."""
    cps: list[str] = job["cps"]
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
    """Read the job from stdin, print the result as one JSON line."""
    job = json.loads(sys.stdin.read())
    print(json.dumps(uvloop.run(run(job))))


if __name__ == "__main__":
    main()
