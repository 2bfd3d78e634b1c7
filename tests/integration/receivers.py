"""A back office's webhook endpoint on loopback, for the tests that follow deliveries."""

from __future__ import annotations

import asyncio

import orjson


class Receiver:
    """A back office's HTTP endpoint on loopback: records each POST, answers scripted codes."""

    def __init__(self, answers: list[int], failing_cp: str = "", scripted_cp: str = "") -> None:
        self.answers = answers  # one per request, then 200s
        self.failing_cp = failing_cp  # this charge point's events are answered 500
        # Set: `answers` are for this charge point's events only (another test's events that
        # match the webhook too are answered 200 and do not use them up).
        self.scripted_cp = scripted_cp
        self.requests: list[tuple[dict[str, str], bytes]] = []

    def of(self, cp_id: str) -> list[tuple[dict[str, str], bytes]]:
        """The requests that carried an event of `cp_id`."""
        return [(h, b) for h, b in self.requests if orjson.loads(b).get("chargePointId") == cp_id]

    async def __aenter__(self) -> Receiver:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/hooks/csms"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readline()
            headers: dict[str, str] = {}
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode().partition(":")
                headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            self.requests.append((headers, body))
            cp_id = orjson.loads(body).get("chargePointId") if body else None
            if self.failing_cp and cp_id == self.failing_cp:
                code = 500
            elif self.scripted_cp and cp_id != self.scripted_cp:
                code = 200
            else:
                code = self.answers.pop(0) if self.answers else 200
            writer.write(
                f"HTTP/1.1 {code} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode()
            )
            await writer.drain()
        finally:
            writer.close()
