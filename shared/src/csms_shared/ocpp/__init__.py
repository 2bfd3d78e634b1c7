"""OCPP as the spec writes it: the base model, its date-time, and one package per version."""

from ._base import DateTime, JsonObject, OcppModel, format_datetime, json_number, utcnow

__all__ = ["DateTime", "JsonObject", "OcppModel", "format_datetime", "json_number", "utcnow"]
