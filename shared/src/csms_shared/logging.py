"""Logging: one line per record, key=value or JSON, the service name on every line."""

from __future__ import annotations

import logging
import sys

import orjson


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
            logging.Formatter(f"%(asctime)s %(levelname)-5s {service} %(name)s: %(message)s")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aio-pika and aiormq narrate every reconnect attempt at INFO.
    logging.getLogger("aiormq").setLevel(logging.WARNING)
    logging.getLogger("aio_pika").setLevel(logging.WARNING)
    # One line per WebSocket open and close is noise at fleet scale; the gateway logs its own.
    logging.getLogger("websockets").setLevel(logging.WARNING)
