"""Logging: one line per record, readable text or JSON, the service and context on every line.

Timestamps are RFC 3339 in UTC with milliseconds (`2026-01-31T12:00:00.123Z`). Each record
carries the context fields bound in its task (csms_shared.log_context: charge point,
connection, command, correlation and trace ids, API key name), and any of those fields passed
in `extra=`. Text lines escape control characters (a CP chooses its id and many strings).
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any

import orjson

from .log_context import FIELDS, current

# Control characters (and Unicode line breaks) shown escaped: a charge point chooses its id,
# message ids, close reasons and vendor fields, and must not forge log lines with them.
_UNSAFE = [*range(0x20), 0x7F, 0x85, 0x2028, 0x2029]
_ESCAPES = {code: f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" for code in _UNSAFE}


def escape_control(text: str) -> str:
    """`text` with control characters written as escapes, so one record stays one line."""
    return text.translate(_ESCAPES)


def rfc3339(created: float) -> str:
    """A record's time as RFC 3339 UTC with milliseconds: `2026-01-31T12:00:00.123Z`."""
    return datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def _context(record: logging.LogRecord) -> dict[str, Any]:
    """The context fields of `record`: bound in its task, or given in `extra=`."""
    fields = dict(current())
    for name in FIELDS:
        value = record.__dict__.get(name)
        if value is not None:
            fields[name] = str(value)
    return {name: fields[name] for name in FIELDS if name in fields}


class _TextFormatter(logging.Formatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return rfc3339(record.created)

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = escape_control(record.message)
        line = super().formatMessage(record)
        context = _context(record)
        if context:
            line += " " + " ".join(f"{k}={escape_control(v)}" for k, v in context.items())
        return line


class _JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": rfc3339(record.created),
            "level": record.levelname,
            "service": self._service,
            "logger": record.name,
            "msg": record.getMessage(),
            **_context(record),
        }
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(doc).decode()


def configure_logging(service: str, level: str = "INFO", json: bool = False) -> None:
    """Send every logger to stderr in the house format: text, or JSON (`<PREFIX>LOG_JSON`)."""
    handler = logging.StreamHandler(sys.stderr)
    if json:
        handler.setFormatter(_JsonFormatter(service))
    else:
        handler.setFormatter(
            _TextFormatter(f"%(asctime)s %(levelname)-5s {service} %(name)s: %(message)s")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aio-pika and aiormq narrate every reconnect attempt at INFO.
    logging.getLogger("aiormq").setLevel(logging.WARNING)
    logging.getLogger("aio_pika").setLevel(logging.WARNING)
    # One line per WebSocket open and close is noise at fleet scale; the gateway logs its own.
    logging.getLogger("websockets").setLevel(logging.WARNING)
