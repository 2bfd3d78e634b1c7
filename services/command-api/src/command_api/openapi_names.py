"""Short schema names in the OpenAPI document where both OCPP versions name a model alike.

Both versions have a `ResetRequest`, a `ChargingProfile`, ...; pydantic then names each by its
module (`csms_shared__ocpp__v16__messages__ResetRequest`). The 1.6 ones keep the short names
they had before 2.0.1 was documented beside them (clients generated from the document keep
working) and the 2.0.1 ones are prefixed `V201`. The suite's own charging models
(`csms_shared.charging`, one profile for both versions) share three of those names
(`ChargingProfile`, `ChargingSchedule`, `CompositeSchedule`): they are prefixed `Neutral`.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI

_QUALIFIED = re.compile(r"csms_shared__ocpp__(v16|v201)__(?:\w+__)*?([A-Za-z0-9]+(?:-\w+)?)$")
_PREFIX = {"v16": "", "v201": "V201"}
_NEUTRAL = re.compile(r"csms_shared__charging__(?:\w+__)*?([A-Za-z0-9]+)(-Input|-Output)?$")
_OTHER_MODE = {"-Input": "-Output", "-Output": "-Input"}
_REFS = "#/components/schemas/"


def short_names(names: list[str]) -> dict[str, str]:
    """The new name of each version-qualified name; RuntimeError if two would be one."""
    renamed: dict[str, str] = {}
    for name in names:
        match = _QUALIFIED.fullmatch(name)
        if match:
            renamed[name] = _PREFIX[match[1]] + match[2]
        neutral = _NEUTRAL.fullmatch(name)
        if neutral:
            renamed[name] = "Neutral" + neutral[1] + (neutral[2] or "")
            # pydantic qualifies a model in the mode (validation, serialization) whose short
            # name another model holds; in its other mode it may keep the short name
            # (`ChargingProfile-Output` beside the qualified `...ChargingProfile-Input`).
            other = _OTHER_MODE.get(neutral[2] or "")
            if other and name.removesuffix(neutral[2]) + other not in names:
                twin = neutral[1] + other
                if twin in names:
                    renamed[twin] = "Neutral" + twin
    kept = set(names) - set(renamed)
    taken = [new for new in renamed.values() if new in kept]
    if taken or len(set(renamed.values())) < len(renamed):
        raise RuntimeError(f"OpenAPI schema names collide: {sorted(taken) or renamed}")
    return renamed


def _rewrite(node: Any, renamed: dict[str, str]) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(_REFS):
            name = ref.removeprefix(_REFS)
            node["$ref"] = _REFS + renamed.get(name, name)
        for value in node.values():
            _rewrite(value, renamed)
    elif isinstance(node, list):
        for value in node:
            _rewrite(value, renamed)
    return node


def rename_schemas(spec: dict[str, Any]) -> None:
    """Rename the version-qualified component schemas of `spec` and every reference to them."""
    schemas: dict[str, Any] = spec.get("components", {}).get("schemas", {})
    renamed = short_names(list(schemas))
    if not renamed:
        return
    shown = {renamed.get(k, k): v for k, v in schemas.items()}
    spec["components"]["schemas"] = {k: shown[k] for k in sorted(shown)}
    _rewrite(spec, renamed)


def install(app: FastAPI) -> None:
    """Generate the document with short OCPP schema names."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            rename_schemas(generate())
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]
