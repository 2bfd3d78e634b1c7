"""A bare WebSocket echo server on the gateway's stack (websockets, uvloop): the wire's limit.

.venv/bin/python -m bench.baselines.echo PORT
"""

from __future__ import annotations

import sys

import uvloop
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from ..procs import raise_file_limit


async def _echo(ws: ServerConnection) -> None:
    try:
        async for message in ws:
            await ws.send(message)
    except ConnectionClosed:
        pass


async def main(port: int) -> None:
    """Serve the echo on 127.0.0.1:`port` until killed; the gateway's frame settings."""
    async with serve(
        _echo,
        "127.0.0.1",
        port,
        subprotocols=["ocpp1.6"],  # type: ignore[list-item]
        compression=None,
        max_size=65_536,
        max_queue=16,
        ping_interval=30,
        ping_timeout=30,
        backlog=4096,
    ) as server:
        await server.serve_forever()


if __name__ == "__main__":
    raise_file_limit()
    uvloop.run(main(int(sys.argv[1])))
