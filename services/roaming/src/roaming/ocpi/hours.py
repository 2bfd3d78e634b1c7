"""OCPI 2.2.1's Hours (mod_locations.asciidoc): when a Location's EVSEs can be used, 24/7 or by
weekday in local time, with exceptional openings and closings."""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import Field, StringConstraints, model_validator

from roaming.ocpi.types import DateTime, OcpiModel

# A local time of day ("18:15"), as mod_locations' regular expression gives it.
TimeOfDay = Annotated[
    str, StringConstraints(max_length=5, pattern=r"^([0-1][0-9]|2[0-3]):[0-5][0-9]$")
]


class RegularHours(OcpiModel):
    """RegularHours: a weekday's opening period in local time ("08:00" to "20:00")."""

    weekday: Annotated[int, Field(ge=1, le=7)]
    period_begin: TimeOfDay
    period_end: TimeOfDay

    @model_validator(mode="after")
    def _end_after_begin(self) -> Self:
        # "HH:MM" strings compare in time order.
        if self.period_end <= self.period_begin:
            raise ValueError("period_end must be later than period_begin")
        return self


class ExceptionalPeriod(OcpiModel):
    """ExceptionalPeriod: a UTC period in which a Location is exceptionally open or closed."""

    period_begin: DateTime
    period_end: DateTime


class Hours(OcpiModel):
    """Hours: when a Location's EVSEs can be used: 24/7, or regular hours, plus exceptions."""

    twentyfourseven: bool
    regular_hours: list[RegularHours] = Field(default_factory=list)
    exceptional_openings: list[ExceptionalPeriod] = Field(default_factory=list)
    exceptional_closings: list[ExceptionalPeriod] = Field(default_factory=list)

    @model_validator(mode="after")
    def _regular_hours_unless_24_7(self) -> Self:
        if self.twentyfourseven and self.regular_hours:
            raise ValueError("regular_hours is only used when twentyfourseven is false")
        if not self.twentyfourseven and not self.regular_hours:
            raise ValueError("regular_hours needs at least one entry when twentyfourseven is false")
        return self
