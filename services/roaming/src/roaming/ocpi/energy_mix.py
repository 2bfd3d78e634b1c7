"""OCPI 2.2.1's EnergyMix (mod_locations.asciidoc): the energy supplied at a Location or with a
Tariff, its sources and environmental impact."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field

from roaming.ocpi.types import Number, OcpiModel, String64

Percentage = Annotated[Number, Field(ge=0, le=100)]


class EnergySourceCategory(StrEnum):
    """EnergySourceCategory: a kind of energy source in an EnergyMix."""

    NUCLEAR = "NUCLEAR"
    GENERAL_FOSSIL = "GENERAL_FOSSIL"
    COAL = "COAL"
    GAS = "GAS"
    GENERAL_GREEN = "GENERAL_GREEN"
    SOLAR = "SOLAR"
    WIND = "WIND"
    WATER = "WATER"


class EnvironmentalImpactCategory(StrEnum):
    """EnvironmentalImpactCategory: a kind of environmental impact in an EnergyMix."""

    NUCLEAR_WASTE = "NUCLEAR_WASTE"
    CARBON_DIOXIDE = "CARBON_DIOXIDE"


class EnergySource(OcpiModel):
    """EnergySource: one source of an EnergyMix and its percentage (0-100)."""

    source: EnergySourceCategory
    percentage: Percentage


class EnvironmentalImpact(OcpiModel):
    """EnvironmentalImpact: one impact of an EnergyMix, in g/kWh."""

    category: EnvironmentalImpactCategory
    amount: Number


class EnergyMix(OcpiModel):
    """EnergyMix: the energy supplied at a Location or with a Tariff, and its supplier."""

    is_green_energy: bool
    energy_sources: list[EnergySource] = Field(default_factory=list)
    environ_impact: list[EnvironmentalImpact] = Field(default_factory=list)
    supplier_name: String64 | None = None
    energy_product_name: String64 | None = None
