"""Wire field types both OCPP versions share: 64-bit integers, strict strings, RFC 3339 date-times.

No coercion from other JSON types: a string is never read as a number, a number never as a
string or a date-time.
"""

import calendar
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, StrictInt, StringConstraints

from ._base import DateTime

__all__ = [
    "INT32_MAX",
    "INT32_MIN",
    "INT64_MAX",
    "INT64_MIN",
    "Int32",
    "Integer",
    "OcppDateTime",
    "String",
]


# The schemas set no bound on integers. Meter registers in Wh pass 2**31 on a busy DC charger
# within a few years, and refusing a StopTransaction (1.6) or a TransactionEvent (2.0.1) makes
# the CP retry it forever, so values are accepted up to 64 bits (what the database stores);
# beyond that is refused.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
Integer = Annotated[StrictInt, Field(ge=INT64_MIN, le=INT64_MAX)]

# Connector and EVSE numbers: a station has a handful, and our columns and REST API take 32
# bits. A larger one is refused at the edge with a PropertyConstraintViolation that names it,
# rather than failing the call deep in a service (before: an InternalError, or a notification
# dead-lettered after its retries).
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
Int32 = Annotated[StrictInt, Field(ge=INT32_MIN, le=INT32_MAX)]

# Any JSON string, no coercion from numbers or booleans.
String = Annotated[str, StringConstraints(strict=True)]


_RFC3339 = re.compile(
    r"(?P<year>[0-9]{4})-(?P<month>[0-9]{2})-(?P<day>[0-9]{2})[Tt]"
    r"(?P<hour>[0-9]{2}):(?P<minute>[0-9]{2}):(?P<second>[0-9]{2})(?:\.(?P<fraction>[0-9]+))?"
    r"(?P<offset>[Zz]|(?P<sign>[+-])(?P<offset_hour>[0-9]{2}):(?P<offset_minute>[0-9]{2}))?"
)


def _parse_rfc3339(value: Any) -> Any:
    """An RFC 3339 date-time string (offset optional) as a datetime; datetimes pass through."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise ValueError("a date-time must be an RFC 3339 string")
    match = _RFC3339.fullmatch(value)
    if match is None:
        raise ValueError("not an RFC 3339 date-time (YYYY-MM-DDThh:mm:ss[.fff][Z|±hh:mm])")
    minutes = match["offset_minute"]
    if minutes is not None and minutes > "59":
        # fromisoformat takes +05:60 for +06:00.
        raise ValueError("not a valid UTC offset")
    try:
        # The form matched, so this reads it the same way (fraction cut to microseconds), in C
        # and 4x faster; what it refuses (a lowercase t or z, an invalid date, time or offset)
        # is read below, with the precise error.
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return _from_match(match)
    if parsed.tzinfo is None or parsed.tzinfo is UTC:
        return parsed
    return _in_utc(parsed)


def _from_match(match: re.Match[str]) -> datetime:
    """The date-time an RFC 3339 match spells, or ValueError saying what is out of range."""
    year, month, day = int(match["year"]), int(match["month"]), int(match["day"])
    hour, minute, second = int(match["hour"]), int(match["minute"]), int(match["second"])
    if year < 1 or not 1 <= month <= 12 or not 1 <= day <= calendar.monthrange(year, month)[1]:
        raise ValueError("not a valid calendar date")
    if hour > 23 or minute > 59 or second > 59:
        raise ValueError("not a valid time of day")
    microsecond = int((match["fraction"] or "0")[:6].ljust(6, "0"))
    tzinfo: timezone | None = None
    if match["offset"] is not None:
        if match["sign"] is None:
            tzinfo = UTC
        else:
            offset_hour, offset_minute = int(match["offset_hour"]), int(match["offset_minute"])
            if offset_hour > 23 or offset_minute > 59:
                raise ValueError("not a valid UTC offset")
            offset = timedelta(hours=offset_hour, minutes=offset_minute)
            tzinfo = timezone(-offset if match["sign"] == "-" else offset)
    parsed = datetime(year, month, day, hour, minute, second, microsecond, tzinfo=tzinfo)
    if tzinfo is None:
        return parsed
    return _in_utc(parsed)


def _in_utc(parsed: datetime) -> datetime:
    """An aware date-time in UTC, or ValueError when UTC cannot represent it."""
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError("date-time is outside the representable range in UTC") from None


# `DateTime` that on input takes only RFC 3339 strings (or datetime objects), never numbers.
OcppDateTime = Annotated[DateTime, BeforeValidator(_parse_rfc3339)]
