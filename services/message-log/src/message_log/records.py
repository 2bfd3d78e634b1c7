"""A gateway's log bundle read defensively: each record checked and turned into a row to COPY."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from csms_shared.bus.message_log import RecordKind

# What a gateway may send; security events and service warnings come from events only.
_KINDS = frozenset(RecordKind) - {RecordKind.SECURITY, RecordKind.WARNING}
_DIRECTIONS = frozenset({"in", "out", None})
_MESSAGE_TYPES = frozenset({2, 3, 4, None})
# Close codes of a connection that ended as it should: normal, going away, taken over.
_ORDINARY_CLOSES = frozenset({1000, 1001, 4000})
Row = tuple[Any, ...]


def _one_of(value: Any, allowed: frozenset[Any]) -> bool:
    try:
        return value in allowed
    except TypeError:  # unhashable: a list or an object
        return False


class BadRecord(ValueError):
    """A record that cannot be stored; the rest of its bundle still is."""


def decode_bundle(body: bytes) -> tuple[str, list[Any]]:
    """(gateway, records) of a bundle; ValueError when the body is not one."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ValueError("a bundle is a JSON object")
    gateway, records = doc.get("gateway"), doc.get("records")
    if not isinstance(gateway, str) or not isinstance(records, list):
        raise ValueError("a bundle has a gateway (string) and records (array)")
    return _text(gateway, 200) or "?", records


def _text(value: Any, limit: int | None = None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadRecord(f"expected a string, got {type(value).__name__}")
    # No Postgres text column stores U+0000.
    value = value.replace("\x00", "\ufffd")
    return value[:limit] if limit else value


def _json(value: Any) -> str | None:
    if value is None:
        return None
    # jsonb refuses \u0000 as well.
    return orjson.dumps(value).decode().replace("\\u0000", "\\ufffd")


def level_of(kind: str, direction: str | None, mt: int | None, payload: Any) -> str | None:
    """What the system log shows a record as: INFO, WARNING, ERROR; None for a plain frame."""
    if kind in (RecordKind.CONNECTED, RecordKind.TAKEOVER):
        return "INFO"
    if kind == RecordKind.CLOSED:
        code = payload.get("code") if isinstance(payload, dict) else None
        return "INFO" if code in _ORDINARY_CLOSES else "WARNING"
    if kind in (
        RecordKind.REFUSED,
        RecordKind.GAP,
        RecordKind.MALFORMED,
        RecordKind.SECURITY,
        RecordKind.WARNING,
    ):
        return "WARNING"
    if mt == 4:
        code = payload[0] if isinstance(payload, list) and payload else None
        return "ERROR" if direction == "out" and code == "InternalError" else "WARNING"
    return None


def to_row(record: Any, gateway: str) -> Row:
    """The COPY row of one record (db.COPY_COLUMNS); BadRecord names what is wrong."""
    if not isinstance(record, dict):
        raise BadRecord("a record is a JSON object")
    cp_id = _text(record.get("cp"), None)
    if not cp_id or len(cp_id) > 48:
        raise BadRecord("cp: a charge point id of 1-48 characters")
    at = record.get("at")
    if isinstance(at, bool) or not isinstance(at, int | float):
        raise BadRecord("at: seconds since the epoch")
    try:
        when = datetime.fromtimestamp(at, UTC)
    except (OverflowError, OSError, ValueError):
        raise BadRecord("at: out of range") from None
    kind, direction, mt = record.get("kind"), record.get("dir"), record.get("mt")
    if not isinstance(kind, str) or not _one_of(kind, _KINDS):
        raise BadRecord(f"kind: one of {sorted(_KINDS)}")
    if not _one_of(direction, _DIRECTIONS):
        raise BadRecord("dir: in, out or null")
    if isinstance(mt, bool) or not _one_of(mt, _MESSAGE_TYPES):
        raise BadRecord("mt: 2, 3, 4 or null")
    size = record.get("size", 0)
    if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size < 2**31:
        raise BadRecord("size: a byte count")
    payload = record.get("payload")
    try:
        payload_json = _json(payload)
    except TypeError:
        raise BadRecord("payload: not JSON") from None
    return (
        when,
        cp_id,
        kind,
        direction,
        mt,
        _text(record.get("id"), 64),
        _text(record.get("action"), 64),
        payload_json,
        _text(record.get("raw"), 65_536),
        size,
        gateway,
        _text(record.get("conn"), 64),
        level_of(kind, direction, mt, payload),
    )
