"""OCPP-J CALLERROR codes (1.6 and 2.0.1) and the exceptions that carry them.

Inside the suite a code has one name, 1.6's spelling; `wire_code` spells it for the version a
connection speaks (2.0.1 renamed two and added two)."""

from __future__ import annotations

from enum import StrEnum

from ._base import JsonObject
from .version import OcppVersion


class ErrorCode(StrEnum):
    """The ten CALLERROR codes of OCPP-J 1.6, section 4.2.3, in the spec's own spelling, and
    the two that OCPP-J 2.0.1 (section 4.3) added."""

    NOT_IMPLEMENTED = "NotImplemented"
    NOT_SUPPORTED = "NotSupported"
    INTERNAL_ERROR = "InternalError"
    PROTOCOL_ERROR = "ProtocolError"
    SECURITY_ERROR = "SecurityError"
    FORMATION_VIOLATION = "FormationViolation"
    PROPERTY_CONSTRAINT_VIOLATION = "PropertyConstraintViolation"
    OCCURENCE_CONSTRAINT_VIOLATION = "OccurenceConstraintViolation"
    TYPE_CONSTRAINT_VIOLATION = "TypeConstraintViolation"
    GENERIC_ERROR = "GenericError"
    # 2.0.1 only: a frame that is no RPC message at all, and an unknown message type number.
    RPC_FRAMEWORK_ERROR = "RpcFrameworkError"
    MESSAGE_TYPE_NOT_SUPPORTED = "MessageTypeNotSupported"


# How each version writes a code where it differs from the one name used inside.
_SPELLINGS: dict[OcppVersion, dict[ErrorCode, str]] = {
    # 1.6 has no code of its own for these: what it used before 2.0.1 named them.
    OcppVersion.V16: {
        ErrorCode.RPC_FRAMEWORK_ERROR: ErrorCode.FORMATION_VIOLATION.value,
        ErrorCode.MESSAGE_TYPE_NOT_SUPPORTED: ErrorCode.PROTOCOL_ERROR.value,
    },
    OcppVersion.V201: {
        ErrorCode.FORMATION_VIOLATION: "FormatViolation",
        ErrorCode.OCCURENCE_CONSTRAINT_VIOLATION: "OccurrenceConstraintViolation",
    },
}


def wire_code(code: ErrorCode | str, version: OcppVersion) -> str:
    """`code` as a CALLERROR of `version` spells it; a code from elsewhere is kept as it is."""
    if isinstance(code, ErrorCode):
        return _SPELLINGS[version].get(code, code.value)
    return code


# OCPP 2.0 spellings that some 1.6 charge points send; understood on the way in.
_ALIASES = {
    "FormatViolation": ErrorCode.FORMATION_VIOLATION,
    "OccurrenceConstraintViolation": ErrorCode.OCCURENCE_CONSTRAINT_VIOLATION,
}


def parse_error_code(value: str) -> ErrorCode | str:
    """The ErrorCode for a code received from a CP; an unknown code is kept as sent."""
    try:
        return ErrorCode(value)
    except ValueError:
        return _ALIASES.get(value, value)


class OcppError(Exception):
    """An error that becomes a CALLERROR with this code."""

    code: ErrorCode = ErrorCode.GENERIC_ERROR

    def __init__(self, description: str = "", details: JsonObject | None = None) -> None:
        super().__init__(description)
        self.description = description
        self.details = details or {}


class NotImplementedOcppError(OcppError):
    code = ErrorCode.NOT_IMPLEMENTED


class NotSupportedError(OcppError):
    code = ErrorCode.NOT_SUPPORTED


class InternalError(OcppError):
    code = ErrorCode.INTERNAL_ERROR


class ProtocolError(OcppError):
    code = ErrorCode.PROTOCOL_ERROR


class SecurityError(OcppError):
    code = ErrorCode.SECURITY_ERROR


class FormationViolation(OcppError):
    code = ErrorCode.FORMATION_VIOLATION


class PropertyConstraintViolation(OcppError):
    code = ErrorCode.PROPERTY_CONSTRAINT_VIOLATION


class OccurenceConstraintViolation(OcppError):
    code = ErrorCode.OCCURENCE_CONSTRAINT_VIOLATION


class TypeConstraintViolation(OcppError):
    code = ErrorCode.TYPE_CONSTRAINT_VIOLATION


class GenericError(OcppError):
    code = ErrorCode.GENERIC_ERROR


class RpcFrameworkError(OcppError):
    code = ErrorCode.RPC_FRAMEWORK_ERROR


class MessageTypeNotSupported(OcppError):
    code = ErrorCode.MESSAGE_TYPE_NOT_SUPPORTED


_BY_CODE: dict[ErrorCode | str, type[OcppError]] = {
    cls.code: cls
    for cls in (
        NotImplementedOcppError,
        NotSupportedError,
        InternalError,
        ProtocolError,
        SecurityError,
        FormationViolation,
        PropertyConstraintViolation,
        OccurenceConstraintViolation,
        TypeConstraintViolation,
        GenericError,
        RpcFrameworkError,
        MessageTypeNotSupported,
    )
}


def error_for(
    code: ErrorCode | str, description: str, details: JsonObject | None = None
) -> OcppError:
    """The OcppError for a code; a code outside the specs' becomes GenericError."""
    return _BY_CODE.get(parse_error_code(code), GenericError)(description, details)
