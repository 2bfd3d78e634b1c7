"""The REST API's access log and HTTP metrics: one line and one observation per request."""

from __future__ import annotations

import logging
import secrets
import time
from contextvars import ContextVar

from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from csms_shared.log_context import bound

log = logging.getLogger("command_api.access")

REQUESTS = Counter(
    "csms_http_requests_total",
    "REST API requests answered, by method, route template and status code",
    ["method", "route", "status"],
)
SECONDS = Histogram(
    "csms_http_request_seconds",
    "Time to answer a REST API request, by method and route template",
    ["method", "route"],
)

# Who called: the auth dependency fills in the key's name (a mutable box, since the route runs
# in a context copied from the middleware's).
CALLER: ContextVar[dict[str, str] | None] = ContextVar("csms_api_caller", default=None)


def note_caller(name: str) -> None:
    """Record the authenticated key's name for this request's access log line."""
    box = CALLER.get()
    if box is not None:
        box["key"] = name


def _trace_id(scope: Scope) -> str:
    """The trace id of a W3C `traceparent` header, else a new one."""
    for name, value in scope.get("headers") or []:
        if name == b"traceparent":
            parts: list[str] = value.decode("latin-1").split("-")
            if len(parts) == 4 and len(parts[1]) == 32:
                return parts[1]
    return secrets.token_hex(16)


class AccessLog:
    """Plain ASGI middleware: logs method, path, status, time and key; counts and times."""

    def __init__(self, app: ASGIApp, prefix: str = "") -> None:
        self.app = app
        # The prefix the routers are included under: the matched route's path leaves it out.
        self.prefix = prefix

    def _route(self, scope: Scope) -> str:
        path: str | None = getattr(scope.get("route"), "path", None)
        if path is None:
            return "unmatched"
        inside = self.prefix and str(scope.get("path", "")).startswith(self.prefix)
        return self.prefix + path if inside else path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        box: dict[str, str] = {}
        token = CALLER.set(box)

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            with bound(trace_id=_trace_id(scope)):
                try:
                    await self.app(scope, receive, sending)
                finally:
                    elapsed = time.perf_counter() - started
                    route = self._route(scope)
                    method = scope["method"]
                    REQUESTS.labels(method, route, str(status)).inc()
                    SECONDS.labels(method, route).observe(elapsed)
                    log.info(
                        "%s %s %d %.1f ms",
                        method,
                        scope["path"],
                        status,
                        elapsed * 1000,
                        extra={"key": box.get("key", "-")},
                    )
        finally:
            CALLER.reset(token)
