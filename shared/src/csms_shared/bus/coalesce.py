"""One socket write per event-loop turn for each AMQP connection, not one per frame.

aiormq's writer task writes every queued frame (a publish, an ack, a heartbeat) to the socket
on its own, one `send` system call each: under load that is a quarter of a gateway's CPU. The
writer it is given here gathers the frames queued in one turn of the loop and writes them with
one call at the end of the turn; order, `drain` and close are kept. Installed once, from
`connect`, for every connection of the process (pinned aiormq 7.x; see `install`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiormq.connection

log = logging.getLogger(__name__)

_WRITER_ATTR = "_Connection__writer"  # aiormq's name-mangled `Connection.__writer`


class CoalescingWriter:
    """A `StreamWriter` whose `write`s are joined into one per loop turn."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer
        self._pending: list[bytes] = []
        self._scheduled = False
        self._loop = asyncio.get_running_loop()

    def write(self, data: bytes) -> None:
        self._pending.append(data)
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self.flush)

    def flush(self) -> None:
        """Write what is pending now (also called at the end of the loop turn)."""
        self._scheduled = False
        if not self._pending:
            return
        data = self._pending[0] if len(self._pending) == 1 else b"".join(self._pending)
        self._pending.clear()
        if not self._writer.is_closing():
            self._writer.write(data)

    async def drain(self) -> None:
        self.flush()
        await self._writer.drain()

    def write_eof(self) -> None:
        self.flush()
        self._writer.write_eof()

    def close(self) -> None:
        self.flush()
        self._writer.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._writer, name)


def install() -> bool:
    """Give aiormq's writer task a `CoalescingWriter`; False (and left alone) if aiormq has
    changed so that its writer is not where this expects it."""
    connection_class: Any = aiormq.connection.Connection
    original: Callable[[Any, Any], Awaitable[None]] | None = getattr(
        connection_class, _WRITER_ATTR, None
    )
    if original is None:
        log.warning("aiormq has no %s: AMQP frames are written one by one", _WRITER_ATTR)
        return False
    if getattr(original, "coalescing", False):
        return True

    async def writer(self: Any, stream: asyncio.StreamWriter) -> None:
        await original(self, CoalescingWriter(stream))

    writer.coalescing = True  # type: ignore[attr-defined]
    setattr(connection_class, _WRITER_ATTR, writer)
    return True
