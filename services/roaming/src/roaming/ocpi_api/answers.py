"""OCPI answers: every body in the response envelope, every error with its OCPI status code,
and X-Request-ID / X-Correlation-ID echoed on every response."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..ocpi.types import Response, Status
from ..platforms import now


def envelope(
    data: Any = None, status: Status = Status.SUCCESS, message: str | None = None, http: int = 200
) -> JSONResponse:
    body = Response[Any](data=data, status_code=status, status_message=message, timestamp=now())
    return JSONResponse(body.wire(), status_code=http)


class OcpiError(Exception):
    """Answer with `status` (and `http`): raised by the routes."""

    def __init__(self, message: str, status: Status, http: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.http = http


async def ocpi_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, OcpiError)
    response = envelope(status=exc.status, message=exc.message[:255], http=exc.http)
    route = getattr(request.state, "ocpi_route", None)
    if route is not None:  # a functional module's request: answered from us, to its sender
        route.stamp(response)
    if exc.http == 401:
        response.headers["WWW-Authenticate"] = "Token"
    return response


async def invalid_body(request: Request, exc: Exception) -> JSONResponse:
    """A body or parameter that is not OCPI's: 2001, naming the first fields at fault."""
    assert isinstance(exc, RequestValidationError)
    problems = "; ".join(
        f"{'.'.join(str(p) for p in e['loc'] if p != 'body') or 'body'}: {e['msg']}"
        for e in exc.errors()[:5]
    )
    return envelope(status=Status.INVALID_PARAMETERS, message=problems[:255], http=400)


async def http_error(request: Request, exc: Exception) -> JSONResponse:
    """404 for an unknown path, 405 for a method a module does not have: in the envelope."""
    assert isinstance(exc, HTTPException)
    return envelope(status=Status.CLIENT_ERROR, message=str(exc.detail)[:255], http=exc.status_code)


class MessageIds:
    """Every response carries the request's X-Request-ID and X-Correlation-ID (new ones when
    the request had none), as 2.2.1 requires."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        request_id = headers.get(b"x-request-id") or str(uuid.uuid4()).encode()
        correlation_id = headers.get(b"x-correlation-id") or str(uuid.uuid4()).encode()

        async def send_with_ids(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id[:100]),
                    (b"x-correlation-id", correlation_id[:100]),
                ]
            await send(message)

        await self.app(scope, receive, send_with_ids)
