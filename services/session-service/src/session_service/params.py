"""Reading RPC params: each malformed one becomes RpcError("invalid", ...) naming it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import TypeAdapter, ValidationError

from csms_shared.bus.rpc import RpcError
from csms_shared.ocpp.v16.datatypes import OcppDateTime

_DATETIME: TypeAdapter[datetime] = TypeAdapter(OcppDateTime)


def page(params: dict[str, Any], default: int = 50, maximum: int = 1000) -> tuple[int, int]:
    """(limit, offset) of a list request."""
    limit = integer(params, "limit", default)
    offset = integer(params, "offset", 0)
    if limit is None or not 1 <= limit <= maximum or offset is None or offset < 0:
        raise RpcError("invalid", f"limit is 1..{maximum} and offset >= 0")
    return limit, offset


def integer(params: dict[str, Any], name: str, default: int | None = None) -> int | None:
    """An optional integer param (a numeric string is accepted, as query strings carry them)."""
    value = params.get(name)
    if value is None:
        return default
    if isinstance(value, bool):
        raise RpcError("invalid", f"{name} is an integer")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise RpcError("invalid", f"{name} is an integer") from None


def required_integer(params: dict[str, Any], name: str) -> int:
    """A required integer param."""
    value = integer(params, name)
    if value is None:
        raise RpcError("invalid", f"{name} is required")
    return value


def string(params: dict[str, Any], name: str, *, max_length: int = 200) -> str | None:
    """An optional non-empty string param."""
    value = params.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > max_length:
        raise RpcError("invalid", f"{name} is a string of 1..{max_length} characters")
    return value


def required_string(params: dict[str, Any], name: str, *, max_length: int = 200) -> str:
    """A required non-empty string param."""
    value = string(params, name, max_length=max_length)
    if value is None:
        raise RpcError("invalid", f"{name} is required")
    return value


def boolean(params: dict[str, Any], name: str) -> bool | None:
    """An optional boolean param ("true"/"false" accepted)."""
    value = params.get(name)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise RpcError("invalid", f"{name} is a boolean")


def timestamp(params: dict[str, Any], name: str) -> datetime | None:
    """An optional RFC 3339 date-time param."""
    value = params.get(name)
    if value is None:
        return None
    try:
        return _DATETIME.validate_python(value)
    except ValidationError:
        raise RpcError("invalid", f"{name} is an RFC 3339 date-time") from None


def time_range(params: dict[str, Any]) -> tuple[datetime | None, datetime | None]:
    """The `from` / `to` params; `from` must not be after `to`."""
    start, end = timestamp(params, "from"), timestamp(params, "to")
    if start is not None and end is not None and start > end:
        raise RpcError("invalid", "from is after to")
    return start, end
