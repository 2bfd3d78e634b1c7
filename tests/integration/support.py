"""What integration tests drive the suite with: real processes, a charge point client."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aio_pika
import httpx
import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


# Ports this process handed out: the kernel may offer a port again as soon as its probe socket
# closes, before the service it was meant for binds it (CI once gave a gateway's public and
# internal port the same number).
_HANDED_OUT: set[int] = set()


def free_port(preferred: int | None = None) -> int:
    """`preferred` when nobody listens on it, else any free port not handed out before."""
    candidates = ([preferred] if preferred else []) + [0] * 100
    for port in candidates:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            found = int(s.getsockname()[1])
        if found not in _HANDED_OUT:
            _HANDED_OUT.add(found)
            return found
    raise RuntimeError("no free port")


class ServiceProcess:
    """One suite process started from its console script, its output kept in a log file."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.log_path = log_dir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the process (again)."""
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            self.argv, env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT
        )
        log.close()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int | None:
        """Signal the process and wait for it to exit (SIGKILL if it will not)."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(5)

    def kill(self) -> None:
        """Crash the process: no drain, no goodbye."""
        self.stop(signal.SIGKILL)

    def pause(self) -> None:
        """Stop the process in its tracks (SIGSTOP), as a stalled event loop stops: its sockets
        stay open, nothing it should send leaves."""
        assert self.proc is not None and self.proc.poll() is None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Let a paused process run on (SIGCONT)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def tail(self, lines: int = 40) -> str:
        """The end of the process's log."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    def wait_ready(self, url: str, timeout: float = 30) -> None:
        """Wait until `url` answers 200, or fail with the log's tail."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited {self.proc.returncode}:\n{self.tail()}")
            try:
                with urllib.request.urlopen(url, timeout=2, context=_unverified(url)) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready at {url}:\n{self.tail()}")


def _unverified(url: str) -> ssl.SSLContext | None:
    """For https: a context that skips the check (the test gateways' certificates are self-made)."""
    if not url.startswith("https"):
        return None
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def run_migrations(env: dict[str, str]) -> None:
    """Migrate every service schema, as `make migrate` does."""
    for service in (
        "station-registry",
        "session-service",
        "command-api",
        "message-log",
        "load-manager",
        "roaming",
    ):
        subprocess.run([str(BIN / service), "migrate"], env=env, check=True, cwd=ROOT)


_ids = itertools.count(1)


class CallErrorReply(Exception):
    """The central system answered CALLERROR."""

    def __init__(self, code: str, description: str, details: dict[str, Any]) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description
        self.details = details


Responder = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any] | None]]


class ChargePointClient:
    """A scripted charge point speaking OCPP-J 1.6 to one gateway."""

    def __init__(self, ws: ClientConnection, cp_id: str) -> None:
        self.ws = ws
        self.cp_id = cp_id
        self.received_calls: list[tuple[str, dict[str, Any]]] = []
        # Every frame the central system sent, in the order it arrived.
        self.frames: list[list[Any]] = []
        self.responder: Responder | None = None
        self._answers: asyncio.Queue[list[Any]] = asyncio.Queue()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def connect(
        cls,
        url: str,
        cp_id: str,
        subprotocols: list[str] | None = None,
        password: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        local_address: str | None = None,
    ) -> ChargePointClient:
        """Open a connection to `url` + `/ocpp/<cp_id>` (HTTP Basic when a password is given),
        from `local_address` if given (any 127.x.y.z: another source address on loopback)."""
        headers = {}
        if password is not None:
            token = base64.b64encode(f"{cp_id}:{password}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        ws = await connect(
            f"{url}/ocpp/{cp_id}",
            subprotocols=subprotocols or ["ocpp1.6"],  # type: ignore[list-item]
            additional_headers=headers,
            ssl=ssl_context,
            open_timeout=10,
            **({"local_addr": (local_address, 0)} if local_address else {}),
        )
        return cls(ws, cp_id)

    async def _read(self) -> None:
        try:
            await self._read_frames()
        except ConnectionClosed:
            pass

    async def _read_frames(self) -> None:
        async for data in self.ws:
            frame = orjson.loads(data)
            self.frames.append(frame)
            if frame[0] == 2:
                self.received_calls.append((frame[2], frame[3]))
                if self.responder is None:
                    continue
                try:
                    payload = await self.responder(frame[2], frame[3])
                except CallErrorReply as exc:
                    answer = [4, frame[1], exc.code, exc.description, exc.details]
                else:
                    if payload is None:  # stay silent: a CP that never answers
                        continue
                    answer = [3, frame[1], payload]
                await self.ws.send(orjson.dumps(answer).decode())
            else:
                await self._answers.put(frame)

    async def next_answer(self, timeout: float = 10) -> list[Any]:
        """The next CALLRESULT or CALLERROR frame the central system sent."""
        return await asyncio.wait_for(self._answers.get(), timeout)

    async def send_raw(self, text: str | bytes, timeout: float = 10) -> list[Any]:
        """Send any frame and return the next answer frame."""
        await self.ws.send(text if isinstance(text, str) else text.decode())
        return await asyncio.wait_for(self._answers.get(), timeout)

    async def call(
        self, action: str, payload: dict[str, Any], timeout: float = 10
    ) -> dict[str, Any]:
        """A CALL; the CALLRESULT payload, or CallErrorReply."""
        message_id = f"{self.cp_id}-{next(_ids)}"
        frame = await self.send_raw(orjson.dumps([2, message_id, action, payload]), timeout)
        assert frame[1] == message_id, frame
        if frame[0] == 4:
            raise CallErrorReply(frame[2], frame[3], frame[4] if len(frame) > 4 else {})
        assert frame[0] == 3, frame
        result: dict[str, Any] = frame[2]
        return result

    async def close(self) -> None:
        """Close the connection."""
        await self.ws.close()
        self._reader.cancel()


async def eventually(
    check: Callable[[], Awaitable[Any]], timeout: float = 15, interval: float = 0.05
) -> Any:
    """Await `check()` until it returns something truthy; fail after `timeout` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    last: Any = None
    while True:
        last = await check()
        if last:
            return last
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last: {last!r})")
        await asyncio.sleep(interval)


async def metric(port: int, name: str, **labels: str) -> float:
    """The sum of a Prometheus sample over the series matching `labels`."""
    async with httpx.AsyncClient(timeout=5) as http:
        text = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        series, _, value = line.rpartition(" ")
        if all(f'{k}="{v}"' in series for k, v in labels.items()):
            total += float(value)
    return total


def base_env(**extra: str) -> dict[str, str]:
    """The environment of a suite process: this one's, plus `extra`."""
    prefixes = ("GATEWAY_", "REGISTRY_", "SESSION_", "API_", "MESSAGE_LOG_", "LOADS_", "ROAMING_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env.update(extra)
    return env


@contextlib.asynccontextmanager
async def event_queue(
    broker_url: str, routing_key: str
) -> AsyncIterator[aio_pika.abc.AbstractQueue]:
    """An exclusive queue bound to `ocpp.events` by `routing_key`, for a test to read events."""
    connection = await aio_pika.connect(broker_url)
    try:
        channel = await connection.channel()
        queue = await channel.declare_queue(exclusive=True)
        await queue.bind(await channel.get_exchange("ocpp.events"), routing_key)
        yield queue
    finally:
        await connection.close()


async def next_event(queue: aio_pika.abc.AbstractQueue, cp_id: str) -> dict[str, Any]:
    """The next event on `queue` about `cp_id` (others skipped), waited for."""

    async def found() -> dict[str, Any] | None:
        while (message := await queue.get(fail=False)) is not None:
            body = orjson.loads(message.body)
            if body.get("chargePointId") == cp_id:
                return dict(body)
        return None

    body: dict[str, Any] = await eventually(found)
    return body
