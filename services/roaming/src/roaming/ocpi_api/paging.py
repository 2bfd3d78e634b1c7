"""Pagination of a sender's GET list (transport_and_format.asciidoc): `offset`, `limit`,
`date_from` (inclusive) and `date_to` (exclusive) in; `X-Total-Count`, `X-Limit` and a `Link` to
the next page out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import TypeAdapter, ValidationError

from ..ocpi.types import DateTime, Status, format_datetime
from .answers import OcpiError, envelope
from .state import AppState

# The most objects one page holds, whatever the caller asks for (X-Limit says it).
MAX_LIMIT = 100

_TIME = TypeAdapter(DateTime)


@dataclass(frozen=True, slots=True)
class PageQuery:
    offset: int
    limit: int
    date_from: datetime | None
    date_to: datetime | None


def _time(name: str, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return _TIME.validate_python(value)
    except ValidationError:
        raise OcpiError(
            f"{name}: not an RFC 3339 date-time: {value[:40]!r}", Status.INVALID_PARAMETERS, 400
        ) from None


def page_query(
    offset: Annotated[int, Query(ge=0, le=2**31)] = 0,
    limit: Annotated[int | None, Query(ge=1)] = None,
    date_from: str | None = None,
    date_to: str | None = None,
) -> PageQuery:
    start, end = _time("date_from", date_from), _time("date_to", date_to)
    if start is not None and end is not None and end <= start:
        raise OcpiError("date_to must be after date_from", Status.INVALID_PARAMETERS, 400)
    return PageQuery(offset, min(limit or MAX_LIMIT, MAX_LIMIT), start, end)


Paging = Annotated[PageQuery, Depends(page_query)]


def paged(request: Request, items: list[Any], total: int, query: PageQuery) -> JSONResponse:
    """The page in the envelope, with its headers; the next page's URL is the public one."""
    response = envelope(items)
    response.headers["X-Total-Count"] = str(total)
    response.headers["X-Limit"] = str(query.limit)
    following = query.offset + len(items)
    if items and following < total:
        state: AppState = request.app.state.roaming
        path = request.url.path.removeprefix("/ocpi")
        params: dict[str, str | int] = {"offset": following, "limit": query.limit}
        if query.date_from is not None:
            params["date_from"] = format_datetime(query.date_from)
        if query.date_to is not None:
            params["date_to"] = format_datetime(query.date_to)
        url = f"{state.settings.public_url}{path}?{urlencode(params)}"
        response.headers["Link"] = f'<{url}>; rel="next"'
    return response
