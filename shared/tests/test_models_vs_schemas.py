"""The OCPP 1.6 models against the official JSON schemas shipped in the `ocpp` package (the oracle).

For each of the 78 schemas (request and response of the 39 actions):

* payloads generated from the schema by hypothesis-jsonschema validate in the model, and the
  model's `to_payload()` validates against the schema again (date-times come out with `Z`);
* mutations of those payloads (dropped, renamed, extra and retyped properties, strings one over
  maxLength, foreign enum values, malformed date-times, off-grid numbers, empty arrays ...) get
  the same verdict from the model as from jsonschema, apart from `KNOWN_LENIENCIES` (schema
  rejects, model accepts) and `KNOWN_STRICTNESS` (schema accepts, model rejects);
* the model's own JSON schema has the same properties, required set, types, maxLengths and enum
  values as the official one.

The oracle is `jsonschema.Draft4Validator` (what the `ocpp` package itself uses for 1.6, also for
the security extension schemas that declare draft-06: so 1.0 is not an integer) with a format
checker whose date-time check is hand-written after RFC 3339 section 5.6 and rfc3339-validator
(that package, which jsonschema would use, is not installed).
"""

import calendar
import copy
import json
import re
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema
import ocpp
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.internal.conjecture import utils as conjecture_utils
from hypothesis_jsonschema import _from_schema as hypothesis_jsonschema_internals
from hypothesis_jsonschema import from_schema
from pydantic import BaseModel, ValidationError
from pydantic.alias_generators import to_snake

from csms_shared.ocpp._base import OcppModel
from csms_shared.ocpp.v16 import (
    ACTIONS,
    CP_TO_CS_ACTIONS,
    CS_TO_CP_ACTIONS,
    Action,
    AuthorizationStatus,
    BootNotificationRequest,
    ChargingSchedulePeriod,
    Direction,
    HeartbeatResponse,
    IdTagInfo,
    MeterValuesRequest,
)

pytestmark = pytest.mark.filterwarnings("ignore:Overriding standard format 'date-time'")

SCHEMA_DIR = Path(ocpp.__file__).parent / "v16" / "schemas"
SCHEMAS: dict[str, dict[str, Any]] = {
    path.stem: json.loads(path.read_text(encoding="utf-8-sig"))
    for path in sorted(SCHEMA_DIR.glob("*.json"))
}
SCHEMA_NAMES = sorted(SCHEMAS)


# --- hypothesis-jsonschema 0.23.1 on hypothesis >= 6.16x ----------------------------------------
# hypothesis-jsonschema drives `conjecture.utils.many` through `more()`, which newer Hypothesis
# replaced by a context manager plus iteration. Adapt, only where hypothesis-jsonschema looks.


class _LegacyMany:
    """The old `many(...).more()` protocol on top of the new `with many(...): for _ in ...`."""

    def __init__(self, data: Any, **kwargs: Any) -> None:
        self._many = conjecture_utils.many(data, **kwargs)
        self._elements: Iterator[None] | None = None

    def more(self) -> bool:
        if self._elements is None:
            self._many.__enter__()
            self._elements = iter(self._many)
        try:
            next(self._elements)
        except StopIteration:
            self._many.__exit__(None, None, None)
            return False
        return True

    def reject(self, why: str | None = None) -> None:
        self._many.reject(why)


if not hasattr(conjecture_utils.many, "more"):
    hypothesis_jsonschema_internals.cu = types.SimpleNamespace(many=_LegacyMany)  # type: ignore[assignment]


def inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with local `#/definitions/...` references inlined and `$schema`/`$id` dropped."""

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return inline(schema["definitions"][node["$ref"].removeprefix("#/definitions/")])
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(value) for value in node]
        return node

    root_only = ("$schema", "$id", "id", "definitions")
    return {key: inline(value) for key, value in schema.items() if key not in root_only}


INLINED = {name: inline_refs(schema) for name, schema in SCHEMAS.items()}


# --- The oracle ---------------------------------------------------------------------------------

_RFC3339 = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]+)?"
    r"(Z|[+-]([0-9]{2}):([0-9]{2}))",
    re.IGNORECASE,
)
_NAIVE_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?", re.IGNORECASE
)


def is_rfc3339_date_time(instance: object) -> bool:
    """RFC 3339 `date-time`: offset required, no leap second, year 0000 and bad dates refused."""
    if not isinstance(instance, str):
        return True
    match = _RFC3339.fullmatch(instance)
    if match is None:
        return False
    year, month, day, hour, minute, second = (int(match[group]) for group in range(1, 7))
    if year == 0 or not 1 <= month <= 12 or not 1 <= day <= calendar.monthrange(year, month)[1]:
        return False
    if hour > 23 or minute > 59 or second > 59:
        return False
    return match[9] is None or (int(match[9]) <= 23 and int(match[10]) <= 59)


FORMAT_CHECKER = jsonschema.FormatChecker(jsonschema.Draft4Validator.FORMAT_CHECKER.checkers)
FORMAT_CHECKER.checks("date-time")(is_rfc3339_date_time)
ORACLES = {
    name: jsonschema.Draft4Validator(schema, format_checker=FORMAT_CHECKER)
    for name, schema in SCHEMAS.items()
}


def model_for(schema_name: str) -> type[OcppModel]:
    """The model of a schema file: `X` is the request of action X, `XResponse` its response."""
    spec = ACTIONS[schema_name.removesuffix("Response")]
    return spec.response if schema_name.endswith("Response") else spec.request


# --- Known, intended differences ----------------------------------------------------------------


def _is_decimal_multiple_of_tenth(value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    as_written = Decimal(repr(value)).scaleb(1)
    return as_written == as_written.to_integral_value()


def _renamed_to_python_names(error: jsonschema.ValidationError) -> bool:
    obj = error.instance
    if not isinstance(obj, dict):
        return False
    if error.validator == "required":
        missing = [key for key in error.validator_value if key not in obj]
        return all(to_snake(key) != key and to_snake(key) in obj for key in missing)
    properties = error.schema.get("properties", {})
    extras = [key for key in obj if key not in properties]
    python_names = {to_snake(key) for key in properties}
    return all(key in python_names for key in extras)


@dataclass(frozen=True)
class Leniency:
    """A kind of payload the schema rejects and the model accepts on purpose."""

    why: str
    applies: Callable[[str, jsonschema.ValidationError], bool]


# Schema rejects, model accepts. Every oracle error of such a payload must match one of these.
KNOWN_LENIENCIES = (
    Leniency(
        "OCA schema has no minItems on MeterValues meterValue / sampledValue (the `ocpp` copy has)",
        lambda name, error: (
            name == "MeterValues"
            and error.validator == "minItems"
            and error.instance == []
            and error.absolute_path[-1] in ("meterValue", "sampledValue")
        ),
    ),
    Leniency(
        "spec text gives GetInstalledCertificateIds.conf certificateHashData as 0..*",
        lambda name, error: (
            name == "GetInstalledCertificateIdsResponse"
            and error.validator == "minItems"
            and error.instance == []
            and list(error.absolute_path) == ["certificateHashData"]
        ),
    ),
    Leniency(
        "UnitOfMeasure has Hertz (the `ocpp` copy of MeterValues has it; StopTransaction not)",
        lambda name, error: (
            error.validator == "enum"
            and error.instance == "Hertz"
            and error.absolute_path[-1] == "unit"
        ),
    ),
    Leniency(
        "multipleOf 0.1 also read in decimal, as the `ocpp` package checks it (not float division)",
        lambda name, error: (
            error.validator == "multipleOf" and _is_decimal_multiple_of_tenth(error.instance)
        ),
    ),
    Leniency(
        "date-time without offset is read as UTC (`_base.DateTime`: naive in, UTC out)",
        lambda name, error: (
            error.validator == "format"
            and isinstance(error.instance, str)
            and _NAIVE_RFC3339.fullmatch(error.instance) is not None
        ),
    ),
    Leniency(
        "Python (snake_case) field names are accepted as keys: populate_by_name of OcppModel",
        lambda name, error: (
            error.validator in ("required", "additionalProperties")
            and _renamed_to_python_names(error)
        ),
    ),
)

# Schema accepts, model rejects. Every model error of such a payload must contain one of these.
KNOWN_STRICTNESS = {
    "outside the representable range in UTC": "a date-time beyond year 1..9999 once in UTC",
    "9223372036854775807": "integers are at most 64-bit (datatypes.Integer); schemas: no bound",
    "-9223372036854775808": "integers are at most 64-bit (datatypes.Integer); schemas: no bound",
}


def check_agreement(name: str, instance: Any) -> bool:
    """Assert the model gives the oracle's verdict on `instance`; return the oracle's verdict."""
    oracle_errors = list(ORACLES[name].iter_errors(instance))
    try:
        validated: BaseModel | None = model_for(name).model_validate(instance)
        model_error = None
    except ValidationError as error:
        validated, model_error = None, error
    if oracle_errors and validated is not None:
        unexplained = [
            f"{error.validator} at {list(error.absolute_path)}: {error.message}"
            for error in oracle_errors
            if not any(leniency.applies(name, error) for leniency in KNOWN_LENIENCIES)
        ]
        assert not unexplained, f"{name}: model accepts, schema rejects {unexplained}: {instance!r}"
    if not oracle_errors and model_error is not None:
        unexplained = [
            f"{list(error['loc'])}: {error['msg']}"
            for error in model_error.errors()
            if not any(marker in error["msg"] for marker in KNOWN_STRICTNESS)
        ]
        assert not unexplained, f"{name}: model rejects, schema accepts {unexplained}: {instance!r}"
    if not oracle_errors and validated is not None:
        check_round_trip(name, validated)
    return not oracle_errors


def check_round_trip(name: str, validated: BaseModel) -> None:
    """`to_payload()` satisfies the schema and writes every date-time in UTC with a `Z`."""
    assert isinstance(validated, OcppModel)
    payload = validated.to_payload()
    errors = [error.message for error in ORACLES[name].iter_errors(payload)]
    assert not errors, f"{name}: to_payload() {payload!r} is invalid: {errors}"
    for _, node_schema, value in walk(INLINED[name], payload):
        if node_schema.get("format") == "date-time":
            assert isinstance(value, str) and value.endswith("Z"), value


# --- Valid payloads -----------------------------------------------------------------------------


def _rfc3339(moment: datetime, separator: str, digits: int, offset: str) -> str:
    fraction = f"{moment.microsecond:06d}987"[:digits]
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}{separator}"
        f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"
        f"{'.' + fraction if fraction else ''}{offset}"
    )


# RFC 3339 date-times in all their spellings. Years stay within 1000..9998: instants near the
# ends of 1..9999 may not be representable in UTC (KNOWN_STRICTNESS), and years below 1000 are
# written unpadded by `_base.format_datetime` (see test_years_before_1000_are_padded_on_output).
DATE_TIMES = st.builds(
    _rfc3339,
    st.datetimes(min_value=datetime(1000, 1, 2), max_value=datetime(9998, 12, 31)),
    st.sampled_from(["T", "t"]),
    st.integers(0, 9),
    st.one_of(
        st.sampled_from(["Z", "z", "+00:00", "-00:00"]),
        st.builds(
            "{}{:02d}:{:02d}".format,
            st.sampled_from("+-"),
            st.integers(0, 23),
            st.integers(0, 59),
        ),
    ),
)

# No shrinking: a failure names the mutant itself, and shrinking dozens of mutants is slow.
HYPOTHESIS_SETTINGS = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    phases=(Phase.explicit, Phase.generate),
    suppress_health_check=list(HealthCheck),
)


# --- Mutations ----------------------------------------------------------------------------------

Path_ = tuple[str | int, ...]


def walk(schema: dict[str, Any], value: Any, path: Path_ = ()) -> Iterator[tuple[Path_, Any, Any]]:
    """Every (path, subschema, value) of a payload, following the schema; first item of arrays."""
    yield path, schema, value
    if schema.get("type") == "object" and isinstance(value, dict):
        for key, subschema in schema.get("properties", {}).items():
            if key in value:
                yield from walk(subschema, value[key], (*path, key))
    elif schema.get("type") == "array" and isinstance(value, list) and value:
        yield from walk(schema["items"], value[0], (*path, 0))


def replaced(root: Any, path: Path_, value: Any) -> Any:
    """`root` with the node at `path` replaced; containers on the path are copied, not mutated."""
    if not path:
        return value
    step, rest = path[0], path[1:]
    result = copy.copy(root)
    result[step] = replaced(root[step], rest, value)
    return result


WRONG_TYPES: tuple[Any, ...] = (None, True, 1, 1.0, "1", [], {})

DATE_TIME_CASES: tuple[Any, ...] = (
    "2024-02-29T12:00:00Z",
    "2024-02-29T12:00:00.5+05:30",
    "2024-01-01t00:00:00.123456789z",
    "2024-01-01T00:00:00",
    "2024-01-01T00:00:00.250",
    "2023-02-29T12:00:00Z",
    "2024-04-31T12:00:00Z",
    "2024-13-01T00:00:00Z",
    "2024-01-01 00:00:00Z",
    "2024-01-01T24:00:00Z",
    "2024-01-01T23:60:00Z",
    "2024-12-31T23:59:60Z",
    "2024-01-01T00:00:00+24:00",
    "2024-01-01T00:00:00+05:60",
    "2024-01-01T00:00:00+0500",
    "2024-01-01T00:00Z",
    "2024-01-01",
    "20240101T000000Z",
    "0000-01-01T00:00:00Z",
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-01:00",
    "2024-01-01T00:00:00Z ",
    "yesterday",
    1704067200,
)

INTEGER_CASES: tuple[Any, ...] = (0, -1, 2**31, 2**63, -(2**63), 1.0, 1.5, "12", False)

NUMBER_CASES: tuple[Any, ...] = (
    0,
    -16,
    16.0,
    0.1,
    0.3,
    16.1,
    0.1 + 0.2,
    0.05,
    4.11,
    1e-7,
    1e308,
    "16.1",
    True,
)


def value_mutations(schema: dict[str, Any], value: Any) -> Iterator[Any]:
    """Replacements for one value: wrong types, boundaries and near-misses of its schema."""
    yield from WRONG_TYPES
    kind = schema.get("type")
    if "enum" in schema:
        yield from schema["enum"]
        first = schema["enum"][0]
        yield from ("", first.lower(), first.upper(), f" {first}", "NotInTheEnum", "Hertz")
    elif schema.get("format") == "date-time":
        yield from DATE_TIME_CASES
    elif kind == "string":
        yield "é"
        if "maxLength" in schema:
            yield "x" * schema["maxLength"]
            yield "x" * (schema["maxLength"] + 1)
    elif kind == "integer":
        yield from INTEGER_CASES
    elif kind == "number":
        yield from NUMBER_CASES
    elif kind == "boolean":
        yield from (False, 0, "true")
    elif kind == "array" and isinstance(value, list):
        yield from ([], [*value, *value[:1]], [None], [1])
    if "minimum" in schema:
        yield from (schema["minimum"], schema["minimum"] - 1)
    if "maximum" in schema:
        yield from (schema["maximum"], schema["maximum"] + 1)


def object_mutations(schema: dict[str, Any], obj: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Variants of one object: each property dropped or renamed, an unknown property added."""
    for key in obj:
        yield {k: v for k, v in obj.items() if k != key}
        if to_snake(key) != key:
            yield {(to_snake(k) if k == key else k): v for k, v in obj.items()}
    yield {**obj, "unexpectedProperty": "x"}
    yield {}


def trimmed(value: Any) -> Any:
    """The payload with every array cut to its first two items (mutations touch the first)."""
    if isinstance(value, dict):
        return {key: trimmed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [trimmed(item) for item in value[:2]]
    return value


def mutations(schema: dict[str, Any], instance: Any) -> Iterator[Any]:
    """Mutants of a valid payload, one change each, anywhere in it."""
    for path, node_schema, value in walk(schema, instance):
        if path:
            for replacement in value_mutations(node_schema, value):
                yield replaced(instance, path, replacement)
        if node_schema.get("type") == "object" and isinstance(value, dict):
            for variant in object_mutations(node_schema, value):
                yield replaced(instance, path, variant)


# --- The tests ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_model_agrees_with_schema(name: str) -> None:
    """Generated payloads and their mutants: same verdict from the model as from the schema."""
    oracle = ORACLES[name]
    verdicts = {"accepted": 0, "rejected": 0}

    @HYPOTHESIS_SETTINGS
    @given(from_schema(INLINED[name], custom_formats={"date-time": DATE_TIMES}))
    def check(instance: Any) -> None:
        assert oracle.is_valid(instance), f"generator produced an invalid {name}: {instance!r}"
        check_agreement(name, instance)
        for mutant in mutations(INLINED[name], trimmed(instance)):
            verdicts["accepted" if check_agreement(name, mutant) else "rejected"] += 1

    check()
    assert verdicts["rejected"] > 0, "the mutations never produced an invalid payload"


def _strip_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A pydantic field schema without its `| None` branch."""
    branches = [branch for branch in schema.get("anyOf", []) if branch != {"type": "null"}]
    if len(branches) == 1:
        return {**branches[0], **{k: v for k, v in schema.items() if k != "anyOf"}}
    return schema


def assert_same_shape(official: dict[str, Any], ours: dict[str, Any], where: str) -> None:
    """Property names, required sets, types, maxLengths and enums equal, recursively."""
    ours = _strip_null(ours)
    kind = official.get("type")
    if "enum" in official:
        # UnitOfMeasure is one enum with Hertz (in the `ocpp` copy of MeterValues only).
        extra = {"Hertz"} if where.endswith(".unit") else set()
        assert set(ours["enum"]) == set(official["enum"]) | extra, where
        return
    assert ours.get("type") == kind, f"{where}: {ours.get('type')} != {kind}"
    if kind == "object":
        assert set(ours.get("properties", {})) == set(official.get("properties", {})), where
        assert set(ours.get("required", [])) == set(official.get("required", [])), where
        assert ours.get("additionalProperties") is False, where
        for key, subschema in official.get("properties", {}).items():
            assert_same_shape(subschema, ours["properties"][key], f"{where}.{key}")
    elif kind == "array":
        assert_same_shape(official["items"], ours["items"], f"{where}[]")
    elif kind == "string":
        assert ours.get("maxLength") == official.get("maxLength"), where
        # "uri" is not checked, neither by the models nor by the oracle (no rfc3987 installed).
        is_date_time = official.get("format") == "date-time"
        assert (ours.get("format") == "date-time") == is_date_time, where


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_model_has_the_schema_shape(name: str) -> None:
    """The model's JSON schema has the official properties, required, types, lengths, enums."""
    ours = inline_json_schema(model_for(name).model_json_schema(by_alias=True))
    assert_same_shape(INLINED[name], ours, name)


def inline_json_schema(node: Any, root: Any = None) -> Any:
    """A pydantic JSON schema with its `$defs` references inlined."""
    root = node if root is None else root
    if isinstance(node, dict):
        if "$ref" in node:
            return inline_json_schema(root["$defs"][node["$ref"].removeprefix("#/$defs/")], root)
        return {k: inline_json_schema(v, root) for k, v in node.items() if k != "$defs"}
    if isinstance(node, list):
        return [inline_json_schema(value, root) for value in node]
    return node


def test_actions_cover_every_schema() -> None:
    """39 actions, named as the schema files, each with a request and a response model."""
    assert len(ACTIONS) == len(Action) == 39
    assert {*ACTIONS, *(f"{action}Response" for action in ACTIONS)} == set(SCHEMA_NAMES)
    for spelling, spec in ACTIONS.items():
        assert spec.action == spelling == spec.action.value
        assert spec.request.__name__ == f"{spelling}Request"
        assert spec.response.__name__ == f"{spelling}Response"
        assert issubclass(spec.request, OcppModel) and issubclass(spec.response, OcppModel)


def test_action_directions() -> None:
    """Who initiates each action, as in OCPP 1.6 and its security extension."""
    from_charge_point = {
        "Authorize",
        "BootNotification",
        "DataTransfer",
        "DiagnosticsStatusNotification",
        "FirmwareStatusNotification",
        "Heartbeat",
        "MeterValues",
        "StartTransaction",
        "StatusNotification",
        "StopTransaction",
        "SecurityEventNotification",
        "SignCertificate",
        "LogStatusNotification",
        "SignedFirmwareStatusNotification",
    }
    assert CP_TO_CS_ACTIONS == from_charge_point
    assert CS_TO_CP_ACTIONS == (set(ACTIONS) - from_charge_point) | {"DataTransfer"}
    assert (len(CP_TO_CS_ACTIONS), len(CS_TO_CP_ACTIONS)) == (14, 26)
    assert [a for a, spec in ACTIONS.items() if spec.direction is Direction.BOTH] == [
        "DataTransfer"
    ]


def test_python_none_means_absent_but_json_null_is_refused() -> None:
    """Keyword None leaves an optional out; a null in a payload is a violation, as in the schema."""
    made = IdTagInfo(status=AuthorizationStatus.ACCEPTED, expiry_date=None, parent_id_tag=None)
    assert made.to_payload() == {"status": "Accepted"}
    with pytest.raises(ValidationError, match="null is not allowed"):
        IdTagInfo.model_validate({"status": "Accepted", "expiryDate": None})
    assert not ORACLES["AuthorizeResponse"].is_valid(
        {"idTagInfo": {"status": "Accepted", "expiryDate": None}}
    )


def test_wire_types_are_strict() -> None:
    """No coercion: "12" and 1.0 are not integers, 1 is not a string, 1 is not a date-time."""
    base = {"startPeriod": 0, "limit": 16}
    for bad in ({"startPeriod": "12"}, {"startPeriod": 1.0}, {"startPeriod": True}):
        with pytest.raises(ValidationError):
            ChargingSchedulePeriod.model_validate({**base, **bad})
    with pytest.raises(ValidationError):
        BootNotificationRequest.model_validate({"chargePointVendor": 1, "chargePointModel": "m"})
    with pytest.raises(ValidationError):
        HeartbeatResponse.model_validate({"currentTime": 1704067200})
    assert ChargingSchedulePeriod.model_validate({**base, "limit": 0.3}).limit == 0.3


def test_date_times_are_read_in_any_offset_and_written_in_utc() -> None:
    """Offsets and naive times in, `Z` out; fractions beyond milliseconds are dropped."""
    cases = {
        "2024-01-01T10:00:00+02:00": "2024-01-01T08:00:00Z",
        "2024-01-01t10:00:00.123456789z": "2024-01-01T10:00:00.123Z",
        "2024-01-01T10:00:00": "2024-01-01T10:00:00Z",
    }
    for given_, written in cases.items():
        assert HeartbeatResponse.model_validate({"currentTime": given_}).to_payload() == {
            "currentTime": written
        }


def test_empty_meter_value_lists_are_tolerated() -> None:
    """OCA's MeterValues.req has no minItems; the `ocpp` copy's minItems 1 is not enforced."""
    empty = {"connectorId": 1, "meterValue": []}
    assert not ORACLES["MeterValues"].is_valid(empty)
    assert MeterValuesRequest.model_validate(empty).to_payload() == empty


def test_years_before_1000_are_padded_on_output() -> None:
    """RFC 3339 wants four year digits; `0999-...` must not come out as `999-...`."""
    payload = HeartbeatResponse.model_validate({"currentTime": "0999-01-01T00:00:00Z"}).to_payload()
    assert payload == {"currentTime": "0999-01-01T00:00:00Z"}
