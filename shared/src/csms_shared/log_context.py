"""Context fields every log record carries: charge point, connection, command, correlation, trace.

Bound with contextvars, so they follow the asyncio task that bound them (and the tasks it
starts) and never leak into another connection's or request's lines.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from types import MappingProxyType

# The fields, in the order text lines show them.
FIELDS = ("charge_point_id", "connection_id", "command_id", "correlation_id", "trace_id", "key")

_EMPTY: Mapping[str, str] = MappingProxyType({})
_CONTEXT: ContextVar[Mapping[str, str]] = ContextVar("csms_log_context", default=_EMPTY)


def _merged(fields: Mapping[str, object]) -> Mapping[str, str]:
    unknown = set(fields) - set(FIELDS)
    if unknown:
        raise ValueError(f"unknown log context fields {sorted(unknown)}; fields are {FIELDS}")
    merged = dict(_CONTEXT.get())
    merged.update({k: str(v) for k, v in fields.items() if v is not None})
    return MappingProxyType(merged)


def bind(**fields: object) -> None:
    """Add `fields` to the context of the current task from now on (None values are skipped)."""
    _CONTEXT.set(_merged(fields))


@contextlib.contextmanager
def bound(**fields: object) -> Iterator[None]:
    """Add `fields` to the context for the `with` block only."""
    token = _CONTEXT.set(_merged(fields))
    try:
        yield
    finally:
        _CONTEXT.reset(token)


def current() -> Mapping[str, str]:
    """The fields bound in this context."""
    return _CONTEXT.get()
