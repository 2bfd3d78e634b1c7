"""OCPP date-times are read as RFC 3339 spells them, whichever way the parser takes: every
form the grammar allows reads as its fields say (fraction cut to microseconds, offsets moved
to UTC), and every out-of-range field is refused with the error that names it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from csms_shared.ocpp.v16 import HeartbeatResponse


def _read(text: str) -> datetime:
    return HeartbeatResponse.model_validate({"currentTime": text}).current_time


@st.composite
def _spelled(draw: st.DrawFn) -> tuple[str, datetime]:
    """An RFC 3339 date-time in any of its spellings, and the instant it names (in UTC)."""
    at = draw(st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31)))
    digits = draw(st.text("0123456789", min_size=0, max_size=9))
    micro = int(digits[:6].ljust(6, "0")) if digits else 0
    at = at.replace(microsecond=micro)
    zone = draw(st.sampled_from(["", "Z", "z", "offset"]))
    sep = draw(st.sampled_from(["T", "t"]))
    day = f"{at.year:04d}-{at.month:02d}-{at.day:02d}"  # %Y drops zeros before 1000
    text = f"{day}{sep}{at:%H:%M:%S}" + (f".{digits}" if digits else "")
    if zone == "offset":
        minutes = draw(st.integers(-(23 * 60 + 59), 23 * 60 + 59))
        sign, size = ("-" if minutes < 0 else "+"), abs(minutes)
        text += f"{sign}{size // 60:02d}:{size % 60:02d}"
        return text, at.replace(tzinfo=timezone(timedelta(minutes=minutes))).astimezone(UTC)
    return text + zone, at.replace(tzinfo=UTC)  # a time without offset is taken as UTC


@given(_spelled())
def test_every_spelling_reads_as_its_fields_say(case: tuple[str, datetime]) -> None:
    text, instant = case
    read = _read(text)
    assert read == instant
    assert read.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("2026-02-30T10:00:00Z", "not a valid calendar date"),
        ("0000-01-01T10:00:00Z", "not a valid calendar date"),
        ("2026-11-28T24:00:00Z", "not a valid time of day"),
        ("2026-11-28T10:00:60Z", "not a valid time of day"),
        ("2026-11-28t10:61:00z", "not a valid time of day"),
        ("2026-11-28T10:00:00+24:00", "not a valid UTC offset"),
        ("2026-11-28T10:00:00+05:60", "not a valid UTC offset"),
        ("2026-11-28T10:00:00-00:99", "not a valid UTC offset"),
        ("2026-11-28 10:00:00Z", "not an RFC 3339 date-time"),
        ("20261128T100000Z", "not an RFC 3339 date-time"),
        ("0001-01-01T00:00:00+01:00", "outside the representable range in UTC"),
    ],
)
def test_an_out_of_range_field_is_named(text: str, error: str) -> None:
    with pytest.raises(ValidationError, match=error):
        _read(text)
