"""Pydantic models against official JSON schemas (the oracle), for every OCPP version.

`SchemaOracle` holds one version's schemas, its jsonschema validator class and its models.
For a schema it checks that:

* payloads generated from the schema by hypothesis-jsonschema validate in the model, and the
  model's `to_payload()` validates against the schema again (date-times come out with `Z`,
  vendor properties of objects that allow them come out as they went in);
* mutations of those payloads (dropped, renamed, extra and retyped properties, strings one over
  maxLength, foreign enum values, malformed date-times, off-grid numbers, arrays too short or too
  long ...) get the same verdict from the model as from jsonschema, apart from the version's
  leniencies (schema rejects, model accepts) and strictness (schema accepts, model rejects);
* the model's own JSON schema has the same properties, required set, types, maxLengths and enum
  values as the official one (and, where asked, the same array and number bounds).

The date-time format check is hand-written after RFC 3339 section 5.6 and rfc3339-validator
(that package, which jsonschema would use, is not installed).
"""

import calendar
import copy
import json
import re
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import jsonschema
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.internal.conjecture import utils as conjecture_utils
from hypothesis_jsonschema import _from_schema as hypothesis_jsonschema_internals
from hypothesis_jsonschema import from_schema
from pydantic import BaseModel, ValidationError
from pydantic.alias_generators import to_snake

from csms_shared.ocpp import OcppModel

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


# --- Schemas ------------------------------------------------------------------------------------


def load_schemas(directory: Path) -> dict[str, dict[str, Any]]:
    """Every schema of a directory by file name without `.json`, in name order."""
    return {
        path.stem: json.loads(path.read_text(encoding="utf-8-sig"))
        for path in sorted(directory.glob("*.json"))
    }


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


# --- The date-time format -----------------------------------------------------------------------

_RFC3339 = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]+)?"
    r"(Z|[+-]([0-9]{2}):([0-9]{2}))",
    re.IGNORECASE,
)
NAIVE_RFC3339 = re.compile(
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


def format_checker(validator_class: type[Any]) -> jsonschema.FormatChecker:
    """The validator class's format checker with the RFC 3339 `date-time` above."""
    checker = jsonschema.FormatChecker(validator_class.FORMAT_CHECKER.checkers)
    checker.checks("date-time")(is_rfc3339_date_time)
    return checker


# --- Known, intended differences ----------------------------------------------------------------


@dataclass(frozen=True)
class Leniency:
    """A kind of payload the schema rejects and the model accepts on purpose."""

    why: str
    applies: Callable[[str, jsonschema.ValidationError], bool]


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


NAIVE_DATE_TIME = Leniency(
    "date-time without offset is read as UTC (`_base.DateTime`: naive in, UTC out)",
    lambda name, error: (
        error.validator == "format"
        and isinstance(error.instance, str)
        and NAIVE_RFC3339.fullmatch(error.instance) is not None
    ),
)

PYTHON_NAMES = Leniency(
    "Python (snake_case) field names are accepted as keys: populate_by_name of OcppModel",
    lambda name, error: (
        error.validator in ("required", "additionalProperties") and _renamed_to_python_names(error)
    ),
)

# Schema accepts, model rejects: a marker in the model's error message and why.
DATE_TIME_RANGE = {"outside the representable range in UTC": "a date-time beyond 1..9999 in UTC"}
INT64_BOUNDS = {
    "9223372036854775807": "integers are at most 64-bit (`_fields.Integer`); schemas: no bound",
    "-9223372036854775808": "integers are at most 64-bit (`_fields.Integer`); schemas: no bound",
}
INT32_BOUNDS = {
    "2147483647": "connector and EVSE numbers are 32-bit (`_fields.Int32`); schemas: no bound",
    "-2147483648": "connector and EVSE numbers are 32-bit (`_fields.Int32`); schemas: no bound",
}


def is_int32(where: str) -> bool:
    """Whether the property at `where` (`Model.prop.prop[]`) is a connector or EVSE number."""
    return where.endswith((".connectorId", ".evseId", ".evseId[]", ".evse.id"))


# --- Valid payloads -----------------------------------------------------------------------------


def _rfc3339(moment: datetime, separator: str, digits: int, offset: str) -> str:
    fraction = f"{moment.microsecond:06d}987"[:digits]
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}{separator}"
        f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"
        f"{'.' + fraction if fraction else ''}{offset}"
    )


# RFC 3339 date-times in all their spellings. Years stay within 1000..9998: instants near the
# ends of 1..9999 may not be representable in UTC (DATE_TIME_RANGE), and years below 1000 are
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


def hypothesis_settings(max_examples: int) -> settings:
    """No shrinking: a failure names the mutant itself, and shrinking dozens of mutants is slow."""
    return settings(
        max_examples=max_examples,
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

# 1.0 and 1e20 are integers in draft-06 (2.0.1), not in draft-04 (1.6).
INTEGER_CASES: tuple[Any, ...] = (0, -1, 2**31, 2**63, -(2**63), 1.0, 1.5, 1e20, "12", False)

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
        # "Hertz": the 1.6 UnitOfMeasure is one enum with it (see the 1.6 leniencies).
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
        if "maxItems" in schema and value:
            yield (value * schema["maxItems"])[: schema["maxItems"]]
            yield (value * (schema["maxItems"] + 1))[: schema["maxItems"] + 1]
    if "minimum" in schema:
        yield from (schema["minimum"], schema["minimum"] - 1)
    if "maximum" in schema:
        yield from (schema["maximum"], schema["maximum"] + 1)


def object_mutations(schema: dict[str, Any], obj: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Variants of one object: each property dropped or renamed, unknown properties added."""
    for key in obj:
        yield {k: v for k, v in obj.items() if k != key}
        if to_snake(key) != key:
            yield {(to_snake(k) if k == key else k): v for k, v in obj.items()}
    yield {**obj, "unexpectedProperty": "x"}
    yield {**obj, "unexpectedProperty": {"nested": [None, 1.5, "é"]}, "other": None}
    yield {}


def trimmed(value: Any, keep: int = 2) -> Any:
    """The payload with every array cut to its first `keep` items (mutations touch the first)."""
    if isinstance(value, dict):
        return {key: trimmed(item, keep) for key, item in value.items()}
    if isinstance(value, list):
        return [trimmed(item, keep) for item in value[:keep]]
    return value


def mutations(schema: dict[str, Any], instance: Any) -> Iterator[tuple[Path_, Any]]:
    """One change each, anywhere in a valid payload: (path, what goes there instead)."""
    for path, node_schema, value in walk(schema, instance):
        if path:
            for replacement in value_mutations(node_schema, value):
                yield path, replacement
        if node_schema.get("type") == "object" and isinstance(value, dict):
            for variant in object_mutations(node_schema, value):
                yield path, variant


def vendor_properties(schema: dict[str, Any], instance: Any) -> dict[Path_, dict[str, Any]]:
    """The properties a schema does not name, per object that allows them (2.0.1 customData)."""
    return {
        path: {key: item for key, item in value.items() if key not in node["properties"]}
        for path, node, value in walk(schema, instance)
        if node.get("type") == "object"
        and node.get("additionalProperties", True) is not False
        and isinstance(value, dict)
    }


def capped(schema: Any, max_items: int) -> Any:
    """The schema with every array's maxItems at most `max_items` (for generating, not checking)."""
    if isinstance(schema, dict):
        result = {key: capped(value, max_items) for key, value in schema.items()}
        if result.get("type") == "array":
            result["maxItems"] = min(result.get("maxItems", max_items), max_items)
        return result
    if isinstance(schema, list):
        return [capped(value, max_items) for value in schema]
    return schema


# --- The oracle ---------------------------------------------------------------------------------


@dataclass
class SchemaOracle:
    """One OCPP version: its schemas, its jsonschema validator and its models."""

    schemas: dict[str, dict[str, Any]]
    validator_class: type[Any]
    model_for: Callable[[str], type[OcppModel]]
    leniencies: tuple[Leniency, ...]
    strictness: dict[str, str]
    inlined: dict[str, dict[str, Any]] = field(init=False)
    validators: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        checker = format_checker(self.validator_class)
        self.inlined = {name: inline_refs(schema) for name, schema in self.schemas.items()}
        # The inlined schemas say the same as the official ones (no reference is recursive) and
        # validate faster: no reference to resolve on every descent.
        self.validators = {
            name: self.validator_class(schema, format_checker=checker)
            for name, schema in self.inlined.items()
        }

    def check_agreement(self, name: str, instance: Any) -> bool:
        """Assert the model gives the oracle's verdict on `instance`; return the oracle's."""
        oracle = self.validators[name]
        try:
            validated: BaseModel | None = self.model_for(name).model_validate(instance)
            model_error = None
        except ValidationError as error:
            validated, model_error = None, error
        # Every error only where the leniencies must explain them: is_valid stops at the first.
        valid = oracle.is_valid(instance)
        oracle_errors = [] if valid or validated is None else list(oracle.iter_errors(instance))
        if not valid and validated is not None:
            unexplained = [
                f"{error.validator} at {list(error.absolute_path)}: {error.message}"
                for error in oracle_errors
                if not any(leniency.applies(name, error) for leniency in self.leniencies)
            ]
            assert not unexplained, (
                f"{name}: model accepts, schema rejects {unexplained}: {instance!r}"
            )
        if valid and model_error is not None:
            unexplained = [
                f"{list(error['loc'])}: {error['msg']}"
                for error in model_error.errors()
                if not any(marker in error["msg"] for marker in self.strictness)
            ]
            assert not unexplained, (
                f"{name}: model rejects, schema accepts {unexplained}: {instance!r}"
            )
        if valid and validated is not None:
            self.check_round_trip(name, instance, validated)
        return valid

    def check_round_trip(self, name: str, instance: Any, validated: BaseModel) -> None:
        """`to_payload()` satisfies the schema, writes date-times in UTC with a `Z` and keeps
        every vendor property as it came."""
        assert isinstance(validated, OcppModel)
        payload = validated.to_payload()
        errors = [error.message for error in self.validators[name].iter_errors(payload)]
        assert not errors, f"{name}: to_payload() {payload!r} is invalid: {errors}"
        for _, node_schema, value in walk(self.inlined[name], payload):
            if node_schema.get("format") == "date-time":
                assert isinstance(value, str) and value.endswith("Z"), value
        sent = vendor_properties(self.inlined[name], instance)
        written = vendor_properties(self.inlined[name], payload)
        for path, properties in sent.items():
            assert written.get(path) == properties, f"{name}: {path} lost {properties!r}"

    def check_generated(
        self, name: str, max_examples: int, max_items: int | None = None, keep_items: int = 2
    ) -> None:
        """Generated payloads and their mutants: same verdict from the model as from the schema.

        `max_items` caps the arrays generated (not the ones the schema accepts: the mutations
        still try each array empty, at its maxItems and one over) and the mutants keep
        `keep_items` of each array: long lists of deep objects cost time (the jsonschema
        validation of each mutant) and find nothing their first item does not.
        """
        oracle = self.validators[name]
        verdicts = {"accepted": 0, "rejected": 0}
        # A change made at one place is checked once, in the first example that has the place:
        # the wrong types and boundaries are the same in every example.
        seen: set[str] = set()
        schema = self.inlined[name] if max_items is None else capped(self.inlined[name], max_items)

        @hypothesis_settings(max_examples)
        @given(from_schema(schema, custom_formats={"date-time": DATE_TIMES}))
        def check(instance: Any) -> None:
            assert oracle.is_valid(instance), f"generator produced an invalid {name}: {instance!r}"
            self.check_agreement(name, instance)
            base = trimmed(instance, keep_items)
            for path, replacement in mutations(self.inlined[name], base):
                change = json.dumps([path, replacement], sort_keys=True)
                if change not in seen:
                    seen.add(change)
                    mutant = replaced(base, path, replacement)
                    verdicts["accepted" if self.check_agreement(name, mutant) else "rejected"] += 1

        check()
        assert verdicts["rejected"] > 0, "the mutations never produced an invalid payload"


# --- The model's own JSON schema ----------------------------------------------------------------


def _strip_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A pydantic field schema without its `| None` branch."""
    branches = [branch for branch in schema.get("anyOf", []) if branch != {"type": "null"}]
    if len(branches) == 1:
        return {**branches[0], **{k: v for k, v in schema.items() if k != "anyOf"}}
    return schema


@dataclass(frozen=True)
class ShapeRules:
    """What `assert_same_shape` compares besides names, required sets, types and enums."""

    # Enum values the model has on purpose beyond the schema's, by where (e.g. `X.unit`).
    extra_enum_values: Callable[[str], set[str]] = lambda where: set()
    # minItems / maxItems of arrays and minimum / maximum of numbers (the latter with the
    # model's 64-bit bounds of integers where the schema sets none).
    bounds: bool = False
    int_bounds: tuple[int, int] = (-(2**63), 2**63 - 1)
    # Where the model's bounds are 32-bit instead (connector and EVSE numbers).
    int32_at: Callable[[str], bool] = is_int32


def assert_same_shape(
    official: dict[str, Any], ours: dict[str, Any], where: str, rules: ShapeRules
) -> None:
    """Property names, required sets, types, maxLengths and enums equal, recursively."""
    ours = _strip_null(ours)
    kind = official.get("type")
    if "enum" in official:
        assert set(ours["enum"]) == set(official["enum"]) | rules.extra_enum_values(where), where
        return
    assert ours.get("type") == kind, f"{where}: {ours.get('type')} != {kind}"
    if kind == "object":
        assert set(ours.get("properties", {})) == set(official.get("properties", {})), where
        assert set(ours.get("required", [])) == set(official.get("required", [])), where
        # No additionalProperties in the schema means any property (2.0.1 customData).
        expected = official.get("additionalProperties", True)
        assert ours.get("additionalProperties", True) is expected, where
        for key, subschema in official.get("properties", {}).items():
            assert_same_shape(subschema, ours["properties"][key], f"{where}.{key}", rules)
    elif kind == "array":
        if rules.bounds:
            for keyword in ("minItems", "maxItems"):
                assert ours.get(keyword) == official.get(keyword), f"{where}: {keyword}"
        assert_same_shape(official["items"], ours["items"], f"{where}[]", rules)
    elif kind == "string":
        assert ours.get("maxLength") == official.get("maxLength"), where
        # "uri" is not checked, neither by the models nor by the oracle (no rfc3987 installed).
        is_date_time = official.get("format") == "date-time"
        assert (ours.get("format") == "date-time") == is_date_time, where
    elif kind in ("integer", "number") and rules.bounds:
        low, high = rules.int_bounds if kind == "integer" else (None, None)
        if kind == "integer" and rules.int32_at(where):
            low, high = -(2**31), 2**31 - 1
        assert ours.get("minimum") == official.get("minimum", low), f"{where}: minimum"
        assert ours.get("maximum") == official.get("maximum", high), f"{where}: maximum"


def check_shape(model: type[OcppModel], official: dict[str, Any], rules: ShapeRules) -> None:
    """The model's JSON schema (by alias) has the shape of the official, inlined schema."""
    ours = inline_json_schema(model.model_json_schema(by_alias=True))
    assert_same_shape(official, ours, model.__name__, rules)
