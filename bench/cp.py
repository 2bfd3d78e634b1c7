"""A simulated charge point: one WebSocket, one CALL at a time, answers to commands."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.typing import Subprotocol

from .stats import Stats

SUBPROTOCOL = Subprotocol("ocpp1.6")
SUBPROTOCOL_201 = Subprotocol("ocpp2.0.1")
Responder = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any] | None]]

_ids = itertools.count(1)


class CallFailed(Exception):
    """A CALL got no CALLRESULT: `kind` is error, timeout or disconnected."""

    def __init__(self, kind: str, code: str = "", retry_after: float | None = None) -> None:
        super().__init__(f"{kind} {code}".strip())
        self.kind = kind
        self.code = code
        self.retry_after = retry_after  # a refused handshake's Retry-After, in seconds


async def answer_commands(action: str, payload: dict[str, Any]) -> dict[str, Any] | None:
    """What a well-behaved charge point answers to the central system's commands."""
    if action == "GetConfiguration":
        key = {"key": "HeartbeatInterval", "readonly": False, "value": "300"}
        return {"configurationKey": [key]}
    if action == "DataTransfer":
        return {"status": "Accepted"}
    if action in ("ClearCache", "Reset", "UnlockConnector"):
        return {"status": "Accepted" if action != "UnlockConnector" else "Unlocked"}
    if action == "GetLocalListVersion":
        return {"listVersion": 0}
    return {"status": "Accepted"}


class SimChargePoint:
    """One charge point's connection; `call` records its latency in the shared Stats."""

    __slots__ = (
        "_calling",
        "_pending",
        "_pending_id",
        "_reader",
        "close_code",
        "closed",
        "cp_id",
        "on_close",
        "responder",
        "source",
        "state",
        "stats",
        "subprotocol",
        "url",
        "ws",
    )

    def __init__(
        self,
        cp_id: str,
        stats: Stats,
        *,
        source: str | None = None,
        responder: Responder | None = answer_commands,
    ) -> None:
        self.cp_id = cp_id
        self.stats = stats
        self.source = source
        self.responder = responder
        self.subprotocol = SUBPROTOCOL  # what it offers (bench/fleet201.py: 2.0.1)
        self.ws: ClientConnection | None = None
        self.url = ""
        self.closed = asyncio.Event()
        self.close_code: int | None = None
        self.state: dict[str, Any] = {}
        self.on_close: Callable[[SimChargePoint], None] | None = None
        self._pending: asyncio.Future[tuple[float, list[Any]]] | None = None
        # One CALL out at a time, as a CP does (OCPP-J 4.1.1): a second one waits here. Two at
        # once would share `_pending`, and the first one's answer would be dropped unseen.
        self._calling = asyncio.Lock()
        self._pending_id = ""
        self._reader: asyncio.Task[None] | None = None

    @property
    def connected(self) -> bool:
        """True while the WebSocket is open."""
        return self.ws is not None and not self.closed.is_set()

    async def connect(self, base_url: str, timeout: float = 15.0) -> None:
        """Open `base_url/ocpp/<id>` from this CP's source address (raises CallFailed)."""
        self.url = base_url
        local = (self.source, 0) if self.source else None
        try:
            self.ws = await connect(
                f"{base_url}/ocpp/{self.cp_id}",
                subprotocols=[self.subprotocol],
                compression=None,
                ping_interval=None,
                open_timeout=timeout,
                close_timeout=2,
                max_queue=4,
                local_addr=local,
            )
        except InvalidStatus as exc:
            status = str(exc.response.status_code)
            self.stats.error("connect", status)
            retry_after = exc.response.headers.get("Retry-After")
            after = float(retry_after) if retry_after and retry_after.isdigit() else None
            raise CallFailed("error", status, after) from None
        except TimeoutError:
            self.stats.timeout("connect")
            raise CallFailed("timeout") from None
        except (OSError, EOFError, InvalidHandshake, ConnectionClosed) as exc:
            # InvalidMessage: the server closed the socket without an HTTP answer (its handshake
            # timeout under overload); refused or reset sockets are OSErrors.
            self.stats.error("connect", type(exc).__name__)
            raise CallFailed("error", type(exc).__name__) from None
        self.closed = asyncio.Event()
        self.close_code = None
        self._reader = asyncio.create_task(self._read(self.ws), name=f"read-{self.cp_id}")

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for data in ws:
                now = time.perf_counter()
                frame = orjson.loads(data)
                if frame[1] == self._pending_id and self._pending is not None:
                    # The answer to our CALL (the echo baseline sends the CALL itself back).
                    pending, self._pending = self._pending, None
                    if not pending.done():
                        pending.set_result((now, frame))
                elif frame[0] == 2:
                    await self._answer(ws, frame)
        except ConnectionClosed:
            pass
        finally:
            if ws is self.ws:  # not a reader of an older connection finishing late
                self.close_code = ws.close_code
                self.closed.set()
                waiting, self._pending = self._pending, None
                if waiting is not None and not waiting.done():
                    waiting.set_exception(CallFailed("disconnected", str(ws.close_code)))
                if self.on_close is not None:
                    self.on_close(self)

    async def _answer(self, ws: ClientConnection, frame: list[Any]) -> None:
        if self.responder is None:
            return
        payload = await self.responder(frame[2], frame[3])
        if payload is not None:
            self.stats.commands_answered += 1
            await ws.send(orjson.dumps([3, frame[1], payload]), text=True)

    async def call(self, action: str, payload: dict[str, Any], timeout: float = 30.0) -> Any:
        """Send a CALL and return the CALLRESULT payload; raise CallFailed otherwise. A CALL
        made while another is out waits for its answer first; `timeout` runs from the send."""
        async with self._calling:
            return await self._call(action, payload, timeout)

    async def _call(self, action: str, payload: dict[str, Any], timeout: float) -> Any:
        ws = self.ws
        if ws is None or self.closed.is_set():
            self.stats.error(action, "NotConnected")
            raise CallFailed("disconnected", "not connected")
        loop = asyncio.get_running_loop()
        message_id = str(next(_ids))
        future: asyncio.Future[tuple[float, list[Any]]] = loop.create_future()
        self._pending, self._pending_id = future, message_id
        expiry = loop.call_later(timeout, _expire, future)
        started = time.perf_counter()
        try:
            await ws.send(orjson.dumps([2, message_id, action, payload]), text=True)
            done_at, frame = await future
        except ConnectionClosed:
            self.stats.error(action, "Disconnected")
            raise CallFailed("disconnected") from None
        except CallFailed as exc:
            if exc.kind == "timeout":
                self.stats.timeout(action)
            else:
                self.stats.error(action, "Disconnected")
            raise
        finally:
            expiry.cancel()
            if self._pending is future:
                self._pending = None
            if future.done() and not future.cancelled():
                future.exception()  # retrieved: the reader may have failed it meanwhile
        if frame[0] == 4:
            self.stats.error(action, str(frame[2]), done_at - started)
            details = frame[4] if len(frame) > 4 and isinstance(frame[4], dict) else {}
            after = details.get("retryAfterSeconds")
            retry_after = float(after) if isinstance(after, int | float) else None
            raise CallFailed("error", str(frame[2]), retry_after)
        self.stats.ok(action, done_at - started)
        return frame[2] if frame[0] == 3 else frame[3]

    async def close(self, code: int = 1000) -> None:
        """Close the connection and wait for the reader to finish."""
        if self.ws is not None:
            try:
                await self.ws.close(code)
            except Exception:
                pass
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)

    def abort(self) -> None:
        """Drop the TCP connection without a closing handshake (cheap, for mass teardown)."""
        if self.ws is not None:
            self.ws.transport.abort()


def _expire(future: asyncio.Future[Any]) -> None:
    if not future.done():
        future.set_exception(CallFailed("timeout"))


def source_address(index: int, per_address: int = 64) -> str:
    """127.0.x.y for the index-th CP: at most `per_address` CPs per loopback source address."""
    n = index // per_address
    return f"127.0.{1 + n // 250}.{1 + n % 250}"
