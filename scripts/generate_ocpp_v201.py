"""Write the OCPP 2.0.1 models (`csms_shared.ocpp.v201`) from the official JSON schemas.

The schemas are the 128 draft-06 files (request and response of 64 actions) that the locked
`ocpp` package ships in `ocpp/v201/schemas`. Every definition of the same name must be the same
in every file apart from its descriptions (which describe the field using it); anything else
stops the generator, as does a keyword it does not translate. The output is formatted and
checked by ruff with the project's settings, so running it twice gives the same bytes.

    .venv/bin/python scripts/generate_ocpp_v201.py            # rewrite the package
    .venv/bin/python scripts/generate_ocpp_v201.py --out DIR  # write elsewhere (the sync test)

Who sends each action, and its functional block, are not in the schemas: they are the table
`ACTIONS` below, from OCPP 2.0.1 part 2.
"""

import argparse
import html
import json
import keyword
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

import ocpp
from pydantic.alias_generators import to_camel

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = Path("shared/src/csms_shared/ocpp/v201")
SCHEMA_DIR = Path(ocpp.__file__).parent / "v201" / "schemas"
# Written by hand, next to the generated modules; the generator never touches it.
HAND_WRITTEN = frozenset({"_model.py"})


class GeneratorError(Exception):
    """The schemas hold something this generator does not translate faithfully."""


# --- What the schemas do not say: functional block and direction (OCPP 2.0.1 part 2) -----------

BLOCKS: dict[str, tuple[str, str]] = {
    "A": ("security", "Security"),
    "B": ("provisioning", "Provisioning"),
    "C": ("authorization", "Authorization"),
    "D": ("local_authorization_list", "LocalAuthorizationListManagement"),
    "E": ("transactions", "Transactions"),
    "F": ("remote_control", "RemoteControl"),
    "G": ("availability", "Availability"),
    "H": ("reservation", "Reservation"),
    "I": ("tariff_and_cost", "TariffAndCost"),
    "J": ("meter_values", "MeterValues"),
    "K": ("smart_charging", "SmartCharging"),
    "L": ("firmware_management", "FirmwareManagement"),
    "M": ("certificate_management", "ISO 15118 CertificateManagement"),
    "N": ("diagnostics", "Diagnostics"),
    "O": ("display_message", "DisplayMessage"),
    "P": ("data_transfer", "DataTransfer"),
}

# Who sends the CALL: "CS" the Charging Station (or Local Controller), "CSMS" the CSMS, "BOTH".
ACTIONS: dict[str, tuple[str, str]] = {
    "Authorize": ("C", "CS"),
    "BootNotification": ("B", "CS"),
    "CancelReservation": ("H", "CSMS"),
    "CertificateSigned": ("A", "CSMS"),
    "ChangeAvailability": ("G", "CSMS"),
    "ClearCache": ("C", "CSMS"),
    "ClearChargingProfile": ("K", "CSMS"),
    "ClearDisplayMessage": ("O", "CSMS"),
    "ClearVariableMonitoring": ("N", "CSMS"),
    "ClearedChargingLimit": ("K", "CS"),
    "CostUpdated": ("I", "CSMS"),
    "CustomerInformation": ("N", "CSMS"),
    "DataTransfer": ("P", "BOTH"),
    "DeleteCertificate": ("M", "CSMS"),
    "FirmwareStatusNotification": ("L", "CS"),
    "Get15118EVCertificate": ("M", "CS"),
    "GetBaseReport": ("B", "CSMS"),
    "GetCertificateStatus": ("M", "CS"),
    "GetChargingProfiles": ("K", "CSMS"),
    "GetCompositeSchedule": ("K", "CSMS"),
    "GetDisplayMessages": ("O", "CSMS"),
    "GetInstalledCertificateIds": ("M", "CSMS"),
    "GetLocalListVersion": ("D", "CSMS"),
    "GetLog": ("N", "CSMS"),
    "GetMonitoringReport": ("N", "CSMS"),
    "GetReport": ("B", "CSMS"),
    "GetTransactionStatus": ("E", "CSMS"),
    "GetVariables": ("B", "CSMS"),
    "Heartbeat": ("G", "CS"),
    "InstallCertificate": ("M", "CSMS"),
    "LogStatusNotification": ("N", "CS"),
    "MeterValues": ("J", "CS"),
    "NotifyChargingLimit": ("K", "CS"),
    "NotifyCustomerInformation": ("N", "CS"),
    "NotifyDisplayMessages": ("O", "CS"),
    "NotifyEVChargingNeeds": ("K", "CS"),
    "NotifyEVChargingSchedule": ("K", "CS"),
    "NotifyEvent": ("N", "CS"),
    "NotifyMonitoringReport": ("N", "CS"),
    "NotifyReport": ("B", "CS"),
    "PublishFirmware": ("L", "CSMS"),
    "PublishFirmwareStatusNotification": ("L", "CS"),
    "ReportChargingProfiles": ("K", "CS"),
    "RequestStartTransaction": ("F", "CSMS"),
    "RequestStopTransaction": ("F", "CSMS"),
    "ReservationStatusUpdate": ("H", "CS"),
    "ReserveNow": ("H", "CSMS"),
    "Reset": ("B", "CSMS"),
    "SecurityEventNotification": ("A", "CS"),
    "SendLocalList": ("D", "CSMS"),
    "SetChargingProfile": ("K", "CSMS"),
    "SetDisplayMessage": ("O", "CSMS"),
    "SetMonitoringBase": ("N", "CSMS"),
    "SetMonitoringLevel": ("N", "CSMS"),
    "SetNetworkProfile": ("B", "CSMS"),
    "SetVariableMonitoring": ("N", "CSMS"),
    "SetVariables": ("B", "CSMS"),
    "SignCertificate": ("A", "CS"),
    "StatusNotification": ("G", "CS"),
    "TransactionEvent": ("E", "CS"),
    "TriggerMessage": ("F", "CSMS"),
    "UnlockConnector": ("F", "CSMS"),
    "UnpublishFirmware": ("L", "CSMS"),
    "UpdateFirmware": ("L", "CSMS"),
}

_SENDER = {"CS": "the Charging Station", "CSMS": "the CSMS", "BOTH": "either side"}
_DIRECTION = {"CS": "_CP", "CSMS": "_CS", "BOTH": "_BOTH"}


# --- Names --------------------------------------------------------------------------------------

# Words the spec writes in mixed case that are one acronym: fullSoC -> full_soc, IKEv2 -> IKEV2.
_ONE_WORD = {"SoC": "Soc", "IKEv2": "Ikev2"}


def _split_words(text: str, *, split_after_digit: bool) -> list[str]:
    for word, plain in _ONE_WORD.items():
        text = text.replace(word, plain)
    text = re.sub(r"[^0-9A-Za-z]+", "_", text)
    before_upper = r"(?<=[a-z0-9])(?=[A-Z])" if split_after_digit else r"(?<=[a-z])(?=[A-Z])"
    text = re.sub(before_upper, "_", text)
    text = re.sub(r"(?<=[A-Z])(?=[A-Z][a-z])", "_", text)  # acronym end: EVSEId -> EVSE_Id
    return [word for word in text.split("_") if word]


def is_int32(owner: str, wire: str) -> bool:
    """Whether property `wire` of `owner` is a connector or EVSE number: 32-bit, as our columns
    and REST API hold them (`_fields.Int32`)."""
    return wire in ("connectorId", "evseId") or (owner in ("EVSE", "EVSEType") and wire == "id")


def field_name(wire: str) -> str:
    """The Python name of a property: snake_case, digits kept with the word before them."""
    name = "_".join(_split_words(wire, split_after_digit=True)).lower()
    if keyword.iskeyword(name):
        name += "_"
    return name


def member_name(value: str) -> str:
    """The name of an enum member: UPPER_SNAKE, `V2GCertificate` -> `V2G_CERTIFICATE`."""
    name = "_".join(_split_words(value, split_after_digit=False)).upper()
    if not name.isidentifier() or keyword.iskeyword(name):
        raise GeneratorError(f"enum value {value!r} gives no valid member name ({name!r})")
    return name


def action_member(action: str) -> str:
    """The member of `Action`: `Get15118EVCertificate` -> `GET15118_EV_CERTIFICATE`."""
    return field_name(action).upper()


def class_name(definition: str, schema: dict[str, Any]) -> str:
    """A definition's class: its name without the trailing `Type`, which is the spec's javaType."""
    name = definition.removesuffix("Type")
    if schema.get("javaType", name) != name:
        raise GeneratorError(f"{definition}: javaType {schema['javaType']!r} is not {name!r}")
    return name


# --- Reading the schemas ------------------------------------------------------------------------

# Keywords this generator translates, per kind of node; any other keyword stops it.
_ROOT_KEYWORDS = {"$schema", "$id", "comment", "definitions"}
_NODE_KEYWORDS = {
    "description",
    "javaType",
    "type",
    "additionalProperties",
    "properties",
    "required",
    "$ref",
    "enum",
    "default",
    "maxLength",
    "format",
    "items",
    "minItems",
    "maxItems",
    "additionalItems",
    "minimum",
    "maximum",
}


def load_schemas(directory: Path) -> dict[str, dict[str, Any]]:
    """Every schema file by its name without `.json` (e.g. `BootNotificationRequest`)."""
    schemas = {
        path.stem: json.loads(path.read_text(encoding="utf-8-sig"))
        for path in sorted(directory.glob("*.json"))
    }
    expected = {f"{action}{kind}" for action in ACTIONS for kind in ("Request", "Response")}
    if set(schemas) != expected:
        difference = sorted(set(schemas) ^ expected)
        raise GeneratorError(f"the schema files and the ACTIONS table differ: {difference}")
    for name, schema in schemas.items():
        if schema.get("$schema") != "http://json-schema.org/draft-06/schema#":
            raise GeneratorError(f"{name}: not a draft-06 schema")
        _check_keywords(schema, name, root=True)
    return schemas


def _check_keywords(node: dict[str, Any], where: str, *, root: bool = False) -> None:
    allowed = _NODE_KEYWORDS | (_ROOT_KEYWORDS if root else set())
    unknown = set(node) - allowed
    if unknown:
        raise GeneratorError(f"{where}: keywords {sorted(unknown)} are not translated")
    if node.get("format", "date-time") != "date-time":
        raise GeneratorError(f"{where}: format {node['format']!r} is not translated")
    if "additionalItems" in node and not (
        node["additionalItems"] is False and isinstance(node.get("items"), dict)
    ):
        # With one schema for all items, draft-06 ignores additionalItems; a tuple would not.
        raise GeneratorError(f"{where}: additionalItems with tuple items is not translated")
    if node.get("additionalProperties", False) is not False:
        raise GeneratorError(f"{where}: additionalProperties other than false is not translated")
    for key, child in node.get("properties", {}).items():
        _check_keywords(child, f"{where}.{key}")
    for key, child in node.get("definitions", {}).items():
        _check_keywords(child, f"{where}#{key}")
    if isinstance(node.get("items"), dict):
        _check_keywords(node["items"], f"{where}[]")


def _without_descriptions(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _without_descriptions(v) for k, v in node.items() if k != "description"}
    if isinstance(node, list):
        return [_without_descriptions(value) for value in node]
    return node


def collect_definitions(schemas: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each definition once; two of one name that differ in more than descriptions are refused.

    The first file (in name order) gives the definition, descriptions included.
    """
    definitions: dict[str, dict[str, Any]] = {}
    first_seen: dict[str, str] = {}
    for file_name, schema in schemas.items():
        for name, definition in schema["definitions"].items():
            if name not in definitions:
                definitions[name], first_seen[name] = definition, file_name
            elif _without_descriptions(definition) != _without_descriptions(definitions[name]):
                raise GeneratorError(
                    f"definition {name} differs between {first_seen[name]}.json and "
                    f"{file_name}.json: give one of them its own name in the generator"
                )
    return dict(sorted(definitions.items()))


# --- The model of the output --------------------------------------------------------------------


@dataclass
class Imports:
    """Names a generated module imports, by module."""

    names: dict[str, set[str]] = field(default_factory=dict)

    def add(self, module: str, name: str) -> None:
        self.names.setdefault(module, set()).add(name)

    def render(self) -> str:
        lines = []
        for module, names in sorted(self.names.items()):
            lines.append(f"from {module} import {', '.join(sorted(names))}")
        return "\n".join(lines)


@dataclass
class Property:
    """One property of an object, as a field of its class."""

    wire: str
    name: str
    annotation: str
    required: bool
    untyped: bool
    default_note: str | None

    @property
    def alias(self) -> str | None:
        """The wire name where the alias generator (`to_camel`) would not give it."""
        return None if to_camel(self.name) == self.wire else self.wire

    def render(self) -> str:
        alias = self.alias
        if self.required:
            value = f' = Field(alias="{alias}")' if alias else ""
        else:
            value = f' = Field(default=None, alias="{alias}")' if alias else " = None"
        annotation = self.annotation
        if not self.required and not self.untyped:
            annotation += " | None"
        note = f"    # {self.default_note}\n" if self.default_note else ""
        return f"{note}    {self.name}: {annotation}{value}"


class Generator:
    """Turns the schemas into the source of each module of the package."""

    def __init__(self, schemas: dict[str, dict[str, Any]]) -> None:
        self.schemas = schemas
        self.definitions = collect_definitions(schemas)
        self.enums = {n: d for n, d in self.definitions.items() if "enum" in d}
        self.objects = {n: d for n, d in self.definitions.items() if "enum" not in d}
        for name, definition in self.enums.items():
            if definition.get("type") != "string" or not name.endswith("EnumType"):
                raise GeneratorError(f"{name}: an enum must be a string *EnumType")
        for name, definition in self.objects.items():
            if definition.get("type") != "object":
                raise GeneratorError(f"{name}: neither an enum nor an object")
        self.classes = {name: class_name(name, d) for name, d in self.definitions.items()}
        self.lengths: set[int] = set()
        self.aliases: set[str] = set()
        self.enum_uses: dict[str, list[str]] = {name: [] for name in self.enums}
        # Object classes first: rendering them records the enum uses and string lengths.
        self.datatype_classes = [self._object_class(name) for name in self._object_order()]
        self.message_classes = {
            name: self._message_class(name, schema) for name, schema in schemas.items()
        }
        taken = [*self.classes.values(), *self.message_classes, *(self._length_names())]
        duplicates = sorted({name for name in taken if taken.count(name) > 1})
        if duplicates:
            raise GeneratorError(f"class names used twice: {duplicates}")

    # Types.

    def _ref(self, schema: dict[str, Any]) -> str:
        return str(schema["$ref"]).removeprefix("#/definitions/")

    def annotation(
        self, schema: dict[str, Any], imports: Imports, package: str, int32: bool = False
    ) -> str:
        """The Python type of a property schema; the names it needs go into `imports`.
        `int32`: a connector or EVSE number (`is_int32`), 32-bit where the schema sets no
        bound."""
        if "$ref" in schema:
            if set(schema) - {"$ref", "description"}:
                raise GeneratorError(f"$ref with siblings: {schema}")
            target = self._ref(schema)
            module = "enums" if target in self.enums else "datatypes"
            imports.add(package + module, self.classes[target])
            return self.classes[target]
        kind = schema.get("type")
        if kind is None:
            if set(schema) - {"description"}:
                raise GeneratorError(f"untyped property with keywords: {schema}")
            imports.add("pydantic", "JsonValue")
            return "JsonValue"
        if kind == "array":
            item = self.annotation(schema["items"], imports, package, int32)
            return self._constrained(
                f"list[{item}]",
                {"min_length": schema.get("minItems"), "max_length": schema.get("maxItems")},
                imports,
            )
        allowed = {
            "string": {"type", "description", "maxLength", "format", "default"},
            "integer": {"type", "description", "minimum", "maximum", "default"},
            "number": {"type", "description", "minimum", "maximum", "default"},
            "boolean": {"type", "description", "default"},
        }
        if kind not in allowed or set(schema) - allowed[kind]:
            raise GeneratorError(f"property schema not translated: {schema}")
        if kind == "string":
            if schema.get("format") == "date-time":
                imports.add(package + "_model", "OcppDateTime")
                return "OcppDateTime"
            if "maxLength" not in schema:
                imports.add(package + "_model", "String")
                return "String"
            length = int(schema["maxLength"])
            self.lengths.add(length)
            imports.add(package + "datatypes", f"String{length}")
            return f"String{length}"
        if kind == "boolean":
            imports.add("pydantic", "StrictBool")
            return "StrictBool"
        bounds = {"ge": schema.get("minimum"), "le": schema.get("maximum")}
        if kind == "number":
            imports.add(package + "_model", "Number")
            return self._constrained("Number", bounds, imports, integral=False)
        if bounds == {"ge": None, "le": None}:
            name = "Int32" if int32 else "Integer"
            imports.add(package + "_model", name)
            return name
        # Bounds in the same Annotated as the int (not around `Integer`, whose before-validator
        # would hide them from the JSON schema); the 64-bit bound stays where none is given.
        for key, default in (("ge", "INT64_MIN"), ("le", "INT64_MAX")):
            if bounds[key] is None:
                bounds[key] = default
                imports.add(package + "_model", default)
            elif float(bounds[key]) != int(bounds[key]):
                raise GeneratorError(f"{key}={bounds[key]!r} on an integer")
            else:
                bounds[key] = int(bounds[key])
        imports.add("typing", "Annotated")
        imports.add("pydantic", "Field")
        imports.add("pydantic", "StrictInt")
        imports.add(package + "_model", "WholeFloatsAsInt")
        return (
            f"Annotated[StrictInt, Field(ge={bounds['ge']}, le={bounds['le']}), WholeFloatsAsInt]"
        )

    def _constrained(
        self, base: str, bounds: dict[str, Any], imports: Imports, integral: bool = True
    ) -> str:
        given = {key: value for key, value in bounds.items() if value is not None}
        if not given:
            return base
        if integral and any(float(value) != int(value) for value in given.values()):
            raise GeneratorError(f"{given} on a count")
        rendered = ", ".join(
            f"{key}={int(value) if integral else value!r}" for key, value in given.items()
        )
        imports.add("typing", "Annotated")
        imports.add("pydantic", "Field")
        return f"Annotated[{base}, Field({rendered})]"

    def _length_names(self) -> list[str]:
        return [f"String{length}" for length in sorted(self.lengths)]

    # Classes.

    def _object_order(self) -> list[str]:
        """Object definitions, each after the ones it refers to, otherwise by name."""
        order: list[str] = []

        def visit(name: str, path: tuple[str, ...]) -> None:
            if name in order:
                return
            if name in path:
                raise GeneratorError(f"recursive definitions: {' -> '.join((*path, name))}")
            for dependency in sorted(self._object_refs(self.objects[name])):
                visit(dependency, (*path, name))
            order.append(name)

        for name in self.objects:
            visit(name, ())
        return order

    def _object_refs(self, node: Any) -> Iterator[str]:
        if isinstance(node, dict):
            if "$ref" in node and self._ref(node) in self.objects:
                yield self._ref(node)
            for value in node.values():
                yield from self._object_refs(value)

    def _fields(
        self, owner: str, schema: dict[str, Any], imports: Imports, package: str
    ) -> list[Property]:
        """The fields of an object: required first, then optional, customData last."""
        properties: dict[str, Any] = schema.get("properties", {})
        required = schema.get("required", [])
        if set(required) - set(properties):
            raise GeneratorError(f"{owner}: required {required} not all in properties")
        fields = []
        for wire, subschema in properties.items():
            untyped = "$ref" not in subschema and "type" not in subschema
            default = subschema.get("default")
            if default is None and "$ref" in subschema:
                default = self.definitions[self._ref(subschema)].get("default")
            self._note_enum_use(subschema.get("items", subschema), owner, field_name(wire))
            fields.append(
                Property(
                    wire=wire,
                    name=field_name(wire),
                    annotation=self.annotation(subschema, imports, package, is_int32(owner, wire)),
                    required=wire in required,
                    untyped=untyped,
                    default_note=(
                        f"Absent means {json.dumps(default)} (the schema's default, not filled in)."
                        if default is not None
                        else None
                    ),
                )
            )
        for prop in fields:
            if prop.alias:
                self.aliases.add(prop.alias)
                imports.add("pydantic", "Field")
        names = [prop.name for prop in fields]
        if len(set(names)) != len(names):
            raise GeneratorError(f"{owner}: two properties give one Python name: {names}")
        fields.sort(key=lambda prop: (not prop.required, prop.wire == "customData"))
        return fields

    def _note_enum_use(self, prop: dict[str, Any], owner: str, name: str) -> None:
        if "$ref" in prop and self._ref(prop) in self.enums:
            self.enum_uses[self._ref(prop)].append(f"{owner}.{name}")

    def _class(
        self,
        name: str,
        docstring: str,
        schema: dict[str, Any],
        imports: Imports,
        package: str,
    ) -> str:
        fields = self._fields(name, schema, imports, package)
        body = [_docstring(docstring, indent=4)]
        if schema.get("additionalProperties", True) is not False:
            imports.add("pydantic", "ConfigDict")
            body.append(
                "    # No additionalProperties: false in the schema: vendors add properties of\n"
                "    # their own, kept as they came and written back by to_payload().\n"
                '    model_config = ConfigDict(extra="allow")'
            )
        untyped = sorted(f.name for f in fields if f.untyped)
        if untyped:
            imports.add("typing", "ClassVar")
            body.append(
                "    json_null_allowed: ClassVar[frozenset[str]] = frozenset("
                f"{{{', '.join(repr(n) for n in untyped)}}})"
            )
        body.append("\n".join(f.render() for f in fields))
        return f"class {name}(V201Model):\n" + "\n\n".join(part for part in body if part)

    def _object_class(self, definition: str) -> tuple[str, str, Imports]:
        schema = self.objects[definition]
        imports = Imports()
        imports.add("._model", "V201Model")
        name = self.classes[definition]
        summary = _summary(schema.get("description"))
        docstring = f"{definition}: {summary}" if summary else f"{definition} of OCPP 2.0.1."
        return name, self._class(name, docstring, schema, imports, "."), imports

    def _message_class(self, schema_name: str, schema: dict[str, Any]) -> tuple[str, Imports]:
        imports = Imports()
        imports.add(".._model", "V201Model")
        is_request = schema_name.endswith("Request")
        action = schema_name.removesuffix("Request" if is_request else "Response")
        block, sender = ACTIONS[action]
        if is_request:
            docstring = f"{action} request, sent by {_SENDER[sender]}."
        elif sender == "BOTH":
            docstring = f"{action} response, the receiver's answer."
        else:
            docstring = f"{action} response, the answer to {_SENDER[sender]}."
        docstring += f" Block {block}, {BLOCKS[block][1]}."
        return self._class(schema_name, docstring, schema, imports, ".."), imports

    # Modules.

    def modules(self) -> dict[Path, str]:
        """Every generated module by its path inside the package."""
        modules = {
            Path("enums.py"): self._enums_module(),
            Path("datatypes.py"): self._datatypes_module(),
            Path("actions.py"): self._actions_module(),
            Path("messages/__init__.py"): self._messages_init(),
            Path("__init__.py"): self._package_init(),
        }
        for letter, (module, title) in BLOCKS.items():
            modules[Path(f"messages/{module}.py")] = self._block_module(letter, title)
        return {path: HEADER + source for path, source in sorted(modules.items())}

    def _enums_module(self) -> str:
        classes = []
        for definition, schema in self.enums.items():
            members = [member_name(value) for value in schema["enum"]]
            if len(set(members)) != len(members):
                raise GeneratorError(f"{definition}: two values give one member name: {members}")
            uses = ", ".join(sorted(set(self.enum_uses[definition]))) or "no field"
            lines = [_docstring(f"{definition}; used by {uses}.", indent=4), ""]
            lines += [f'    {m} = "{v}"' for m, v in zip(members, schema["enum"], strict=True)]
            classes.append(f"class {self.classes[definition]}(StrEnum):\n" + "\n".join(lines))
        names = [self.classes[definition] for definition in self.enums]
        return (
            '"""The OCPP 2.0.1 enumerations: one `StrEnum` per `*EnumType` of the schemas.\n\n'
            "Class names are the schema's without `Type` (`BootReasonEnumType` ->\n"
            "`BootReasonEnum`), members UPPER_SNAKE, values spelled as on the wire and in the\n"
            "schema's order.\n"
            '"""\n\n'
            "from enum import StrEnum\n\n"
            f"{_all(names)}\n\n\n" + "\n\n\n".join(classes) + "\n"
        )

    def _datatypes_module(self) -> str:
        imports = Imports()
        imports.add("typing", "Annotated")
        imports.add("pydantic", "StringConstraints")
        for _, _, class_imports in self.datatype_classes:
            for module, names in class_imports.names.items():
                for name in names:
                    if module != ".datatypes":
                        imports.add(module, name)
        lengths = "\n".join(
            f"String{n} = Annotated[str, StringConstraints(strict=True, max_length={n})]"
            for n in sorted(self.lengths)
        )
        names = [name for name, _, _ in self.datatype_classes] + self._length_names()
        names += ["Integer", "Number", "OcppDateTime", "String"]
        for name in ("Integer", "Number", "OcppDateTime", "String"):
            imports.add("._model", name)
        classes = "\n\n\n".join(source for _, source, _ in self.datatype_classes)
        return (
            '"""The OCPP 2.0.1 datatypes: one model per object definition of the schemas.\n\n'
            "A definition appears in every schema file that uses it; the generator keeps one and\n"
            "checks the others are the same. Class names are the schema's without `Type`\n"
            "(`ChargingStationType` -> `ChargingStation`); `StringN` is a string of at most N\n"
            "characters. Classes come after the ones they refer to, otherwise by name.\n"
            '"""\n\n'
            f"{imports.render()}\n\n{_all(names)}\n\n"
            "# JSON strings of at most N characters (no coercion from other JSON types).\n"
            f"{lengths}\n\n\n{classes}\n"
        )

    def _block_module(self, letter: str, title: str) -> str:
        imports = Imports()
        classes = []
        for action in sorted(a for a, (block, _) in ACTIONS.items() if block == letter):
            for kind in ("Request", "Response"):
                source, class_imports = self.message_classes[f"{action}{kind}"]
                classes.append(source)
                for module, names in class_imports.names.items():
                    for name in names:
                        imports.add(module, name)
        names = [c.split("(", 1)[0].removeprefix("class ") for c in classes]
        return (
            f'"""Request and response payloads of OCPP 2.0.1 block {letter}, {title}."""\n\n'
            f"{imports.render()}\n\n{_all(names)}\n\n\n" + "\n\n\n".join(classes) + "\n"
        )

    def _messages_init(self) -> str:
        # Names imported one by one (not `*`): mypy then sees them through the package too.
        lines, names = [], []
        for letter, (module, _) in BLOCKS.items():
            actions = sorted(a for a, (block, _) in ACTIONS.items() if block == letter)
            classes = [f"{a}{kind}" for a in actions for kind in ("Request", "Response")]
            lines.append(f"from .{module} import {', '.join(classes)}")
            names += classes
        blocks = "\n".join(
            f"* {letter} {title}: `{module}`" for letter, (module, title) in BLOCKS.items()
        )
        return (
            '"""Request and response payloads of the 64 OCPP 2.0.1 actions, one module per\n'
            "functional block of the spec (part 2):\n\n"
            f'{blocks}\n"""\n\n' + "\n".join(lines) + f"\n\n{_all(names)}\n"
        )

    def _actions_module(self) -> str:
        members = "\n".join(
            f'    {action_member(action)} = "{action}"' for action in sorted(ACTIONS)
        )
        specs = []
        for letter, (_, title) in BLOCKS.items():
            specs.append(f"    # {letter} {title}.")
            for action in sorted(a for a, (block, _) in ACTIONS.items() if block == letter):
                direction = _DIRECTION[ACTIONS[action][1]]
                specs.append(
                    f"    ActionSpec(Action.{action_member(action)}, m.{action}Request, "
                    f"m.{action}Response, {direction}),"
                )
        return ACTIONS_TEMPLATE.format(members=members, specs="\n".join(specs))

    def _package_init(self) -> str:
        aliases = ", ".join(f"`{alias}`" for alias in sorted(self.aliases))
        return PACKAGE_INIT.replace("{aliases}", aliases)


def _all(names: list[str]) -> str:
    return "__all__ = [" + ", ".join(f'"{name}"' for name in names) + "]"


def _summary(description: str | None) -> str:
    """The first sentence of a schema description, without the data model's name and urn."""
    lines = [line.strip() for line in html.unescape(description or "").splitlines()]
    if len(lines) > 1 and lines[1].startswith("urn:"):
        lines = lines[2:]
    paragraph = " ".join(lines).strip()
    sentence = re.split(r"(?<=\.)\s", paragraph, maxsplit=1)[0].strip()
    if sentence and not sentence.endswith("."):
        sentence += "."
    return sentence


def _docstring(text: str, indent: int) -> str:
    if '"""' in text or "\\" in text:
        raise GeneratorError(f"text unfit for a docstring: {text!r}")
    pad = " " * indent
    # Room for both quotes on every line: ruff puts the closing ones after a lone line.
    lines = textwrap.wrap(text, width=100 - indent - 6)
    if len(lines) == 1:
        return f'{pad}"""{text}"""'
    return f'{pad}"""' + f"\n{pad}".join(lines) + f'\n{pad}"""'


HEADER = f"""\
# Generated by scripts/generate_ocpp_v201.py from the OCPP 2.0.1 JSON schemas of the `ocpp`
# package ({version("ocpp")}, ocpp/v201/schemas). Do not edit; change the generator and run:
#     .venv/bin/python scripts/generate_ocpp_v201.py
"""

ACTIONS_TEMPLATE = '''\
"""The OCPP 2.0.1 actions: payload models and who initiates them (spec part 2).

The same API as `csms_shared.ocpp.v16.actions`, so callers treat both versions alike: in 2.0.1
terms CP is the Charging Station (or a Local Controller) and CS is the CSMS.
"""

from dataclasses import dataclass
from enum import StrEnum

from .._base import OcppModel
from . import messages as m

__all__ = ["ACTIONS", "CP_TO_CS_ACTIONS", "CS_TO_CP_ACTIONS", "Action", "ActionSpec", "Direction"]


class Action(StrEnum):
    """The action name of a CALL, spelled as on the wire."""

{members}


class Direction(StrEnum):
    """Who sends the CALL of an action: the Charging Station, the CSMS, or either."""

    CP_TO_CS = "CP_TO_CS"
    CS_TO_CP = "CS_TO_CP"
    BOTH = "BOTH"


@dataclass(frozen=True, slots=True)
class ActionSpec:
    """An action with its CALL (request) and CALLRESULT (response) payload models."""

    action: Action
    request: type[OcppModel]
    response: type[OcppModel]
    direction: Direction


_CP, _CS, _BOTH = Direction.CP_TO_CS, Direction.CS_TO_CP, Direction.BOTH

# By functional block; test_models_vs_schemas_v201 names the spec's use case of each direction.
_SPECS = (
{specs}
)

# Every action by its wire spelling (the action field of a CALL).
ACTIONS: dict[str, ActionSpec] = {{str(spec.action): spec for spec in _SPECS}}

# Actions a Charging Station may send as a CALL to the CSMS.
CP_TO_CS_ACTIONS: frozenset[str] = frozenset(
    name for name, spec in ACTIONS.items() if spec.direction in (Direction.CP_TO_CS, Direction.BOTH)
)

# Actions the CSMS may send as a CALL to a Charging Station.
CS_TO_CP_ACTIONS: frozenset[str] = frozenset(
    name for name, spec in ACTIONS.items() if spec.direction in (Direction.CS_TO_CP, Direction.BOTH)
)

if not len(ACTIONS) == len(_SPECS) == len(Action):
    raise RuntimeError("every Action needs exactly one ActionSpec")
'''

PACKAGE_INIT = '''\
"""OCPP 2.0.1: enums, datatypes, message payloads and actions, generated from the schemas.

Layout, as the spec: `enums` (one `StrEnum` per `*EnumType`), `datatypes` (one model per object
definition, shared by the messages), `messages` (`<Action>Request` / `<Action>Response`, named
like the schema files, one module per functional block A-P) and `actions` (`Action`,
`Direction`, `ActionSpec`, `ACTIONS`, `CP_TO_CS_ACTIONS`, `CS_TO_CP_ACTIONS`, as in v16). Every
module but the hand-written `_model` is written by scripts/generate_ocpp_v201.py.

Names: enums and datatypes are the schema's definition names without the trailing `Type` (the
spec's javaType: `IdTokenEnumType` -> `IdTokenEnum`, `IdTokenType` -> `IdToken`); enum members
UPPER_SNAKE (`Energy.Active.Import.Register` -> `ENERGY_ACTIVE_IMPORT_REGISTER`); fields
snake_case with digits kept on their word (`iso15118SchemaVersion` -> `iso15118_schema_version`,
`fullSoC` -> `full_soc`), with an explicit alias wherever `to_camel` of the Python name is not
the wire name ({aliases}).

Validation follows the schemas: strict strings, integers, numbers and booleans (no coercion
between JSON types), maxLength, enums, required, minItems / maxItems, minimum / maximum, RFC 3339
date-times, no additional properties except in `CustomData` (where vendor properties are kept
and written back), and a JSON null refused wherever the schema has a type (DataTransfer `data`
has none: any JSON value, null included). `to_payload()` writes the fields that were given and
nothing else: a schema `default` is never filled in. The deliberate differences from the
schemas (test_models_vs_schemas_v201 holds the list too):

* date-times without an offset are accepted and read as UTC (see `DateTime` in `_base`);
* date-times are rejected when they cannot be represented once converted to UTC (outside years
  1..9999); leap seconds (`:60`) are rejected as the reference RFC 3339 checker rejects them;
* integers are at most 64-bit (`Integer`), connector and EVSE numbers 32-bit (`Int32`); the
  schemas set no bound;
* numbers are read as Python floats: an integer too large for a double (beyond 1.8e308) is
  refused, and an integer given for a `number` is written back as a float (`16` -> `16.0`);
* Python field names (snake_case) are accepted as keys besides the wire names
  (`populate_by_name` of `OcppModel`).

Not a difference: draft-06 counts `1.0` as an integer, so `Integer` takes it (as `1`).
"""

from .actions import *  # noqa: F403
from .actions import __all__ as _actions_all
from .datatypes import *  # noqa: F403
from .datatypes import __all__ as _datatypes_all
from .enums import *  # noqa: F403
from .enums import __all__ as _enums_all
from .messages import *  # noqa: F403
from .messages import __all__ as _messages_all

__all__ = [*_actions_all, *_datatypes_all, *_enums_all, *_messages_all]
'''


# --- Formatting and writing ---------------------------------------------------------------------


def _ruff(*args: str, source: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ruff", *args, "--config", str(ROOT / "pyproject.toml"), "-"],
        input=source,
        capture_output=True,
        text=True,
        check=False,
    )


def formatted(source: str, path: Path) -> str:
    """`source` as ruff leaves it at `path` in this repository: formatted, imports sorted."""
    where = ["--stdin-filename", str(ROOT / PACKAGE / path)]
    steps = (("format",), ("check", "--fix", "--select", "I,RUF022"), ("format",), ("check",))
    for step in steps:
        result = _ruff(*step, "--quiet", *where, source=source)
        if result.returncode:
            raise GeneratorError(
                f"ruff {step[0]} refuses the generated {path}:\n{result.stdout}{result.stderr}"
            )
        if step[0] != "check" or "--fix" in step:
            source = result.stdout
    return source


def generate(out: Path, schema_dir: Path = SCHEMA_DIR) -> list[Path]:
    """Write every generated module under `out`; return their paths relative to it."""
    modules = Generator(load_schemas(schema_dir)).modules()
    for path, source in modules.items():
        target = out / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(formatted(source, path), encoding="utf-8")
    return sorted(modules)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--out", type=Path, default=ROOT / PACKAGE, help="the package directory")
    args = parser.parse_args()
    try:
        written = generate(args.out)
    except GeneratorError as error:
        sys.exit(f"generate_ocpp_v201: {error}")
    stale = sorted(
        path.relative_to(args.out)
        for path in args.out.rglob("*.py")
        if path.relative_to(args.out) not in written and path.name not in HAND_WRITTEN
    )
    if stale:
        sys.exit(f"generate_ocpp_v201: not generated, remove or add to HAND_WRITTEN: {stale}")
    print(f"wrote {len(written)} modules to {args.out}")


if __name__ == "__main__":
    main()
