"""Secret variables of OCPP 2.0.1's device model: which (component, variable) pairs are secret,
and their values redacted in every message that names them (`redact_variables`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .url_passwords import REDACTED, redact_echo


def key_name(name: str) -> str:
    """A configuration key as keys are compared: trimmed and case-folded, as most CPs match
    them (" AuthorizationKey" and "authorizationkey" name the same secret)."""
    return name.strip().casefold()


# A variable is named by its component and its own name; these pairs are secret whatever the
# deployment configures (the HTTP Basic password, A00.FR.20x).
SECRET_VARIABLES = frozenset({("securityctrlr", "basicauthpassword")})


def variable_name(value: Any) -> str | None:
    """The `name` of a component or variable object, if it has a string one."""
    name = value.get("name") if isinstance(value, dict) else None
    return name if isinstance(name, str) else None


def named_variables(entries: Any) -> Iterator[tuple[str, str]]:
    """(component, variable) of every entry of a SetVariables, GetVariables or GetVariables
    answer list that names both."""
    for entry in entries if isinstance(entries, list) else []:
        component = variable_name(entry.get("component")) if isinstance(entry, dict) else None
        variable = variable_name(entry.get("variable")) if isinstance(entry, dict) else None
        if component is not None and variable is not None:
            yield component, variable


def secret_variable(component: str, variable: str, secrets: frozenset[str]) -> bool:
    """Whether a 2.0.1 variable's value is secret: `SecurityCtrlr.BasicAuthPassword`, or one
    the deployment's secret keys name, as `Component.Variable` or by the variable's name."""
    pair = (key_name(component), key_name(variable))
    return pair in SECRET_VARIABLES or bool({pair[1], f"{pair[0]}.{pair[1]}"} & secrets)


def secret_entry(entry: Any, secrets: frozenset[str]) -> bool:
    return any(secret_variable(c, v, secrets) for c, v in named_variables([entry]))


# Every message of 2.0.1 that names a component and a variable (a test derives it from the
# schemas): only these are walked for secret variables.
VARIABLE_ACTIONS = frozenset(
    {
        "GetReport",
        "GetVariables",
        "NotifyReport",
        "SetVariables",
        "GetMonitoringReport",
        "NotifyEvent",
        "NotifyMonitoringReport",
        "SetVariableMonitoring",
    }
)
# Where an entry that names a variable holds its value (SetVariableData, GetVariableResult,
# EventData), and free text about it (EventData's techCode and techInfo).
_VALUE_FIELDS = ("attributeValue", "actualValue")
_TEXT_FIELDS = ("techCode", "techInfo")
# Lists of an entry whose items hold a value: the variable's (ReportData's attributes), or a
# monitor's threshold (MonitoringData), redacted but not looked for elsewhere.
_VALUE_LISTS = {"variableAttribute": True, "variableMonitoring": False}
# A value shorter than this is not looked for in the message's other strings: "0" or "true"
# would take every digit and word with it (the field itself is always redacted).
_ECHO_MIN = 4


def redact_variables(payload: Any, secrets: frozenset[str]) -> Any:
    """A 2.0.1 payload with the value of every secret variable it names replaced, at any
    depth, in whichever message names it (SetVariables and its result, GetVariables' answer,
    NotifyReport, NotifyEvent, NotifyMonitoringReport, ...), and those values removed from
    every other string of the message too (a techInfo or customData that repeats them).
    `secrets` are `secret_keys`: `SecurityCtrlr.BasicAuthPassword` always."""
    found: list[str] = []
    redacted = _walk(payload, secrets, found)
    values = sorted({v for v in found if len(v) >= _ECHO_MIN and v != REDACTED}, key=len)[::-1]
    return redact_echo(redacted, values, urls=False) if values else redacted


def _walk(value: Any, secrets: frozenset[str], found: list[str]) -> Any:
    if isinstance(value, list):
        items = [_walk(item, secrets, found) for item in value]
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items
    if not isinstance(value, dict):
        return value
    if secret_entry(value, secrets):
        return _blanked(value, found)
    changed = {k: _walk(v, secrets, found) for k, v in value.items()}
    return value if all(changed[k] is v for k, v in value.items()) else changed


def _blanked(entry: dict[str, Any], found: list[str]) -> dict[str, Any]:
    """An entry naming a secret variable with its values and free text replaced (noted in
    `found`), and the strings of its customData."""
    blank = dict(entry)
    for field in (*_VALUE_FIELDS, *_TEXT_FIELDS):
        if field in blank:
            if field in _VALUE_FIELDS:
                found.append(str(blank[field]))
            blank[field] = REDACTED
    for field, values in _VALUE_LISTS.items():
        items = blank.get(field)
        if isinstance(items, list):
            blank[field] = [_blanked_item(item, found if values else []) for item in items]
    if "customData" in blank:
        blank["customData"] = _blanked_custom(blank["customData"])
    return blank


def _blanked_item(item: Any, found: list[str]) -> Any:
    if not isinstance(item, dict):
        return item
    blank = dict(item)
    if "value" in blank:
        found.append(str(blank["value"]))
        blank["value"] = REDACTED
    if "customData" in blank:
        blank["customData"] = _blanked_custom(blank["customData"])
    return blank


def _blanked_custom(data: Any) -> Any:
    """customData (any keys a vendor chose) with every value but its vendorId replaced."""
    if not isinstance(data, dict):
        return REDACTED
    return {k: v if k == "vendorId" else REDACTED for k, v in data.items()}
