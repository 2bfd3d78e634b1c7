"""OCPI 2.2.1's Tariffs module (mod_tariffs.asciidoc): a Tariff, its Tariff Elements, their Price
Components and the restrictions under which an element applies."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field, StringConstraints

from roaming.ocpi.energy_mix import EnergyMix
from roaming.ocpi.hours import TimeOfDay
from roaming.ocpi.locations import NonNegativeInt
from roaming.ocpi.types import (
    CiString36,
    CountryCode,
    DateTime,
    DisplayText,
    Number,
    OcpiModel,
    PartyId,
    Price,
    String3,
    Url,
)

# A local calendar date as mod_tariffs gives it: "2015-12-24".
LocalDate = Annotated[
    str,
    StringConstraints(
        max_length=10,
        pattern=r"^([12][0-9]{3})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$",
    ),
]


class DayOfWeek(StrEnum):
    """DayOfWeek: a day of the week a TariffElement is active on."""

    MONDAY = "MONDAY"
    TUESDAY = "TUESDAY"
    WEDNESDAY = "WEDNESDAY"
    THURSDAY = "THURSDAY"
    FRIDAY = "FRIDAY"
    SATURDAY = "SATURDAY"
    SUNDAY = "SUNDAY"


class ReservationRestrictionType(StrEnum):
    """ReservationRestrictionType: marks a TariffElement as the cost of a (expired) reservation."""

    RESERVATION = "RESERVATION"
    RESERVATION_EXPIRES = "RESERVATION_EXPIRES"


class TariffDimensionType(StrEnum):
    """TariffDimensionType: what a PriceComponent prices (energy, flat fee, time, parking)."""

    ENERGY = "ENERGY"
    FLAT = "FLAT"
    PARKING_TIME = "PARKING_TIME"
    TIME = "TIME"


class TariffType(StrEnum):
    """TariffType: which sessions a Tariff applies to (ad-hoc payment, a charging profile...)."""

    AD_HOC_PAYMENT = "AD_HOC_PAYMENT"
    PROFILE_CHEAP = "PROFILE_CHEAP"
    PROFILE_FAST = "PROFILE_FAST"
    PROFILE_GREEN = "PROFILE_GREEN"
    REGULAR = "REGULAR"


class PriceComponent(OcpiModel):
    """PriceComponent: the price (excl. VAT) per unit of one dimension, billed in step_size."""

    type: TariffDimensionType
    price: Number
    vat: Number | None = None
    step_size: NonNegativeInt


class TariffRestrictions(OcpiModel):
    """TariffRestrictions: the conditions (all of them) under which a TariffElement applies."""

    start_time: TimeOfDay | None = None
    end_time: TimeOfDay | None = None
    start_date: LocalDate | None = None
    end_date: LocalDate | None = None
    min_kwh: Number | None = None
    max_kwh: Number | None = None
    min_current: Number | None = None
    max_current: Number | None = None
    min_power: Number | None = None
    max_power: Number | None = None
    min_duration: NonNegativeInt | None = None
    max_duration: NonNegativeInt | None = None
    day_of_week: list[DayOfWeek] = Field(default_factory=list)
    reservation: ReservationRestrictionType | None = None


class TariffElement(OcpiModel):
    """TariffElement: Price Components that apply together under the same restrictions."""

    price_components: Annotated[list[PriceComponent], Field(min_length=1)]
    restrictions: TariffRestrictions | None = None


class Tariff(OcpiModel):
    """Tariff: how a CPO prices charging (its elements), owned by `country_code`/`party_id`."""

    country_code: CountryCode
    party_id: PartyId
    id: CiString36
    currency: String3
    type: TariffType | None = None
    tariff_alt_text: list[DisplayText] = Field(default_factory=list)
    tariff_alt_url: Url | None = None
    min_price: Price | None = None
    max_price: Price | None = None
    elements: Annotated[list[TariffElement], Field(min_length=1)]
    start_date_time: DateTime | None = None
    end_date_time: DateTime | None = None
    energy_mix: EnergyMix | None = None
    last_updated: DateTime
