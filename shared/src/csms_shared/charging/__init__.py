"""Charging profiles as data: one model for both OCPP versions, their rules, the composite.

`profiles` holds the model, `rules` OCPP's rules per version, `adapters` the 1.6 and 2.0.1
datatypes at the edge, `composite` the composite schedule the CSMS works out from stored
profiles. Everything here is pure: no I/O, no clock.
"""

from .adapters import (
    composite_from_v16,
    composite_from_v201,
    from_v16,
    from_v16_request,
    from_v201,
    from_v201_report,
    from_v201_request,
    to_v16,
    to_v16_request,
    to_v201,
    to_v201_request,
)
from .composite import (
    DEFAULT_PHASES,
    DEFAULT_VOLTAGE,
    ActiveTransaction,
    CompositePeriod,
    CompositeSchedule,
    Limit,
    composite_schedule,
    concerns,
    convert,
    limit_at,
    profile_limit_at,
)
from .profiles import (
    RECURRENCE,
    STATION,
    ChargingProfile,
    ChargingSchedule,
    ProfileKind,
    ProfilePurpose,
    Rate,
    RateUnit,
    RecurrencyKind,
    SchedulePeriod,
)
from .rules import InvalidProfile, ProfileProblem, ProfileUse, check, conflicts, replaced, validate

__all__ = [
    "DEFAULT_PHASES",
    "DEFAULT_VOLTAGE",
    "RECURRENCE",
    "STATION",
    "ActiveTransaction",
    "ChargingProfile",
    "ChargingSchedule",
    "CompositePeriod",
    "CompositeSchedule",
    "InvalidProfile",
    "Limit",
    "ProfileKind",
    "ProfileProblem",
    "ProfilePurpose",
    "ProfileUse",
    "Rate",
    "RateUnit",
    "RecurrencyKind",
    "SchedulePeriod",
    "check",
    "composite_from_v16",
    "composite_from_v201",
    "composite_schedule",
    "concerns",
    "conflicts",
    "convert",
    "from_v16",
    "from_v16_request",
    "from_v201",
    "from_v201_report",
    "from_v201_request",
    "limit_at",
    "profile_limit_at",
    "replaced",
    "to_v16",
    "to_v16_request",
    "to_v201",
    "to_v201_request",
    "validate",
]
