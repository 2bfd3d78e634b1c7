"""The one base class of every OCPP message and datatype model, and the date-time type."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, JsonValue, PlainSerializer
from pydantic.alias_generators import to_camel

# A JSON object passed through as the CP or the back office wrote it (an OCPP payload, the
# details of a CALLERROR): checked to be JSON, its fields typed by the message's own model.
JsonObject = dict[str, JsonValue]


def _as_utc(value: datetime) -> datetime:
    # Some CP firmwares send naive local-less times; OCPP means UTC, so read them as UTC.
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def json_number(value: Decimal) -> int | float:
    """A decimal as a JSON number: whole values stay integers (32, not 32.0)."""
    return int(value) if value == value.to_integral_value() else float(value)


def format_datetime(value: datetime) -> str:
    """RFC 3339 in UTC with a `Z` suffix, milliseconds only when there are any."""
    value = _as_utc(value)
    # Not strftime("%Y"): glibc does not pad years below 1000 to the four digits RFC 3339 wants.
    text = (
        f"{value.year:04d}-{value.month:02d}-{value.day:02d}"
        f"T{value.hour:02d}:{value.minute:02d}:{value.second:02d}"
    )
    if value.microsecond:
        return f"{text}.{value.microsecond // 1000:03d}Z"
    return text + "Z"


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


# Incoming: any RFC 3339 offset; outgoing: always UTC with `Z` (see ARCHITECTURE.md).
DateTime = Annotated[
    datetime,
    AfterValidator(_as_utc),
    PlainSerializer(format_datetime, return_type=str, when_used="json"),
]


class OcppModel(BaseModel):
    """Base of every OCPP payload: camelCase on the wire, snake_case in Python, no extras."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        use_enum_values=False,
    )

    def to_payload(self) -> JsonObject:
        """The JSON-ready payload as the spec spells it; unset optionals are left out."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)
