"""The msgspec envelopes of the hot path read and write what the pydantic models of the contract
read and write: the same bundles accepted, the same refused with the same words, the same JSON."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from csms_shared.bus.bundle import (
    BadBundle,
    BundleItem,
    decode_bundle,
    encode_bundle,
    encode_bundle_fast,
    encode_replies,
    encode_replies_fast,
)
from csms_shared.bus.fast_envelopes import (
    PAYLOAD_DEPTH,
    FastBundledCall,
    FastCallErrorBody,
    FastCallReply,
    decode_bundled_calls,
)
from csms_shared.bus.topology import (
    HEADER_CHARGE_POINT,
    HEADER_GATEWAY,
    HEADER_MESSAGE_ID,
    HEADER_RECEIVED_AT,
    TRACEPARENT,
)
from csms_shared.contracts import problems
from csms_shared.contracts.envelopes import (
    BUNDLED_CALLS,
    BundledCall,
    CallErrorBody,
    CallReply,
)
from csms_shared.ocpp.errors import ErrorCode, error_for
from csms_shared.ocpp.framing import nesting_depth

# -- the model's way: how bundles were read and written before the fast way -------------------


def model_decode_bundle(body: bytes, gateway: str) -> list[BundleItem]:
    """`decode_bundle` through the model alone."""
    try:
        calls = BUNDLED_CALLS.validate_json(body)
    except ValidationError as exc:
        raise BadBundle(f"not a bundle of calls: {problems(exc)}") from None
    if not calls:
        raise BadBundle("a bundle is a non-empty JSON array")
    items = []
    for call in calls:
        headers: dict[str, Any] = {
            HEADER_CHARGE_POINT: call.cp,
            HEADER_MESSAGE_ID: call.id,
            HEADER_GATEWAY: gateway,
            HEADER_RECEIVED_AT: call.at,
        }
        if call.tp is not None:
            headers[TRACEPARENT] = call.tp
        items.append(BundleItem(headers, call.payload))
    return items


def outcome(read: Callable[[], list[BundleItem]]) -> list[tuple[Any, str]] | str:
    """What a reading gives: each item's headers and payload (repr: 1, 1.0, True and -0.0 stay
    apart), or the words it refused the bundle with."""
    try:
        return [(item.headers, repr(item.payload)) for item in read()]
    except BadBundle as exc:
        return str(exc)


def assert_read_alike(body: bytes) -> str:
    """Read `body` both ways, and say which way the fast reading took."""
    fast = outcome(lambda: decode_bundle(body, "gw-1"))
    assert fast == outcome(lambda: model_decode_bundle(body, "gw-1"))
    try:
        calls = decode_bundled_calls(body)
    except msgspec.DecodeError:
        return "the model's way: refused" if isinstance(fast, str) else "the model's way: read"
    # What msgspec accepts alone, the model accepts too, with the same values.
    models = BUNDLED_CALLS.validate_json(body)
    assert [repr(msgspec.structs.astuple(c)) for c in calls] == [
        repr((m.cp, m.id, m.at, m.payload, m.tp)) for m in models
    ]
    return "the fast way"


# -- JSON text, written by hand so that it can break every rule -------------------------------


@dataclass(frozen=True)
class Obj:
    """A JSON object as its members, in order (a key may come twice)."""

    members: list[tuple[str, Any]]


@dataclass(frozen=True)
class Raw:
    """JSON text written as it is (numbers Python would write otherwise, broken tokens)."""

    text: str


def write(value: Any, ascii: bool = True) -> bytes:
    """JSON text of `value`; non-ASCII characters as they are (UTF-8, a lone surrogate as the
    bytes no UTF-8 decoder accepts) unless `ascii`, escaped (a lone surrogate as \\ud800)."""
    return _text(value, ascii).encode("utf-8", "surrogatepass")


def _text(value: Any, ascii: bool) -> str:
    if isinstance(value, Obj):
        members = (f"{_text(k, ascii)}:{_text(v, ascii)}" for k, v in value.members)
        return "{" + ",".join(members) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_text(v, ascii) for v in value) + "]"
    if isinstance(value, Raw):
        return value.text
    return json.dumps(value, ensure_ascii=ascii)  # NaN and Infinity as Python writes them


def json_values(text: st.SearchStrategy[str], number: st.SearchStrategy[Any]) -> Any:
    return st.recursive(
        st.none() | st.booleans() | number | text,
        lambda inner: (
            st.lists(inner, max_size=3) | st.lists(st.tuples(text, inner), max_size=3).map(Obj)
        ),
        max_leaves=10,
    )


# JSON a reader should take: any text but lone surrogates; any number JSON can write, however
# large or precise (some only the model reads: 1e400 is infinity to it, out of range to msgspec).
_GOOD_TEXT = st.text(max_size=12) | st.sampled_from(["", "CP-1", "a\u0000b", "\U0001f600"])
_GOOD_NUMBER = (
    st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.from_regex(
        r"-?(0|[1-9][0-9]{0,25})(\.[0-9]{1,25})?([eE][+-]?[0-9]{1,3})?", fullmatch=True
    ).map(Raw)
)
_GOOD_JSON = json_values(_GOOD_TEXT, _GOOD_NUMBER)
# And what no JSON reader should take, or only the model's: lone surrogates (escaped, or as
# bytes no UTF-8 decoder accepts), NaN and Infinity, numbers JSON does not spell that way.
_TEXT = (
    _GOOD_TEXT
    | st.text(st.characters(exclude_categories=()), max_size=12)
    | st.sampled_from(["\ud800", "a\udfffb", "\udc00\ud800"])
)
_NUMBER = (
    _GOOD_NUMBER
    | st.floats()
    | st.sampled_from(["NaN", "Infinity", "-Infinity", "-0", "01", "1.", ".5", "+1"]).map(Raw)
)
_JSON = json_values(_TEXT, _NUMBER)
_FIELDS = ("cp", "id", "at", "payload", "tp")


@st.composite
def items(draw: st.DrawFn, mangled: bool) -> Any:
    """An item of a bundle; `mangled`, mostly almost right: a field of the wrong type, missing,
    twice, or one the model does not know, odd numbers and characters; sometimes no object."""
    text, value = (_TEXT, _JSON) if mangled else (_GOOD_TEXT, _GOOD_JSON)
    if mangled and draw(st.integers(0, 9)) == 0:
        return draw(_JSON)
    members = [
        ("cp", draw(text)),
        ("id", draw(text)),
        ("at", draw(text)),
        ("payload", draw(value)),
        ("tp", draw(st.none() | text)),
    ]
    if mangled:
        for n in draw(st.sets(st.integers(0, 4), max_size=2)):  # a value of any type
            members[n] = (members[n][0], draw(_JSON))
        for n in sorted(draw(st.sets(st.integers(0, 4), max_size=2)), reverse=True):  # missing
            if draw(st.booleans()):
                del members[n]
        members += draw(st.lists(st.tuples(st.sampled_from(_FIELDS) | _TEXT, _JSON), max_size=2))
    return Obj(draw(st.permutations(members)))


_BODIES = (
    st.lists(items(mangled=False), min_size=1, max_size=4)
    | st.lists(items(mangled=True), max_size=4)
    | _JSON
)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_BODIES, st.booleans())
def test_a_bundle_is_read_as_the_model_reads_it(body: Any, ascii: bool) -> None:
    event(assert_read_alike(write(body, ascii)))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=60), st.integers(0, 400), st.integers(0, 3))
def test_a_broken_body_is_refused_with_the_models_words(noise: bytes, where: int, how: int) -> None:
    body = b'[{"cp":"CP-1","id":"m1","at":"2026-01-01T00:00:00Z","payload":{"a":[1,2.5]}}]'
    where %= len(body)
    broken = [
        body[:where],
        body[:where] + noise + body[where:],
        body[:where] + noise + body[where + len(noise) :],
        noise,
    ][how]
    event(assert_read_alike(broken))


def nested(levels: int, kind: str) -> Raw:
    """1 inside `levels` arrays or objects."""
    opening, closing = ("[", "]") if kind == "array" else ('{"a":', "}")
    return Raw(opening * levels + "1" + closing * levels)


@pytest.mark.parametrize(
    "levels",
    [PAYLOAD_DEPTH - 1, PAYLOAD_DEPTH, PAYLOAD_DEPTH + 1, 196, 197, 198, 199, 200, 201, 1200],
)
@pytest.mark.parametrize("kind", ["array", "object"])
@pytest.mark.parametrize("where", ["payload", "unknown field"])
def test_deep_nesting_is_read_as_the_model_reads_it(levels: int, kind: str, where: str) -> None:
    """msgspec nests as deep as Python recurses, the model's parser about 200 levels: the fast
    way takes no payload deeper than PAYLOAD_DEPTH and no unknown field, so the model decides."""
    deep = nested(levels, kind)
    members = [("cp", "c"), ("id", "i"), ("at", "a")]
    members += [("payload", deep)] if where == "payload" else [("payload", {}), ("x", deep)]
    assert_read_alike(write([Obj(members)]))


@pytest.mark.parametrize(
    "body",
    [
        b"[]",
        b"{}",
        b"",
        b"null",
        b'\xef\xbb\xbf[{"cp":"c","id":"i","at":"a","payload":1}]',  # a byte order mark
        b' \t\n\r[{"cp":"c","id":"i","at":"a","payload":1}] \n',
        b'[{"cp":"c","id":"i","at":"a","payload":1}] x',
        b'[{"cp":"c","id":"i","at":"a","payload":1},]',
        b'[{"c\\u0070":"c","id":"i","at":"a","payload":null,"tp":null}]',  # an escaped name
        b'[{"cp":1,"cp":"c","id":"i","at":"a","payload":1}]',  # the last of a twice-named field
        b'[{"cp":"c","cp":1,"id":"i","at":"a","payload":1}]',
        b'[{"cp":"c","id":"i","at":"a","payload":{"k":1,"k":2.0}}]',
        b'[{"cp":"c","id":"i","at":"a","payload":NaN}]',
        b'[{"cp":"c","id":"i","at":"a","payload":[1e400,-Infinity]}]',
        b'[{"cp":"c","id":"i","at":"a","payload":123456789012345678901234567890}]',
        b'[{"cp":"c","id":"i","at":"a","payload":1' + b"0" * 5000 + b"}]",
        b'[{"cp":"c","id":"i","at":"a","payload":"\\ud83d\\ude00 \\udc00"}]',
        b'[{"cp":"c","id":"i","at":"a","payload":"\xed\xa0\x80"}]',  # a surrogate as UTF-8
        b'[{"cp":"c","id":"i","at":"a","payload":"\x01"}]',
        b'[{"cp":"c","id":"i","at":"a","payload":1,"tp":7}]',
        b'[{"cp":"c","id":"i","at":"a"}]',
        b'[{"cp":"c","id":"i","at":"a","payload":1,"Payload":2}]',
    ],
)
def test_the_edges_of_json_are_read_as_the_model_reads_them(body: bytes) -> None:
    assert_read_alike(body)


# -- what a gateway writes takes the fast way --------------------------------------------------

# JSON as a CP's frame arrives at the gateway (orjson's range: 64-bit integers, finite floats,
# no lone surrogates).
_GATEWAY_TEXT = st.text(max_size=12)
_GATEWAY_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _GATEWAY_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_GATEWAY_TEXT, inner, max_size=3),
    max_leaves=12,
)
_PAYLOADS = st.dictionaries(_GATEWAY_TEXT, _GATEWAY_JSON, max_size=4)
_CALLS = st.builds(
    FastBundledCall,
    _GATEWAY_TEXT,
    _GATEWAY_TEXT,
    _GATEWAY_TEXT,
    _PAYLOADS,
    st.none() | _GATEWAY_TEXT,
)


@settings(max_examples=500, deadline=None)
@given(st.lists(_CALLS, min_size=1, max_size=5))
def test_what_a_gateway_writes_is_read_the_fast_way(calls: list[FastBundledCall]) -> None:
    body = encode_bundle_fast(calls)
    way = assert_read_alike(body)
    if max(nesting_depth(call.payload) for call in calls) <= PAYLOAD_DEPTH:
        assert way == "the fast way"
        assert decode_bundled_calls(body) == calls


# -- writing -----------------------------------------------------------------------------------


def written(write: Callable[[], bytes]) -> Any:
    """The JSON a writer wrote, read back (repr: types kept apart), or the error it raised."""
    try:
        return repr(json.loads(write()))
    except Exception as exc:
        event(f"raised {type(exc).__name__}")
        return (type(exc), str(exc))


# The gateway's payloads, and values no CP's frame can hold (to take the model's way).
_ANY_PAYLOADS = _PAYLOADS | st.dictionaries(
    _TEXT, _GATEWAY_JSON | st.floats() | st.integers(-(2**80), 2**80) | _TEXT, max_size=3
)


@settings(max_examples=500, deadline=None)
@given(
    st.lists(
        st.tuples(_GATEWAY_TEXT, _GATEWAY_TEXT, _TEXT, _ANY_PAYLOADS, st.none() | _GATEWAY_TEXT),
        min_size=1,
        max_size=4,
    )
)
def test_a_bundle_is_written_as_the_model_writes_it(
    calls: list[tuple[str, str, str, dict[str, Any], str | None]],
) -> None:
    fast = [FastBundledCall(*call) for call in calls]
    models = [BundledCall(cp=c, id=i, at=a, payload=p, tp=tp) for c, i, a, p, tp in calls]
    assert written(lambda: encode_bundle_fast(fast)) == written(lambda: encode_bundle(models))


def test_a_bundle_is_written_byte_for_byte_as_the_model_writes_it() -> None:
    calls = [
        FastBundledCall("CP-1", "m1", "2026-01-01T00:00:00+00:00", {"a": [1, 2.5, None, "é"]}),
        FastBundledCall("CP-2", "m2", "2026-01-01T00:00:00+00:00", {}, tp="00-ab-cd-01"),
    ]
    models = [call.model() for call in calls]
    assert encode_bundle_fast(calls) == encode_bundle(models)


def test_a_call_without_a_payload_is_written_with_null() -> None:
    """The one difference, out of any gateway's reach (a CALL's payload is a JSON object,
    `parse_frame`): the model leaves a None payload out, and its reader then refuses the bundle
    (`payload` is required); msgspec writes null, which both read back."""
    call = FastBundledCall("CP-1", "m1", "2026-01-01T00:00:00Z", None)
    assert (
        encode_bundle_fast([call])
        == b'[{"cp":"CP-1","id":"m1","at":"2026-01-01T00:00:00Z","payload":null}]'
    )
    assert encode_bundle([call.model()]) == (
        b'[{"cp":"CP-1","id":"m1","at":"2026-01-01T00:00:00Z"}]'
    )
    assert_read_alike(encode_bundle_fast([call]))


_ERRORS = st.builds(
    error_for,
    st.sampled_from(list(ErrorCode)) | _TEXT,
    _TEXT,
    st.none() | st.dictionaries(_TEXT, _GATEWAY_JSON | st.floats(), max_size=3),
)
_REPLIES = st.one_of(
    _ANY_PAYLOADS.map(lambda p: (FastCallReply(payload=p), CallReply(payload=p))),
    _ERRORS.map(lambda e: (FastCallReply.refusal(e), CallReply.refusal(e))),
)


@settings(max_examples=500, deadline=None)
@given(_REPLIES)
def test_a_reply_is_written_as_the_model_writes_it(pair: tuple[FastCallReply, CallReply]) -> None:
    fast, model = pair
    assert written(fast.encode) == written(model.encode)
    assert fast.model() == model


@settings(max_examples=300, deadline=None)
@given(st.lists(_REPLIES, min_size=1, max_size=5))
def test_a_bundles_replies_are_written_as_the_model_writes_them(
    pairs: list[tuple[FastCallReply, CallReply]],
) -> None:
    fast = [f for f, _ in pairs]
    models = [m for _, m in pairs]
    assert written(lambda: encode_replies_fast(fast)) == written(lambda: encode_replies(models))


def test_replies_are_written_byte_for_byte_as_the_model_writes_them() -> None:
    error = error_for("InternalError", "no", {"why": [1, None]})
    pairs = [
        (FastCallReply(payload={"idTagInfo": {"status": "Accepted"}}), None),
        (FastCallReply.refusal(error), CallReply.refusal(error)),
        (FastCallReply(error=FastCallErrorBody("GenericError", "")), None),
    ]
    for fast, model in pairs:
        assert fast.encode() == (model or fast.model()).encode()
    assert encode_replies_fast([f for f, _ in pairs]) == encode_replies(
        [f.model() for f, _ in pairs]
    )


@pytest.mark.parametrize("fields", [{}, {"payload": {}, "error": {"code": "GenericError"}}])
def test_a_reply_holds_a_payload_or_an_error_as_the_model_demands(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="either a payload or an error"):
        CallReply.model_validate(fields)
    error = fields.get("error")
    with pytest.raises(ValueError, match="either a payload or an error"):
        FastCallReply(
            payload=fields.get("payload"),
            error=FastCallErrorBody(error["code"], "") if error else None,
        )


# -- the Structs mirror the models -------------------------------------------------------------


@pytest.mark.parametrize(
    ("fast", "model"),
    [
        (FastBundledCall, BundledCall),
        (FastCallReply, CallReply),
        (FastCallErrorBody, CallErrorBody),
    ],
)
def test_each_struct_has_its_models_fields(fast: type[msgspec.Struct], model: Any) -> None:
    """A field added to a model and not to its Struct would be dropped by the fast way."""
    fields = msgspec.structs.fields(fast)
    assert [f.encode_name for f in fields] == [
        info.alias or name for name, info in model.model_fields.items()
    ]
    required = {f.encode_name for f in fields if f.required}
    # The error's description has a default in the model and none in the Struct, which only
    # writes: the model writes it even when empty.
    assert required - {"description"} == {
        info.alias or name for name, info in model.model_fields.items() if info.is_required()
    }


def test_an_unreadable_bundle_is_named_as_before() -> None:
    with pytest.raises(BadBundle, match=r"not a bundle of calls: 0\.cp: Input should be a valid"):
        decode_bundle(b'[{"cp":1,"id":"i","at":"a","payload":{}}]', "gw-1")
