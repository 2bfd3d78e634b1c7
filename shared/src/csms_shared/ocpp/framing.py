"""OCPP-J framing (OCPP-J 1.6 section 4): CALL, CALLRESULT and CALLERROR in and out."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError

from ._base import JsonObject
from .errors import (
    ErrorCode,
    FormationViolation,
    MessageTypeNotSupported,
    OcppError,
    PropertyConstraintViolation,
    RpcFrameworkError,
    error_for,
    parse_error_code,
    wire_code,
)
from .version import OcppVersion

# OCPP-J 1.6 section 4.1.4: the unique id is a string of at most 36 characters.
MAX_MESSAGE_ID_LENGTH = 36
# OCPP-J 2.0.1 section 4.2.3, used by 1.6 implementations too: the id when none can be read.
UNKNOWN_MESSAGE_ID = "-1"
# No OCPP 1.6 message nests deeper than about six levels; a frame nested far deeper is an
# attack on every recursive walk of it (a RecursionError, or orjson's 254-level dump limit).
MAX_NESTING = 32

M = TypeVar("M", bound=BaseModel)


class MessageType(IntEnum):
    """The message type number in the first element of an OCPP-J frame."""

    CALL = 2
    CALL_RESULT = 3
    CALL_ERROR = 4


@dataclass(slots=True)
class Call:
    """[2, "<id>", "<Action>", {payload}]"""

    message_id: str
    action: str
    payload: JsonObject

    def to_json(self) -> bytes:
        """The frame as sent on the wire."""
        return orjson.dumps([MessageType.CALL, self.message_id, self.action, self.payload])


@dataclass(slots=True)
class CallResult:
    """[3, "<id>", {payload}]"""

    message_id: str
    payload: JsonObject

    def to_json(self) -> bytes:
        """The frame as sent on the wire."""
        return orjson.dumps([MessageType.CALL_RESULT, self.message_id, self.payload])


@dataclass(slots=True)
class CallError:
    """[4, "<id>", "<errorCode>", "<errorDescription>", {errorDetails}]"""

    message_id: str
    error_code: ErrorCode | str
    error_description: str = ""
    error_details: JsonObject = field(default_factory=dict)

    def to_json(self, version: OcppVersion) -> bytes:
        """The frame as sent on the wire to a CP speaking `version` (its spelling of the code)."""
        return orjson.dumps(
            [
                MessageType.CALL_ERROR,
                self.message_id,
                wire_code(self.error_code, version),
                self.error_description,
                self.error_details,
            ]
        )

    def spelled(self, version: OcppVersion) -> CallError:
        """This CALLERROR with its code as `version` spells it on the wire (and in the log)."""
        return CallError(
            self.message_id,
            wire_code(self.error_code, version),
            self.error_description,
            self.error_details,
        )

    @classmethod
    def from_exception(cls, message_id: str, exc: OcppError) -> CallError:
        """The CALLERROR answering a message that raised `exc`."""
        return cls(message_id, exc.code, exc.description, exc.details)


Frame = Call | CallResult | CallError


class FrameError(OcppError):
    """A frame that cannot be read; carries the message id when one could be read."""

    def __init__(self, error: OcppError, message_id: str = UNKNOWN_MESSAGE_ID) -> None:
        super().__init__(error.description, error.details)
        self.code = error.code
        self.message_id = message_id


def parse_frame(data: str | bytes) -> Frame:
    """Read one OCPP-J frame; raise FrameError naming what is wrong with it.

    A frame that is no RPC message at all is an RpcFrameworkError, an unknown message type
    MessageTypeNotSupported (OCPP-J 2.0.1 section 4.3; 1.6 spells them FormationViolation and
    ProtocolError, see `wire_code`); a broken CALL, CALLRESULT or CALLERROR a FormationViolation."""
    try:
        message = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise FrameError(RpcFrameworkError(f"Frame is not valid JSON: {exc}")) from None
    if not isinstance(message, list) or len(message) < 3:
        raise FrameError(RpcFrameworkError("Frame must be a JSON array of 3 to 5 elements"))
    message_type, message_id = message[0], message[1]
    if not isinstance(message_id, str) or not message_id:
        raise FrameError(RpcFrameworkError("Message id must be a non-empty string"))
    if len(message_id) > MAX_MESSAGE_ID_LENGTH:
        raise FrameError(
            RpcFrameworkError(f"Message id longer than {MAX_MESSAGE_ID_LENGTH} characters"),
            message_id[:MAX_MESSAGE_ID_LENGTH],
        )
    if type(message_type) is not int or message_type not in (2, 3, 4):
        raise FrameError(
            MessageTypeNotSupported(f"Unknown message type {message_type!r}"), message_id
        )
    _reject_deep(data, message, message_id)
    if message_type == MessageType.CALL:
        call = _parse_call(message, message_id)
        _reject_nul(data, call.payload, message_id)
        return call
    if message_type == MessageType.CALL_RESULT:
        if len(message) != 3 or not isinstance(message[2], dict):
            raise FrameError(
                FormationViolation("CALLRESULT must be [3, id, {payload}]"), message_id
            )
        return CallResult(message_id, message[2])
    return _parse_call_error(message, message_id)


def find_nul(value: Any, path: str = "payload") -> str | None:
    """The path of the first string holding U+0000, which no database column can store."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            found = find_nul(key, path) or find_nul(item, f"{path}.{key}")
            if found:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = find_nul(item, f"{path}[{index}]")
            if found:
                return found
    return None


def _parse_call(message: list[Any], message_id: str) -> Call:
    if len(message) != 4:
        raise FrameError(FormationViolation("CALL must be [2, id, action, {payload}]"), message_id)
    action, payload = message[2], message[3]
    if not isinstance(action, str) or not action:
        raise FrameError(FormationViolation("Action must be a non-empty string"), message_id)
    if not isinstance(payload, dict):
        raise FrameError(FormationViolation("Payload must be a JSON object"), message_id)
    return Call(message_id, action, payload)


def nesting_depth(value: Any) -> int:
    """How deeply objects and arrays nest in `value` (0 for a scalar), without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = item.values()
        elif not isinstance(item, list):
            continue
        depth += 1
        if depth > deepest:
            deepest = depth
            if deepest > MAX_NESTING:
                break
        stack.extend((child, depth) for child in item)
    return deepest


def _reject_deep(raw: str | bytes, message: list[Any], message_id: str) -> None:
    # Counting brackets is a C loop: the walk runs only for frames that could nest too deeply.
    opening = (b"[", b"{") if isinstance(raw, bytes) else ("[", "{")
    if raw.count(opening[0]) + raw.count(opening[1]) <= MAX_NESTING:  # type: ignore[arg-type]
        return
    if nesting_depth(message) > MAX_NESTING:
        raise FrameError(
            FormationViolation(f"Frame nests deeper than {MAX_NESTING} levels"), message_id
        )


def _reject_nul(raw: str | bytes, payload: Any, message_id: str) -> None:
    # The scan runs only when the raw frame holds the escape at all: free for normal traffic.
    marker = b"\\u0000" if isinstance(raw, bytes) else "\\u0000"
    if marker in raw:  # type: ignore[operator]
        where = find_nul(payload)
        if where:
            raise FrameError(
                PropertyConstraintViolation(f"{where}: strings may not contain U+0000"),
                message_id,
            )


def _parse_call_error(message: list[Any], message_id: str) -> CallError:
    if len(message) not in (4, 5):
        raise FrameError(
            FormationViolation("CALLERROR must be [4, id, code, description, {details}]"),
            message_id,
        )
    code, description = message[2], message[3]
    details = message[4] if len(message) == 5 else {}
    if not isinstance(code, str) or not isinstance(description, str):
        raise FrameError(FormationViolation("Error code and description are strings"), message_id)
    if not isinstance(details, dict):
        raise FrameError(FormationViolation("Error details must be a JSON object"), message_id)
    return CallError(message_id, parse_error_code(code), description, details)


# pydantic error types → the CALLERROR code the spec gives for that kind of fault.
# too_short/too_long are list lengths (minItems/maxItems); strings fail as string_too_long.
_OCCURENCE = frozenset({"missing", "too_short", "too_long"})
_FORMATION = frozenset({"extra_forbidden"})


def _code_for(error_type: str) -> ErrorCode:
    if error_type in _OCCURENCE:
        return ErrorCode.OCCURENCE_CONSTRAINT_VIOLATION
    if error_type in _FORMATION:
        return ErrorCode.FORMATION_VIOLATION
    if error_type.endswith(("_type", "_parsing")) or error_type in {
        "int_from_float",
        "datetime_from_date_parsing",
    }:
        return ErrorCode.TYPE_CONSTRAINT_VIOLATION
    return ErrorCode.PROPERTY_CONSTRAINT_VIOLATION


def _loc(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "payload"


def validation_error_to_ocpp(exc: ValidationError) -> OcppError:
    """The OcppError the spec prescribes for a payload that breaks its schema."""
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    first = errors[0]
    code = _code_for(first["type"])
    description = f"{_loc(first['loc'])}: {first['msg']}"
    details: JsonObject = {
        "errors": [{"loc": _loc(e["loc"]), "type": e["type"], "msg": e["msg"]} for e in errors[:5]]
    }
    return error_for(code, description, details)


def validate_payload(model: type[M], payload: JsonObject) -> M:
    """The payload as `model`, or the OcppError its schema violation deserves."""
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        raise validation_error_to_ocpp(exc) from None
