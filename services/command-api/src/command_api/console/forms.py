"""Command forms generated from each action's request schema, and the answer in words."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from typing import Any, TypeVar

from pydantic import BaseModel, JsonValue, ValidationError
from starlette.datastructures import FormData

from csms_shared.ocpp import v201
from csms_shared.ocpp._base import JsonObject, OcppModel
from csms_shared.ocpp.catalog import catalog
from csms_shared.ocpp.version import OcppVersion

from ..problems import wire_loc
from ..station_actions import ACTIONS, OperatorAction
from ..versions import request_model

# Inputs never offered: the widest 64-bit bounds pydantic writes are no useful hint.
_WIDE = 2**53


@dataclass(frozen=True)
class Field:
    """One input of a command form."""

    name: str
    kind: str  # select, integer, number, boolean, datetime, text, id, json
    required: bool
    choices: tuple[str, ...] = ()
    minimum: int | float | None = None
    maximum: int | float | None = None
    max_length: int | None = None
    hint: str = ""


@dataclass(frozen=True)
class CommandForm:
    """The form of one CS->CP action."""

    action: str
    description: str
    fields: tuple[Field, ...] = field(default_factory=tuple)


def _resolve(schema: dict[str, Any], defs: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """The property's own schema (refs followed, `X | None` unwrapped) and if it may be null."""
    nullable = False
    if "anyOf" in schema:
        options = [s for s in schema["anyOf"] if s.get("type") != "null"]
        nullable = len(options) < len(schema["anyOf"])
        kinds = {s.get("type") for s in options}
        if kinds == {"integer", "string"}:
            schema = {"type": "id"}  # a transaction id: 1.6's number or 2.0.1's string
        else:
            schema = options[0] if len(options) == 1 else {"type": "object"}
    if "$ref" in schema:
        schema = defs[schema["$ref"].rsplit("/", 1)[-1]]
    return schema, nullable


def _field(name: str, schema: dict[str, Any], defs: dict[str, Any], required: bool) -> Field:
    own, _ = _resolve(schema, defs)
    kind = own.get("type")
    low = own["minimum"] if abs(own.get("minimum", _WIDE)) < _WIDE else None
    high = own["maximum"] if abs(own.get("maximum", _WIDE)) < _WIDE else None
    if "enum" in own:
        return Field(name, "select", required, tuple(str(v) for v in own["enum"]))
    if kind == "integer":
        return Field(name, "integer", required, minimum=low, maximum=high)
    if kind == "number":
        return Field(name, "number", required, minimum=low, maximum=high)
    if kind == "boolean":
        return Field(name, "boolean", required, ("true", "false"))
    if kind == "id":
        return Field(name, "id", required, hint="a number or the station's id")
    if kind == "string" and own.get("format") == "date-time":
        return Field(name, "datetime", required, hint="RFC 3339, e.g. 2026-01-31T12:00:00Z")
    if kind == "string":
        return Field(name, "text", required, max_length=own.get("maxLength"))
    title = own.get("title", "value")
    return Field(name, "json", required, hint=f"JSON ({title})")


@cache
def command_form(action: str, version: OcppVersion) -> CommandForm:
    """The form of `action` in `version`, from its request model's JSON schema."""
    return _form(action, request_model(version, action))


@cache
def action_form(name: str) -> CommandForm:
    """The form of an operator action (`start-session`, ...), from its body's JSON schema."""
    return _form(name, ACTIONS[name])


def _form(name: str, model: type[OcppModel] | type[OperatorAction]) -> CommandForm:
    schema = model.model_json_schema(by_alias=True)
    defs = schema.get("$defs", {})
    required = set(schema.get("required", []))
    fields = tuple(
        _field(name, prop, defs, name in required)
        for name, prop in schema.get("properties", {}).items()
    )
    return CommandForm(name, (model.__doc__ or "").strip(), fields)


def command_forms(version: OcppVersion) -> list[CommandForm]:
    """Every CS->CP action's form in `version`, by name."""
    return [command_form(a, version) for a in sorted(catalog(version).to_station)]


def action_forms() -> list[CommandForm]:
    """The operator actions' forms, each a button that works whatever the station's version."""
    return [action_form(name) for name in ACTIONS]


class FormProblem(Exception):
    """The form does not make a valid request; the message says what to fix."""


def _value(f: Field, raw: str) -> JsonValue:
    try:
        if f.kind == "integer":
            return int(raw)
        if f.kind == "number":
            return float(raw)
        if f.kind == "boolean":
            return {"true": True, "false": False}[raw]
        if f.kind == "json":
            parsed: JsonValue = json.loads(raw)
            return parsed
        if f.kind == "id":
            # Digits alone are the number they spell (1.6 ids), unless written otherwise ("007").
            return int(raw) if raw.isdigit() and str(int(raw)) == raw else raw
    except (ValueError, KeyError):
        raise FormProblem(f"{f.name}: {raw!r} is not a {f.kind} value") from None
    return raw


def _payload(fields: tuple[Field, ...], form: FormData) -> JsonObject:
    payload: JsonObject = {}
    for f in fields:
        raw = str(form.get(f.name) or "").strip()
        if raw == "":
            if f.required:
                raise FormProblem(f"{f.name} is required")
            continue
        payload[f.name] = _value(f, raw)
    return payload


def parse_command(action: str, form: FormData, version: OcppVersion) -> OcppModel:
    """The request the form describes, validated against the action's schema in `version`
    before sending."""
    payload = _payload(command_form(action, version).fields, form)
    return _validated(request_model(version, action), payload)


def parse_action(name: str, form: FormData) -> OperatorAction:
    """The operator action the form describes."""
    return _validated(ACTIONS[name], _payload(action_form(name).fields, form))


def set_variables_request(form: FormData) -> OcppModel:
    """The SetVariables of one device model attribute: the row's key (hidden fields) and the
    value typed in; validated against 2.0.1's schema before sending."""

    def text(name: str) -> str | None:
        raw = str(form.get(name) or "").strip()
        return raw or None

    def number(name: str) -> int | None:
        raw = text(name)
        if raw is None:
            return None
        if not raw.isdigit():
            raise FormProblem(f"{name}: {raw!r} is not a number")
        return int(raw)

    value = str(form.get("value") or "")
    if not value:
        raise FormProblem("value is required")
    # Each part is built on its own: a refusal names the field by its path in the request.
    data = ("setVariableData", 0)
    evse_id = number("evseId")
    evse = None
    if evse_id is not None:
        with _refused_at(*data, "component", "evse"):
            evse = v201.EVSE(id=evse_id, connector_id=number("connectorId"))
    with _refused_at(*data, "component"):
        component = v201.Component(
            name=text("component") or "", instance=text("componentInstance"), evse=evse
        )
    with _refused_at(*data, "variable"):
        variable = v201.Variable(name=text("variable") or "", instance=text("variableInstance"))
    with _refused_at(*data):
        setting = v201.SetVariableData(
            attribute_value=value,
            component=component,
            variable=variable,
            attribute_type=text("attributeType"),
        )
    return v201.SetVariablesRequest(set_variable_data=[setting])


M = TypeVar("M", bound=BaseModel)


def _problem(exc: ValidationError, where: tuple[int | str, ...] = ()) -> FormProblem:
    """Each field `exc` refuses, by its path (under `where`) as the request spells it."""
    return FormProblem(
        "; ".join(
            f"{'.'.join(str(p) for p in (*where, *wire_loc(e['loc']))) or 'request'}: {e['msg']}"
            for e in exc.errors()
        )
    )


@contextmanager
def _refused_at(*where: int | str) -> Iterator[None]:
    """FormProblem when a model built inside refuses what the form gave; `where`: its path."""
    try:
        yield
    except ValidationError as exc:
        raise _problem(exc, where) from None


def _validated(model: type[M], payload: JsonObject) -> M:
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        raise _problem(exc) from None


OUTCOMES = {
    "offline": "Not sent: the charge point is offline",
    "unknown_charge_point": "Not sent: the charge point was never seen",
    "disconnected": "Sent, but the charge point disconnected before answering",
    "busy": "Not sent: too many commands are queued for this charge point",
    "timeout": "No answer in time",
    "invalid": "The charge point answered with a payload that breaks the action's schema",
    "rejected": "The gateway could not read the command",
}
