"""A charge point console: type OCPP-J frames, see the central system's answers and calls.

.venv/bin/python scripts/cp_console.py ws://127.0.0.1:9000 CP-1              # OCPP 1.6
.venv/bin/python scripts/cp_console.py --ocpp 2.0.1 ws://127.0.0.1:9000 CS-1 # OCPP 2.0.1
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="gateway base URL, e.g. ws://127.0.0.1:9000")
    parser.add_argument("charge_point_id")
    parser.add_argument(
        "--ocpp", choices=["1.6", "2.0.1"], default="1.6", help="the version to offer"
    )
    args = parser.parse_args()
    url = f"{args.url.rstrip('/')}/ocpp/{args.charge_point_id}"
    async with connect(url, subprotocols=[Subprotocol(f"ocpp{args.ocpp}")]) as ws:
        print(f"connected to {url} ({ws.subprotocol}); one frame per line, Ctrl-D quits")

        async def show() -> None:
            try:
                async for message in ws:
                    print(f"< {message}", flush=True)
            except ConnectionClosed:
                pass
            print(f"closed: {ws.close_code} {ws.close_reason}")

        reader = asyncio.create_task(show())
        loop = asyncio.get_running_loop()
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            if line.strip():
                await ws.send(line.strip())
        await ws.close()
        await reader
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
