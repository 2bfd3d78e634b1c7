"""Command forms generated from each action's request schema, and the answer in words."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from pydantic import ValidationError
from starlette.datastructures import FormData

from csms_shared.ocpp._base import OcppModel
from csms_shared.ocpp.v16.actions import ACTIONS, CS_TO_CP_ACTIONS

# Inputs never offered: the widest 64-bit bounds pydantic writes are no useful hint.
_WIDE = 2**53


@dataclass(frozen=True)
class Field:
    """One input of a command form."""

    name: str
    kind: str  # select, integer, number, boolean, datetime, text, json
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
    if kind == "string" and own.get("format") == "date-time":
        return Field(name, "datetime", required, hint="RFC 3339, e.g. 2026-01-31T12:00:00Z")
    if kind == "string":
        return Field(name, "text", required, max_length=own.get("maxLength"))
    title = own.get("title", "value")
    return Field(name, "json", required, hint=f"JSON ({title})")


@cache
def command_form(action: str) -> CommandForm:
    """The form of `action`, from its request model's JSON schema."""
    model = ACTIONS[action].request
    schema = model.model_json_schema(by_alias=True)
    defs = schema.get("$defs", {})
    required = set(schema.get("required", []))
    fields = tuple(
        _field(name, prop, defs, name in required)
        for name, prop in schema.get("properties", {}).items()
    )
    return CommandForm(action, (model.__doc__ or "").strip(), fields)


def command_forms() -> list[CommandForm]:
    """Every CS->CP action's form, by name."""
    return [command_form(a) for a in sorted(CS_TO_CP_ACTIONS)]


class FormProblem(Exception):
    """The form does not make a valid request; the message says what to fix."""


def _value(f: Field, raw: str) -> Any:
    try:
        if f.kind == "integer":
            return int(raw)
        if f.kind == "number":
            return float(raw)
        if f.kind == "boolean":
            return {"true": True, "false": False}[raw]
        if f.kind == "json":
            return json.loads(raw)
    except (ValueError, KeyError):
        raise FormProblem(f"{f.name}: {raw!r} is not a {f.kind} value") from None
    return raw


def parse_command(action: str, form: FormData) -> OcppModel:
    """The request the form describes, validated against the action's schema before sending."""
    payload: dict[str, Any] = {}
    for f in command_form(action).fields:
        raw = str(form.get(f.name) or "").strip()
        if raw == "":
            if f.required:
                raise FormProblem(f"{f.name} is required")
            continue
        payload[f.name] = _value(f, raw)
    try:
        return ACTIONS[action].request.model_validate(payload)
    except ValidationError as exc:
        raise FormProblem(
            "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'request'}: {e['msg']}"
                for e in exc.errors()
            )
        ) from None


OUTCOMES = {
    "offline": "Not sent: the charge point is offline",
    "unknown_charge_point": "Not sent: the charge point was never seen",
    "disconnected": "Sent, but the charge point disconnected before answering",
    "busy": "Not sent: too many commands are queued for this charge point",
    "timeout": "No answer in time",
    "invalid": "The charge point answered with a payload that breaks the action's schema",
    "rejected": "The gateway could not read the command",
}
