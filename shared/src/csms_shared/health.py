"""A tiny HTTP server for /healthz, /readyz and /metrics on each process's internal port."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

log = logging.getLogger(__name__)

ReadinessCheck = Callable[[], Awaitable[None]]


def _response(status: str, body: bytes, content_type: str = "text/plain") -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


async def probe_response(path: str, ready: ReadinessCheck) -> tuple[str, bytes, str]:
    """Status line, body and content type for a probe path."""
    if path == "/healthz":
        return "200 OK", b"ok\n", "text/plain"
    if path == "/readyz":
        try:
            await asyncio.wait_for(ready(), 3.0)
        except Exception as exc:
            # The reason goes to the log only: exception text can name hosts, users and URLs.
            log.warning("not ready: %r", exc)
            return "503 Service Unavailable", b"not ready\n", "text/plain"
        return "200 OK", b"ready\n", "text/plain"
    if path == "/metrics":
        return "200 OK", generate_latest(), CONTENT_TYPE_LATEST
    return "404 Not Found", b"not found\n", "text/plain"


async def serve_probes(host: str, port: int, ready: ReadinessCheck) -> asyncio.Server:
    """Start serving the probes on the internal port; the caller closes the returned server."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = await asyncio.wait_for(reader.readline(), 5.0)
            parts = request_line.decode("latin-1").split()
            path = parts[1].split("?")[0] if len(parts) >= 2 else "/"
            status, body, ctype = await probe_response(path, ready)
            writer.write(_response(status, body, ctype))
            await writer.drain()
        except (TimeoutError, ConnectionError, UnicodeDecodeError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(handle, host, port)
