"""A gateway's bundle read defensively: each record checked, a bad one named, the rest kept."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from message_log.records import BadRecord, decode_bundle, level_of, to_row

GOOD: dict[str, Any] = {
    "cp": "CP-1",
    "at": 1_795_000_000.123456,
    "kind": "frame",
    "dir": "in",
    "mt": 2,
    "id": "m1",
    "action": "Heartbeat",
    "payload": {},
    "raw": None,
    "size": 30,
    "conn": "c1",
}


def test_a_good_record_becomes_its_row() -> None:
    row = to_row(GOOD, "gw-1")
    assert row[0] == datetime.fromtimestamp(GOOD["at"], UTC)
    assert row[1:] == (
        "CP-1",
        "frame",
        "in",
        2,
        "m1",
        "Heartbeat",
        "{}",
        None,
        30,
        "gw-1",
        "c1",
        None,
    )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"cp": ""}, "cp"),
        ({"cp": "x" * 49}, "cp"),
        ({"cp": 7}, "string"),
        ({"at": "yesterday"}, "at"),
        ({"at": True}, "at"),
        ({"at": 1e300}, "at"),
        ({"at": float("nan")}, "at"),
        ({"kind": "party"}, "kind"),
        ({"kind": ["frame"]}, "kind"),
        ({"dir": "sideways"}, "dir"),
        ({"dir": {"in": 1}}, "dir"),
        ({"mt": 5}, "mt"),
        ({"mt": True}, "mt"),
        ({"size": -1}, "size"),
        ({"id": 12}, "string"),
    ],
)
def test_a_bad_record_is_refused_naming_its_field(change: dict[str, Any], field: str) -> None:
    with pytest.raises(BadRecord, match=field):
        to_row({**GOOD, **change}, "gw-1")


def test_a_record_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(BadRecord):
        to_row(["CP-1"], "gw-1")


def test_nul_characters_become_replacement_characters_in_text_and_json() -> None:
    row = to_row(
        {**GOOD, "payload": {"data": "a\u0000b"}, "raw": "x\u0000y", "id": "m\u0000"}, "gw"
    )
    assert orjson.loads(row[7]) == {"data": "a\ufffdb"}
    assert row[8] == "x\ufffdy" and row[5] == "m\ufffd"


@pytest.mark.parametrize(
    "body", [b"not json", b"[1, 2]", b'{"gateway": 1, "records": []}', b'{"gateway": "g"}']
)
def test_a_body_that_is_not_a_bundle_is_refused(body: bytes) -> None:
    with pytest.raises(ValueError):
        decode_bundle(body)


def test_a_bundle_gives_its_gateway_and_records() -> None:
    assert decode_bundle(orjson.dumps({"gateway": "gw", "records": [GOOD]})) == ("gw", [GOOD])


def test_levels_of_the_system_log() -> None:
    assert level_of("connected", None, None, {}) == "INFO"
    assert level_of("closed", None, None, {"code": 1000}) == "INFO"
    assert level_of("closed", None, None, {"code": 1006}) == "WARNING"
    assert level_of("refused", None, None, {}) == "WARNING"
    assert level_of("frame", "out", 4, ["InternalError", "", {}]) == "ERROR"
    assert level_of("frame", "out", 4, ["FormationViolation", "", {}]) == "WARNING"
    assert level_of("frame", "in", 4, ["InternalError", "", {}]) == "WARNING"
    assert level_of("frame", "in", 2, {}) is None
