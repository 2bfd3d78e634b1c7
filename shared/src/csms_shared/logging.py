"""Logging: one line per record, key=value or JSON, the service name on every line."""

from __future__ import annotations

import logging
import sys

import orjson

# Control characters (and Unicode line breaks) shown escaped: a charge point chooses its id,
# message ids, close reasons and vendor fields, and must not forge log lines with them.
_UNSAFE = [*range(0x20), 0x7F, 0x85, 0x2028, 0x2029]
_ESCAPES = {code: f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" for code in _UNSAFE}


def escape_control(text: str) -> str:
    """`text` with control characters written as escapes, so one record stays one line."""
    return text.translate(_ESCAPES)


class _TextFormatter(logging.Formatter):
    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = escape_control(record.message)
        return super().formatMessage(record)


class _JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "service": self._service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(doc).decode()


def configure_logging(service: str, level: str = "INFO", json: bool = False) -> None:
    """Send every logger to stderr in the house format."""
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
