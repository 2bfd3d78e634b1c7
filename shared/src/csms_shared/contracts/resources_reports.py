"""The tariffs and the energy report the session-service answers (named in `resources.py`)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field

from .resources_base import DateTime, Number, Omit, Page, Resource


class Tariff(Resource):
    """Prices for energy, for a session, for its minutes and for its minutes of parking (on top),
    in one currency, excl. VAT (at
    `vat` percent, when stated), in force from `validFrom` (inclusive) to `validTo` (exclusive),
    for the CPs and tags named (a default prices every CP nothing else names)."""

    tariff_id: int
    name: str
    price_per_kwh: Number
    session_fee: Number
    per_minute_fee: Number
    parking_per_minute_fee: Number = Field(
        default=0,
        description="For every minute (by the second) a transaction spends parked, on top of"
        " `perMinuteFee`: in EVConnected, SuspendedEV or Idle, never SuspendedEVSE",
    )
    currency: str
    vat: Number | None = Field(
        default=None,
        description="VAT rate in percent (0-100) the prices exclude; null: the prices carry no"
        " VAT information",
    )
    valid_from: DateTime | None = None
    valid_to: DateTime | None = None
    is_default: bool
    charge_point_ids: list[str]
    tags: list[str]
    created_at: DateTime
    updated_at: DateTime


class AppliedTariff(Resource):
    """What prices a transaction a CP starts at `at`, and why (`chargePoint`, `tag`,
    `default`, or `environment` when no tariff applies and SESSION_TARIFF_* do)."""

    charge_point_id: str
    at: DateTime
    source: Literal["chargePoint", "tag", "default", "environment"]
    tag: str | None = None
    tariff: Tariff | None = None
    price_per_kwh: Number
    session_fee: Number
    per_minute_fee: Number
    parking_per_minute_fee: Number = 0
    currency: str
    vat: Number | None = None


class EnergyTotal(Resource):
    """Transactions, energy and cost in one currency."""

    currency: str
    transactions: int
    energy_wh: int
    energy_kwh: float = Field(alias="energyKWh")
    cost: Number = Field(description="What the drivers pay: incl. VAT where the tariff states it")
    cost_excl_vat: Number = Field(default=0, description="The same, excl. VAT")


class EnergyRow(EnergyTotal):
    """One CP's transactions stopped on one UTC day, under one tariff, in one currency."""

    charge_point_id: str
    day: date
    tariff_id: Omit[int] = Field(
        default=None, description="Absent: priced by the environment's SESSION_TARIFF_*"
    )
    tariff_name: Omit[str] = None


class EnergyTariffTotal(EnergyTotal):
    """The transactions stopped in [from, to) under one tariff, in one currency."""

    tariff_id: Omit[int] = None
    tariff_name: Omit[str] = None


class EnergyReport(Page[EnergyRow]):
    """kWh and cost per CP and day of the transactions stopped in [from, to), with totals per
    currency and per tariff."""

    from_: DateTime = Field(alias="from")
    to: DateTime
    totals: list[EnergyTotal]
    by_tariff: list[EnergyTariffTotal] = Field(default_factory=list)
