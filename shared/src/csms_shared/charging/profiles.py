"""A charging profile in the suite's own terms, the same for OCPP 1.6 and 2.0.1.

The profile the CSMS stores, validates (`rules`), sends (`adapters`) and composes
(`composite`). It holds what both versions can say: one target (1.6 connectorId, 2.0.1 evseId;
0 is the whole station), 1..3 schedules (1.6 has exactly one, 2.0.1 up to three), periods with
a number of phases and, for 2.0.1, the phase to use. Schedule ids are 2.0.1's; 1.6 has none.
What only the ISO 15118 part of 2.0.1 carries (a schedule's salesTariff) and customData are not
kept.

Rates are `Decimal` with at most one digit after the point: the 1.6 schema gives `limit` and
`minChargingRate` `multipleOf: 0.1`, and 2.0.1 says of both "accepts at most one digit
fraction (e.g. 8.1)". On the wire (camelCase, like OCPP) a rate is a JSON number.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
)
from pydantic.alias_generators import to_camel

from ..ocpp._base import DateTime, json_number

__all__ = [
    "RECURRENCE",
    "STATION",
    "ChargingProfile",
    "ChargingSchedule",
    "ProfileKind",
    "ProfilePurpose",
    "Rate",
    "RateUnit",
    "RecurrencyKind",
    "SchedulePeriod",
]

# The target that means the whole station (1.6 connectorId 0, 2.0.1 evseId 0).
STATION = 0


class ProfilePurpose(StrEnum):
    """What a profile limits, named the same for both versions."""

    # 1.6 ChargePointMaxProfile, 2.0.1 ChargingStationMaxProfile: the station as a whole.
    STATION_MAX = "StationMaxProfile"
    # The default for every transaction on the target (0: each connector / EVSE).
    TX_DEFAULT = "TxDefaultProfile"
    # One transaction's own limit.
    TX = "TxProfile"
    # 2.0.1 ChargingStationExternalConstraints: set by a local energy manager, never by the
    # CSMS; a 2.0.1 station reports it (GetChargingProfiles) and it limits the composite.
    EXTERNAL_CONSTRAINTS = "ExternalConstraints"


class ProfileKind(StrEnum):
    """How a schedule is anchored in time (both versions' ChargingProfileKind)."""

    ABSOLUTE = "Absolute"  # from its startSchedule
    RECURRING = "Recurring"  # from its startSchedule, again every day or week
    RELATIVE = "Relative"  # from the start of the transaction


class RecurrencyKind(StrEnum):
    """How often a Recurring schedule starts again."""

    DAILY = "Daily"
    WEEKLY = "Weekly"


# How long a Recurring schedule runs before it starts again, at the time of day (Daily) or of
# the week (Weekly) of its startSchedule.
RECURRENCE = {RecurrencyKind.DAILY: timedelta(days=1), RecurrencyKind.WEEKLY: timedelta(days=7)}


class RateUnit(StrEnum):
    """A schedule's chargingRateUnit: amperes per phase or watts."""

    A = "A"
    W = "W"


def _number(value: Any) -> Any:
    # A rate is a JSON number: a string or a boolean is refused, never read as one.
    if isinstance(value, bool | str):
        raise ValueError("a rate must be a number")
    if isinstance(value, float):
        # repr is the shortest text that reads back as the float: 8.1, never 8.0999999...
        return Decimal(repr(value))
    return value


# A limit or a minimum charging rate: a finite, non-negative number with at most one decimal.
Rate = Annotated[
    Decimal,
    BeforeValidator(_number),
    Field(ge=0, decimal_places=1, allow_inf_nan=False),
    PlainSerializer(json_number, return_type=int | float, when_used="json"),
    WithJsonSchema({"type": "number", "minimum": 0, "multipleOf": 0.1}),
]


class _Model(BaseModel):
    """camelCase on the wire like OCPP; frozen, so a stored profile is a value."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )


class SchedulePeriod(_Model):
    """A limit from `start_period` seconds after the schedule's start until the next period."""

    start_period: int
    limit: Rate
    # How many phases the EV may use; absent means 3 (both versions).
    number_phases: int | None = None
    # 2.0.1 only: the phase (1..3) to charge on when number_phases is 1.
    phase_to_use: int | None = None


class ChargingSchedule(_Model):
    """The periods of a profile in one rate unit, anchored by its kind (see `ProfileKind`)."""

    id: int | None = Field(default=None, description="2.0.1 chargingSchedule id")
    start_schedule: DateTime | None = None
    duration: int | None = Field(default=None, description="Seconds; absent: no end")
    rate_unit: RateUnit
    min_charging_rate: Rate | None = None
    periods: tuple[SchedulePeriod, ...] = Field(min_length=1)


class ChargingProfile(_Model):
    """A charging profile for one target of one station, in either version's terms."""

    id: int
    stack_level: int
    purpose: ProfilePurpose
    kind: ProfileKind
    recurrency_kind: RecurrencyKind | None = None
    valid_from: DateTime | None = None
    valid_to: DateTime | None = None
    # The station's transaction id: 2.0.1's string, or 1.6's integer written in decimal.
    transaction_id: str | None = None
    # 1.6 connectorId / 2.0.1 evseId of SetChargingProfile; 0 (`STATION`) is the station.
    connector_id: int = Field(ge=0)
    schedules: tuple[ChargingSchedule, ...] = Field(min_length=1, max_length=3)
