"""One task pings every connection: a live one is pinged again and again and stays, one that
never answers is closed with 1011 after the timeout (and counted)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import struct
from collections.abc import AsyncIterator, Callable

import pytest
from prometheus_client import REGISTRY
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve

from ws_gateway.keepalive import CLOSE_PING_TIMEOUT, Keepalive


class Served:
    """A bare server whose connections the keepalive pings (websockets' own pings off)."""

    def __init__(self, keepalive: Keepalive) -> None:
        self.keepalive = keepalive
        self.connections: asyncio.Queue[ServerConnection] = asyncio.Queue()
        self.port = 0

    async def handler(self, ws: ServerConnection) -> None:
        self.keepalive.add(ws)
        await self.connections.put(ws)
        try:
            await ws.wait_closed()
        finally:
            self.keepalive.discard(ws)


@contextlib.asynccontextmanager
async def served(interval: float, timeout: float) -> AsyncIterator[Served]:
    keepalive = Keepalive(interval, timeout, tick=interval / 2)
    it = Served(keepalive)
    async with serve(it.handler, "127.0.0.1", 0, ping_interval=None) as server:
        it.port = server.sockets[0].getsockname()[1]
        task = asyncio.create_task(keepalive.run())
        try:
            yield it
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def until(condition: Callable[[], bool]) -> None:
    """Poll `condition` (what it reads changes as frames come) for at most 5 s."""
    async with asyncio.timeout(5):
        for delay in itertools.repeat(0.01):
            if condition():
                return
            await asyncio.sleep(delay)


def timeouts() -> float:
    return REGISTRY.get_sample_value("csms_gateway_keepalive_timeouts_total") or 0.0


async def test_a_live_connection_is_pinged_every_interval_and_stays() -> None:
    async with (
        served(interval=0.2, timeout=0.5) as it,
        connect(f"ws://127.0.0.1:{it.port}", ping_interval=None) as client,
    ):
        ws = await asyncio.wait_for(it.connections.get(), 5)
        assert len(it.keepalive) == 1
        for _ in range(3):  # a pong each time: the latency is measured again
            ws.latency = 0.0
            await until(lambda: ws.latency > 0.0)  # the client answers pings on its own
        assert client.close_code is None and ws.close_code is None
    await until(lambda: len(it.keepalive) == 0)


async def test_a_connection_that_never_answers_a_ping_is_closed_with_1011() -> None:
    before = timeouts()
    async with served(interval=0.2, timeout=0.3) as it:
        reader, writer = await asyncio.open_connection("127.0.0.1", it.port)
        writer.write(
            b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            b"Sec-WebSocket-Version: 13\r\n\r\n"
        )
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 101")
        # Read the server's frames, answering none: pings (0x89), then its close (0x88).
        opcodes = []
        async with asyncio.timeout(10):
            while True:
                first, length = await reader.readexactly(2)
                body = await reader.readexactly(length & 0x7F)
                opcodes.append(first & 0x0F)
                if first & 0x0F == 0x8:
                    break
        assert opcodes[0] == 0x9 and opcodes.count(0x9) == 1  # never two pings out at once
        assert struct.unpack("!H", body[:2])[0] == CLOSE_PING_TIMEOUT
        assert body[2:] == b"keepalive ping timeout"
        writer.close()
    assert timeouts() == before + 1


@pytest.mark.parametrize("interval", [0.5, 30.0])
def test_connections_are_spread_over_the_interval(interval: float) -> None:
    keepalive = Keepalive(interval, 10.0)
    # Objects of one size, as connections are: their addresses lie at fixed strides.
    fakes = [object() for _ in range(1_000)]
    for fake in fakes:
        keepalive.add(fake)  # type: ignore[arg-type]
    assert len(keepalive) == 1_000
    sizes = keepalive.sizes()
    assert len(sizes) == max(1, int(interval))
    mean = 1_000 / len(sizes)
    assert min(sizes) > 0 and max(sizes) < 2 * mean, sizes  # no slot empty, none a crowd
    for fake in fakes:
        keepalive.discard(fake)  # type: ignore[arg-type]
    assert len(keepalive) == 0


async def test_a_dead_peer_whose_buffer_is_full_is_cut_off_all_the_same() -> None:
    """Its ping and its close frame cannot leave (the peer reads nothing): the transport is
    aborted once the close timeout is over, instead of waiting for TCP to give up."""
    before = timeouts()
    async with asyncio.timeout(20), served(interval=0.2, timeout=0.3) as it:
        reader, writer = await asyncio.open_connection("127.0.0.1", it.port, limit=1024)
        writer.write(
            b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            b"Sec-WebSocket-Version: 13\r\n\r\n"
        )
        await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        ws = await asyncio.wait_for(it.connections.get(), 5)
        ws.close_timeout = 0.3
        # The peer reads no more (its reader stops at 2 KiB); fill every buffer between them,
        # so the server's writes stall in drain().
        filling = asyncio.create_task(ws.send(b"x" * 32_000_000))
        await asyncio.wait_for(ws.wait_closed(), 10)
        filling.cancel()
        with contextlib.suppress(BaseException):
            await filling
        writer.close()
    assert timeouts() == before + 1
