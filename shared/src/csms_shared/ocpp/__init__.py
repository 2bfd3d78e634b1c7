"""OCPP as the spec writes it: the base model, its date-time, and one package per version."""

from ._base import DateTime, JsonObject, OcppModel, format_datetime, json_number, utcnow
from ._fields import INT32_MAX, INT32_MIN

__all__ = [
    "INT32_MAX",
    "INT32_MIN",
    "DateTime",
    "JsonObject",
    "OcppModel",
    "format_datetime",
    "json_number",
    "utcnow",
]
