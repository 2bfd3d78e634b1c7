"""A gateway's bundle read defensively: each record checked, a bad one named, the rest kept."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import msgspec
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from csms_shared.bus.message_log import FIELDS, RecordKind, encode_records
from message_log import records as reader
from message_log.records import BadRecord, Row, decode_bundle, fast_rows, level_of, to_row

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


# -- the fast way and the record-at-a-time way give the same rows ------------------------------

_TEXT = st.text(max_size=70)
_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3),
    max_leaves=8,
)
# Each field: what a gateway sends, or something a record-at-a-time reader must mend or refuse.
_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "cp": st.sampled_from(["CP-1", "", "x" * 48, "x" * 49, "é", "a\u0000"]) | _JSON,
    "at": st.floats(1_700_000_000, 1_900_000_000) | st.integers(0, 2**40) | _JSON,
    "kind": st.sampled_from([*RecordKind, "party"]) | _JSON,
    "dir": st.sampled_from(["in", "out", None, "up"]) | _JSON,
    "mt": st.sampled_from([2, 3, 4, None, 5, 2.0, True]),
    "id": _TEXT | st.text(min_size=60, max_size=70) | _JSON,
    "action": st.sampled_from(["Heartbeat", None, "a" * 65]) | _JSON,
    "payload": _JSON,
    "raw": st.none() | _TEXT,
    "size": st.integers(-1, 2**31) | st.sampled_from([0, 40.0, None]),
    "conn": st.none() | st.text(max_size=66),
}
_RECORD = st.fixed_dictionaries({}, optional=_FIELDS)


def _no_nul(text: str) -> bool:
    """No U+0000, nor a text whose JSON holds `\\u0000` (a backslash before "u0000"): the fast
    way leaves any bundle holding that sequence to the record-at-a-time way."""
    return "\\u0000" not in json.dumps(text)


_GATEWAY_RECORD = st.fixed_dictionaries(
    {
        "cp": st.text(min_size=1, max_size=48).filter(_no_nul),
        "at": st.floats(1_700_000_000, 1_900_000_000),
        "kind": st.sampled_from([k for k in RecordKind if k not in ("security", "warning")]),
        "dir": st.sampled_from(["in", "out", None]),
        "mt": st.sampled_from([2, 3, 4, None]),
        "id": st.none() | st.text(max_size=36).filter(_no_nul),
        "action": st.none() | st.sampled_from(["Heartbeat", "MeterValues"]),
        "payload": _JSON.filter(lambda v: "\\u0000" not in json.dumps(v)),
        "raw": st.none(),
        "size": st.integers(0, 2**31 - 1),
        "conn": st.none() | st.just("c0f2eb119f284b4ba59dc35a4179cb2b"),
    }
)


def _one_at_a_time(body: bytes) -> tuple[list[Row], int]:
    gateway, records = decode_bundle(body)
    rows, refused = [], 0
    for record in records:
        try:
            rows.append(to_row(record, gateway))
        except BadRecord:
            refused += 1
    return rows, refused


def _same(fast: list[Row], slow: list[Row]) -> None:
    assert len(fast) == len(slow)
    for a, b in zip(fast, slow, strict=True):
        # A payload keeps the text it came as (1.50 stays 1.50): the same JSON all the same.
        assert a[:7] + a[8:] == b[:7] + b[8:]
        assert (a[7] is None) == (b[7] is None)
        if a[7] is not None:
            assert msgspec.json.decode(a[7]) == msgspec.json.decode(b[7])


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_GATEWAY_RECORD | _RECORD, max_size=4), st.text(max_size=201))
def test_the_fast_way_keeps_a_bundle_only_as_record_at_a_time_would(
    records: list[dict[str, Any]], gateway: str
) -> None:
    body = json.dumps({"gateway": gateway, "records": records}).encode()
    fast = fast_rows(body)
    if fast is not None:
        slow, refused = _one_at_a_time(body)
        assert refused == 0
        _same(fast, slow)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_GATEWAY_RECORD, max_size=5))
def test_what_a_gateway_sends_takes_the_fast_way(records: list[dict[str, Any]]) -> None:
    body = encode_records("gw-1", [tuple(r[f] for f in FIELDS) for r in records])  # type: ignore[misc]
    fast = fast_rows(body)
    assert fast is not None
    _same(fast, _one_at_a_time(body)[0])


def test_the_fast_way_reads_the_fields_a_gateway_writes() -> None:
    """FIELDS is the record's contract: a field the fast decoder spelled otherwise would be
    read as its default, on both ways alike, and no other test would notice."""
    assert reader._Record.__struct_fields__ == FIELDS


@pytest.mark.parametrize("kind", list(RecordKind))
def test_the_fast_way_takes_the_kinds_a_gateway_may_send(kind: RecordKind) -> None:
    body = orjson.dumps({"gateway": "gw", "records": [{**GOOD, "kind": kind}]})
    from_gateways = kind not in (RecordKind.SECURITY, RecordKind.WARNING)
    assert (fast_rows(body) is not None) is from_gateways
    assert (_one_at_a_time(body)[1] == 0) is from_gateways
