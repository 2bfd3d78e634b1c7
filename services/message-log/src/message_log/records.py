"""A gateway's log bundle read defensively: each record checked and turned into a row to COPY.

Two ways, one result. `fast_rows` decodes and checks a whole bundle in one typed msgspec pass
(C, no Python per field) and keeps each payload as the JSON text it came as; it refuses the
whole bundle at the first thing it would have to mend or name. `decode_bundle` + `to_row` then
take it a record at a time: they truncate over-long texts, replace U+0000, and drop only the
records that are wrong, each named and counted. A property test holds them to the same rows
(tests/test_records.py); the fast one is what a fleet's peak costs (bench/RESULTS.md).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import msgspec

from csms_shared.bus.message_log import RecordKind
from csms_shared.ocpp import INT32_MAX

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
        doc = msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
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
    text = value.replace("\x00", "\ufffd")
    return text[:limit] if limit else text


def _json(value: Any) -> str | None:
    if value is None:
        return None
    # jsonb refuses \u0000 as well.
    return msgspec.json.encode(value).decode().replace("\\u0000", "\\ufffd")


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
    if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= INT32_MAX:
        raise BadRecord("size: a byte count")
    payload = record.get("payload")
    payload_json = _json(payload)
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


# -- the fast way: a whole bundle at once ------------------------------------------------------

_Id = Annotated[str, msgspec.Meta(max_length=64)]


class _Record(msgspec.Struct):
    """A record as `to_row` accepts it unchanged (nothing to truncate)."""

    cp: Annotated[str, msgspec.Meta(min_length=1, max_length=48)]
    at: float
    kind: Literal["frame", "malformed", "connected", "closed", "refused", "takeover", "gap"]
    dir: Literal["in", "out"] | None = None
    mt: Literal[2, 3, 4] | None = None
    id: _Id | None = None
    action: _Id | None = None
    payload: msgspec.Raw = msgspec.Raw(b"null")
    raw: Annotated[str, msgspec.Meta(max_length=65_536)] | None = None
    size: Annotated[int, msgspec.Meta(ge=0, le=INT32_MAX)] = 0
    conn: _Id | None = None


class _Bundle(msgspec.Struct):
    gateway: str
    records: list[_Record]


_DECODER = msgspec.json.Decoder(_Bundle)
_NUL = b"\\u0000"
_NULL = b"null"
# The level of each kind that does not depend on the payload (frames: only CALLERRORs have one).
_LEVELS: dict[str, str | None] = {kind: level_of(kind, None, None, None) for kind in RecordKind}


def fast_rows(body: bytes) -> list[Row] | None:
    """The COPY rows of every record of a bundle, as `to_row` makes them; None when any part of
    it needs the record-at-a-time way (a bad record, a text to truncate, a U+0000)."""
    if _NUL in body:
        return None
    try:
        bundle = _DECODER.decode(body)
        gateway = bundle.gateway[:200] or "?"
        rows: list[Row] = []
        for r in bundle.records:
            payload = bytes(r.payload)
            payload_json = None if payload == _NULL else payload.decode()
            if r.kind == "closed" or r.mt == 4:
                level = level_of(r.kind, r.dir, r.mt, msgspec.json.decode(payload))
            else:
                level = _LEVELS.get(r.kind)
            rows.append(
                (
                    datetime.fromtimestamp(r.at, UTC),
                    r.cp,
                    r.kind,
                    r.dir,
                    r.mt,
                    r.id,
                    r.action,
                    payload_json,
                    r.raw,
                    r.size,
                    gateway,
                    r.conn,
                    level,
                )
            )
    except (msgspec.DecodeError, OverflowError, OSError, ValueError):
        # msgspec.ValidationError is a DecodeError; a time out of range is one of the others.
        return None
    return rows
