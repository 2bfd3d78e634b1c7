"""The peer a user might pick instead: a central system on the `ocpp` library, on uvloop.

One process, no broker, no database: it answers BootNotification and Heartbeat itself, with
the library's defaults (schema validation on). `.venv/bin/python -m bench.baselines.peer PORT`
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Any

import uvloop
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call_result
from ocpp.v16.enums import Action, RegistrationStatus
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from ..procs import raise_file_limit


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class PeerChargePoint(ChargePoint):
    """The central system's side of one charge point, as the library's README writes it."""

    @on(Action.boot_notification)
    async def on_boot_notification(
        self, charge_point_vendor: str, charge_point_model: str, **kwargs: Any
    ) -> call_result.BootNotification:
        """Accept every charge point."""
        return call_result.BootNotification(
            current_time=_now(), interval=300, status=RegistrationStatus.accepted
        )

    @on(Action.heartbeat)
    async def on_heartbeat(self) -> call_result.Heartbeat:
        """Answer with the central system's clock."""
        return call_result.Heartbeat(current_time=_now())


async def _on_connect(ws: ServerConnection) -> None:
    cp_id = (ws.request.path if ws.request else "/unknown").rstrip("/").rsplit("/", 1)[-1]
    try:
        await PeerChargePoint(cp_id, ws).start()
    except ConnectionClosed:
        pass


async def main(port: int) -> None:
    """Serve on 127.0.0.1:`port` until killed."""
    async with serve(
        _on_connect,
        "127.0.0.1",
        port,
        subprotocols=["ocpp1.6"],  # type: ignore[list-item]
        compression=None,
        backlog=4096,
    ) as server:
        await server.serve_forever()


if __name__ == "__main__":
    raise_file_limit()
    uvloop.run(main(int(sys.argv[1])))
