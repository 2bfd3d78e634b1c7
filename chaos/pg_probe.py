"""A client that commits one row after another and remembers which commits were acknowledged.

It writes through the multi-host DSN (the writable node wins), as the services do, into a table
of its own. Each row records a lower bound of its commit's WAL position
(`pg_current_wal_insert_lsn()` while inserting), so that after a fail-over the acknowledged
commits the promoted standby lacks can be counted, and set against how far the standby had
replayed. Its gap in acknowledgements is the write outage a client saw.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

import asyncpg

TABLE = "chaos_failover_probe"
INSERT = f"INSERT INTO {TABLE} (n) VALUES ($1) RETURNING pg_current_wal_insert_lsn()::text"


def lsn(text: str) -> int:
    """A pg_lsn's text ('16/B374D848') as a number of bytes."""
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) + int(low, 16)


@dataclass(slots=True)
class Probe:
    """Commits rows `n` = 1, 2, ... until `stop`; `acked` maps n to (lsn, monotonic time)."""

    dsn: str
    acked: dict[int, tuple[int, float]] = field(default_factory=dict)
    errors: int = 0
    _task: asyncio.Task[None] | None = None
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> None:
        """Create the table and start committing."""
        conn = await asyncpg.connect(self.dsn)
        try:
            await conn.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (n bigint PRIMARY KEY)")
        finally:
            await conn.close()
        self._task = asyncio.create_task(self._commit(), name="failover-probe")

    async def stop(self) -> None:
        """Stop committing (the commit in flight is given up)."""
        self._stopping.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _commit(self) -> None:
        n = 0
        conn: asyncpg.Connection | None = None
        while not self._stopping.is_set():
            try:
                if conn is None or conn.is_closed():
                    conn = await asyncpg.connect(self.dsn, timeout=5)
                n += 1
                at = await conn.fetchval(INSERT, n)
                self.acked[n] = (lsn(str(at)), time.monotonic())
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
                self.errors += 1
                if conn is not None:
                    conn.terminate()
                conn = None
                await asyncio.sleep(0.05)  # retry pace of a client whose database is away
                continue
            await asyncio.sleep(0.01)  # ~ a hundred commits a second at most
        if conn is not None:
            conn.terminate()

    def last_ack_before(self, moment: float) -> float | None:
        """Time of the last acknowledgement before `moment`."""
        times = [t for _, t in self.acked.values() if t < moment]
        return max(times) if times else None

    def first_ack_after(self, moment: float) -> float | None:
        """Time of the first acknowledgement after `moment`."""
        times = [t for _, t in self.acked.values() if t > moment]
        return min(times) if times else None

    async def missing(self, before: float) -> list[int]:
        """Rows acknowledged before `before` that the (new) primary does not hold."""
        wanted = [n for n, (_, t) in self.acked.items() if t < before]
        conn = await asyncpg.connect(self.dsn)
        try:
            rows = await conn.fetch(f"SELECT n FROM {TABLE} WHERE n = ANY($1::bigint[])", wanted)
        finally:
            await conn.close()
        present = {r["n"] for r in rows}
        return [n for n in wanted if n not in present]

    def past(self, position: int, before: float) -> int:
        """Commits acknowledged before `before` whose WAL lies beyond `position`."""
        return sum(1 for at, t in self.acked.values() if t < before and at > position)
