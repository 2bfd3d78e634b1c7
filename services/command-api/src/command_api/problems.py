"""Every error as RFC 9457 problem details (`application/problem+json`), in one shape.

`type` is `about:blank` for plain HTTP errors (404, 401, 403, ...) and a URI under
`https://csms.example/problems/` for errors with a meaning of their own; these URIs name the
problem and are not meant to be fetched. Members beyond `type`, `title`, `status` and `detail`
(`commandId`, `outcome`, `errorCode`, `errors`, ...) are RFC 9457 extension members.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from aio_pika.exceptions import AMQPError, ChannelInvalidStateError
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError, ResponseValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from .accounts.passwords import Busy

log = logging.getLogger(__name__)

MEDIA_TYPE = "application/problem+json"
TYPES = "https://csms.example/problems/"
INVALID_REQUEST = TYPES + "invalid-request"
UNAVAILABLE = TYPES + "dependency-unavailable"
# What the API depends on, down for a moment (a broker or database restart): 503, try again.
BROKER_DOWN: tuple[type[Exception], ...] = (AMQPError, ChannelInvalidStateError, ConnectionError)
DATABASE_DOWN: tuple[type[Exception], ...] = (OperationalError, InterfaceError)
# SQLSTATEs of a database going away: connection exceptions (08...) and operator intervention
# (57P01 admin shutdown, 57P02 crash shutdown, 57P03 cannot connect now).
_DATABASE_DOWN_STATES = ("08", "57P01", "57P02", "57P03")


def database_down(exc: DBAPIError) -> bool:
    """Whether a driver error means the database is (for a moment) not there."""
    state = str(getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None) or "")
    return (
        exc.connection_invalidated
        or isinstance(exc, DATABASE_DOWN)
        or state.startswith(_DATABASE_DOWN_STATES)
    )


class Problem(BaseModel):
    """An error (RFC 9457); extension members may follow the standard ones."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(default="about:blank", description="A URI naming the kind of problem")
    title: str = Field(description="The kind of problem, in short; the same for every occurrence")
    status: int = Field(description="The HTTP status code")
    detail: str = Field(description="What went wrong this time")


class FieldError(BaseModel):
    """Where a request breaks its schema, and why (an entry of a 422's `errors`); never the
    rejected input, which may be a secret (an authorizationKey of the wrong length)."""

    model_config = ConfigDict(extra="ignore")

    type: str
    loc: tuple[str | int, ...]
    msg: str


def wire_loc(loc: Sequence[int | str]) -> tuple[int | str, ...]:
    """Where a model built in Python refuses its input, spelt as on the wire: pydantic names
    the Python fields it was given, which the models here alias with `to_camel` (an index or a
    union member's tag stays as it is)."""
    return tuple(to_camel(p) if isinstance(p, str) and p.isidentifier() else p for p in loc)


class ProblemError(Exception):
    """Raised by a route: answered as a problem, `extensions` as extra members."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        type: str | None = None,
        title: str | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.type = type or "about:blank"
        self.title = title or HTTPStatus(status).phrase
        self.extensions = extensions


def problem_response(
    status: int,
    detail: str,
    *,
    type: str = "about:blank",
    title: str | None = None,
    headers: Mapping[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    """A problem details response."""
    body = {
        "type": type,
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        **jsonable_encoder(extensions),
    }
    return JSONResponse(body, status_code=status, headers=headers, media_type=MEDIA_TYPE)


async def _problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ProblemError)
    return problem_response(
        exc.status, exc.detail, type=exc.type, title=exc.title, **exc.extensions
    )


async def _http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    return problem_response(exc.status_code, detail, headers=exc.headers)


def validation_problem(errors: list[FieldError]) -> JSONResponse:
    """422 for a request that breaks the route's schema; `errors` says where and why."""
    where = "; ".join(f"{'.'.join(str(part) for part in err.loc)}: {err.msg}" for err in errors)
    return problem_response(
        422,
        where or "The request breaks the route's schema",
        type=INVALID_REQUEST,
        title="The request breaks the route's schema",
        errors=[err.model_dump() for err in errors],
    )


async def _validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return validation_problem([FieldError.model_validate(e) for e in exc.errors()])


async def _contract(request: Request, exc: Exception) -> JSONResponse:
    # A request's input that an owning service's params model refuses (built from the body and
    # path before the call, so the service never sees it): the caller's error, as its reply
    # `invalid` would have been.
    assert isinstance(exc, ValidationError)
    errors = [
        FieldError(type=e["type"], loc=("body", *e["loc"]), msg=e["msg"]) for e in exc.errors()
    ]
    # Logged without the input: it may be a secret.
    where = ", ".join(".".join(str(p) for p in e["loc"]) for e in exc.errors())
    log.info("%s %s refused by a contract model at %s", request.method, request.url.path, where)
    return validation_problem(errors)


async def _internal(request: Request, exc: Exception) -> JSONResponse:
    # A response that breaks its own model is this service's fault: logged, answered 500.
    log.error("%s %s failed: %r", request.method, request.url.path, exc, exc_info=exc)
    return problem_response(500, "The central system failed to answer; see its log")


async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    # A broker or database restart is not this request's fault nor a bug: 503 and a hint when
    # to try again, logged without a traceback.
    what = "message broker" if isinstance(exc, BROKER_DOWN) else "database"
    log.warning("%s %s: the %s is unavailable: %r", request.method, request.url.path, what, exc)
    return problem_response(
        503,
        f"The central system's {what} is unavailable for a moment; try again",
        type=UNAVAILABLE,
        title="A dependency of the central system is unavailable",
        headers={"Retry-After": "5"},
    )


async def _busy(request: Request, exc: Exception) -> JSONResponse:
    # Too many password checks at once (accounts.passwords.PasswordWork): a burst of logins is
    # refused rather than queued without bound.
    return problem_response(
        503,
        str(exc),
        type=TYPES + "busy",
        title="Too many sign-ins at once",
        headers={"Retry-After": "1"},
    )


async def _database(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DBAPIError)
    if database_down(exc):
        return await _unavailable(request, exc)
    return await _internal(request, exc)


def install(app: FastAPI) -> None:
    """Answer every error the app raises as a problem, and document it so."""
    app.add_exception_handler(ProblemError, _problem)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(ValidationError, _contract)
    app.add_exception_handler(ResponseValidationError, _internal)
    for kind in BROKER_DOWN:
        app.add_exception_handler(kind, _unavailable)
    app.add_exception_handler(DBAPIError, _database)
    app.add_exception_handler(Busy, _busy)
    app.add_exception_handler(Exception, _internal)
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            # FastAPI puts a response's `model` under application/json, the route's media type;
            # problems are served as application/problem+json only.
            for path in generate()["paths"].values():
                for operation in path.values():
                    for response in operation.get("responses", {}).values():
                        content = response.get("content", {})
                        if MEDIA_TYPE in content:
                            content.pop("application/json", None)
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]


_PROBLEM_REF = {"schema": {"$ref": "#/components/schemas/Problem"}}


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the problems a route may answer."""
    return {
        code: {
            "description": HTTPStatus(code).phrase,
            "model": Problem,
            "content": {MEDIA_TYPE: _PROBLEM_REF},
        }
        for code in codes
    }
