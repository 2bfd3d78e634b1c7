"""The network between a Postgres primary and its standby, as a process the run can break.

`python -m chaos.pg_link LISTEN_PORT TARGET_PORT` forwards every TCP connection made to
127.0.0.1:LISTEN_PORT to 127.0.0.1:TARGET_PORT, both ways. The standby streams WAL through it.
SIGSTOP of this process is a stalled link: nothing passes, the primary's WAL piles up in its
socket buffer. SIGKILL is a cut link: the bytes this process had not passed on are gone with
it, as bytes in flight are gone when a machine or its network dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys

CHUNK = 64 * 1024


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await writer.wait_closed()


async def _serve(listen_port: int, target_port: int) -> None:
    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(
                "127.0.0.1", target_port
            )
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))

    server = await asyncio.start_server(accept, "127.0.0.1", listen_port)
    async with server:
        await server.serve_forever()


def main(argv: list[str]) -> int:
    """Forward LISTEN_PORT to TARGET_PORT until killed."""
    if len(argv) != 2 or not all(a.isdigit() for a in argv):
        print("usage: python -m chaos.pg_link LISTEN_PORT TARGET_PORT", file=sys.stderr)
        return 2
    asyncio.run(_serve(int(argv[0]), int(argv[1])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
