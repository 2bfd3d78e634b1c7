"""A reading: one sampled value of a meter, with every measurand of both versions and the
signed data a calibrated meter adds (German calibration law needs it to bill)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema
from pydantic.alias_generators import to_camel

from ..ocpp._base import json_number
from ..ocpp.v16 import datatypes as v16
from ..ocpp.v16.enums import ValueFormat
from ..ocpp.v201 import datatypes as v201


class Measurand(StrEnum):
    """What is measured: the union of 1.6's and 2.0.1's measurands."""

    CURRENT_EXPORT = "Current.Export"
    CURRENT_IMPORT = "Current.Import"
    CURRENT_OFFERED = "Current.Offered"
    ENERGY_ACTIVE_EXPORT_REGISTER = "Energy.Active.Export.Register"
    ENERGY_ACTIVE_IMPORT_REGISTER = "Energy.Active.Import.Register"
    ENERGY_REACTIVE_EXPORT_REGISTER = "Energy.Reactive.Export.Register"
    ENERGY_REACTIVE_IMPORT_REGISTER = "Energy.Reactive.Import.Register"
    ENERGY_ACTIVE_EXPORT_INTERVAL = "Energy.Active.Export.Interval"
    ENERGY_ACTIVE_IMPORT_INTERVAL = "Energy.Active.Import.Interval"
    ENERGY_ACTIVE_NET = "Energy.Active.Net"
    ENERGY_REACTIVE_EXPORT_INTERVAL = "Energy.Reactive.Export.Interval"
    ENERGY_REACTIVE_IMPORT_INTERVAL = "Energy.Reactive.Import.Interval"
    ENERGY_REACTIVE_NET = "Energy.Reactive.Net"
    ENERGY_APPARENT_NET = "Energy.Apparent.Net"
    ENERGY_APPARENT_IMPORT = "Energy.Apparent.Import"
    ENERGY_APPARENT_EXPORT = "Energy.Apparent.Export"
    FREQUENCY = "Frequency"
    POWER_ACTIVE_EXPORT = "Power.Active.Export"
    POWER_ACTIVE_IMPORT = "Power.Active.Import"
    POWER_FACTOR = "Power.Factor"
    POWER_OFFERED = "Power.Offered"
    POWER_REACTIVE_EXPORT = "Power.Reactive.Export"
    POWER_REACTIVE_IMPORT = "Power.Reactive.Import"
    RPM = "RPM"  # 1.6 only
    SOC = "SoC"
    TEMPERATURE = "Temperature"  # 1.6 only
    VOLTAGE = "Voltage"


class ReadingContext(StrEnum):
    """Why the reading was taken (the same in both versions)."""

    INTERRUPTION_BEGIN = "Interruption.Begin"
    INTERRUPTION_END = "Interruption.End"
    OTHER = "Other"
    SAMPLE_CLOCK = "Sample.Clock"
    SAMPLE_PERIODIC = "Sample.Periodic"
    TRANSACTION_BEGIN = "Transaction.Begin"
    TRANSACTION_END = "Transaction.End"
    TRIGGER = "Trigger"


class Phase(StrEnum):
    L1 = "L1"
    L2 = "L2"
    L3 = "L3"
    N = "N"
    L1_N = "L1-N"
    L2_N = "L2-N"
    L3_N = "L3-N"
    L1_L2 = "L1-L2"
    L2_L3 = "L2-L3"
    L3_L1 = "L3-L1"


class Location(StrEnum):
    BODY = "Body"
    CABLE = "Cable"
    EV = "EV"
    INLET = "Inlet"
    OUTLET = "Outlet"


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)


class SignedData(_Model):
    """A meter's signature over a reading, kept as the station sent it (2.0.1
    SignedMeterValue; 1.6: the value of a sample whose format is SignedData)."""

    signed_meter_data: str
    signing_method: str | None = None
    encoding_method: str | None = None
    public_key: str | None = None


# A reading's number as a JSON number on the wire (whole values stay integers).
Number = Annotated[
    Decimal,
    Field(allow_inf_nan=False),
    PlainSerializer(json_number, return_type=int | float, when_used="json"),
    WithJsonSchema({"type": "number"}),
]


class Reading(_Model):
    """One sampled value: `value` in `unit` (a 2.0.1 multiplier applied); None when the station
    sent no number (a 1.6 sample whose value is only its signed data).

    `from_v16` and `from_v201` build readings of an OCPP model already validated, without
    validating again (`model_construct`): they run for every sampled value of every meter
    message, and the values they take are checked (`_number` keeps only finite numbers)."""

    timestamp: datetime
    measurand: Measurand = Measurand.ENERGY_ACTIVE_IMPORT_REGISTER
    value: Number | None = None
    unit: str | None = None
    phase: Phase | None = None
    location: Location | None = None
    context: ReadingContext = ReadingContext.SAMPLE_PERIODIC
    signed: SignedData | None = None

    @classmethod
    def from_v16(cls, meter_value: v16.MeterValue) -> list[Reading]:
        """The readings of a 1.6 MeterValue (a sample whose value is not a finite number
        keeps no value; one of format SignedData keeps its value as signed data)."""
        found = []
        for sample in meter_value.sampled_value:
            signed = sample.format is ValueFormat.SIGNED_DATA
            found.append(
                cls.model_construct(
                    timestamp=meter_value.timestamp,
                    measurand=Measurand(sample.measurand.value)
                    if sample.measurand
                    else Measurand.ENERGY_ACTIVE_IMPORT_REGISTER,
                    value=None if signed else _number(sample.value),
                    unit=sample.unit.value if sample.unit else None,
                    phase=Phase(sample.phase.value) if sample.phase else None,
                    location=Location(sample.location.value) if sample.location else None,
                    context=ReadingContext(sample.context.value)
                    if sample.context
                    else ReadingContext.SAMPLE_PERIODIC,
                    signed=SignedData.model_construct(signed_meter_data=sample.value)
                    if signed
                    else None,
                )
            )
        return found

    @classmethod
    def from_v201(cls, meter_value: v201.MeterValue) -> list[Reading]:
        """The readings of a 2.0.1 MeterValue, each value times 10^multiplier."""
        found = []
        for sample in meter_value.sampled_value:
            unit = sample.unit_of_measure
            multiplier = (unit.multiplier or 0) if unit else 0
            signed = sample.signed_meter_value
            found.append(
                cls.model_construct(
                    timestamp=meter_value.timestamp,
                    measurand=Measurand(sample.measurand.value)
                    if sample.measurand
                    else Measurand.ENERGY_ACTIVE_IMPORT_REGISTER,
                    value=_number(sample.value, multiplier),
                    unit=unit.unit if unit and unit.unit else None,
                    phase=Phase(sample.phase.value) if sample.phase else None,
                    location=Location(sample.location.value) if sample.location else None,
                    context=ReadingContext(sample.context.value)
                    if sample.context
                    else ReadingContext.SAMPLE_PERIODIC,
                    signed=SignedData.model_construct(
                        signed_meter_data=signed.signed_meter_data,
                        signing_method=signed.signing_method,
                        encoding_method=signed.encoding_method,
                        public_key=signed.public_key,
                    )
                    if signed
                    else None,
                )
            )
        return found


def _number(value: object, multiplier: int = 0) -> Decimal | None:
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    if not number.is_finite():
        return None
    return number.scaleb(multiplier) if multiplier else number
