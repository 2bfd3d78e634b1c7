"""The OCPI request log: every request a platform makes is written after its answer was sent
(who, method and path, HTTP and OCPI status, time taken, X-Request-ID / X-Correlation-ID, the
OCPI-from party, and the body with any credentials token replaced by "***"). A log that cannot
be written costs the log line, never the answer."""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import Any

import orjson
from sqlalchemy import delete, insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..db import requests
from ..platforms import now

log = logging.getLogger(__name__)

# The most of a body kept (bytes); a longer one is noted, not kept.
BODY_LIMIT = 65_536
# Fields that carry a secret, anywhere in a body: credentials tokens.
SECRET_FIELDS = frozenset({"token"})


def redacted(value: Any) -> Any:
    """`value` with every credentials token replaced (a Token object, which drivers carry, is
    kept: its `uid` is not a secret, and it is not a string under `token`)."""
    if isinstance(value, dict):
        return {
            k: "***" if k in SECRET_FIELDS and isinstance(v, str) else redacted(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redacted(v) for v in value]
    return value


def _body(raw: bytes) -> Any:
    if not raw:
        return None
    if len(raw) > BODY_LIMIT:
        return {"omitted": f"{len(raw)} bytes"}
    try:
        return redacted(orjson.loads(raw))
    except orjson.JSONDecodeError:
        return {"omitted": "not JSON"}


class RequestLog:
    """ASGI middleware writing one `roaming.requests` row per OCPI request."""

    def __init__(self, app: ASGIApp, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.app = app
        self.sessions = sessions

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        received = bytearray()
        answer: dict[str, Any] = {"status": 500, "body": bytearray(), "headers": {}}

        async def receive_kept() -> Message:
            message = await receive()
            if message["type"] == "http.request" and len(received) <= BODY_LIMIT:
                received.extend(message.get("body", b""))
            return message

        async def send_kept(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
                answer["headers"] = {
                    k.decode("latin-1").lower(): v.decode("latin-1")
                    for k, v in message.get("headers", [])
                }
            elif message["type"] == "http.response.body" and len(answer["body"]) <= BODY_LIMIT:
                answer["body"].extend(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive_kept, send_kept)
        finally:
            await self._write(scope, bytes(received), answer, started)

    async def _write(
        self, scope: Scope, received: bytes, answer: dict[str, Any], started: float
    ) -> None:
        # The ids as answered (MessageIds makes new ones for a request that had none).
        headers = answer["headers"]
        state = scope.get("state") or {}
        route = state.get("ocpi_route")
        caller = state.get("ocpi_caller")
        ocpi_status = None
        try:
            ocpi_status = int(orjson.loads(bytes(answer["body"]))["status_code"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            pass
        query = scope.get("query_string", b"").decode("latin-1")
        path = scope["path"] + (f"?{query}" if query else "")
        sender = route.sender if route is not None else None
        try:
            async with self.sessions.begin() as session:
                await session.execute(
                    insert(requests).values(
                        at=now(),
                        platform_id=caller,
                        method=scope["method"][:8],
                        path=path[:500],
                        http_status=answer["status"],
                        ocpi_status=ocpi_status,
                        duration_ms=int((time.perf_counter() - started) * 1000),
                        request_id=headers.get("x-request-id", "")[:100] or None,
                        correlation_id=headers.get("x-correlation-id", "")[:100] or None,
                        from_party=f"{sender[0]}-{sender[1]}" if sender else None,
                        body=_body(received),
                    )
                )
        except Exception:
            log.exception("could not log OCPI request %s %s", scope["method"], path)


async def prune(sessions: async_sessionmaker[AsyncSession], days: int) -> int:
    """Delete the requests logged more than `days` ago."""
    cutoff = now() - timedelta(days=days)
    async with sessions.begin() as session:
        result = await session.execute(delete(requests).where(requests.c.at < cutoff))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
