"""`meter.values` for 2.0.1 readings, and `meter.current` beside every `meter.values` whose
newest reading has a Current.Import (`with_current`). `meter.values` for 2.0.1 readings is the
same document as for 1.6, so integrations read both versions' meters alike: its `readings` in
our terms (every measurand, signed data), and the deprecated `meterValue` in 1.6's.

For `meterValue` a 2.0.1 sampled value becomes 1.6's: its number as text with the unit's
multiplier applied (as the table keeps it), the same context, measurand, phase and location. A
value 1.6 cannot name (the Energy.*.Net and Energy.Apparent.* measurands, units such as dBm or
RPM) is left out of `meterValue` rather than mislabelled; `readings` has it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from csms_shared.contracts.event_base import Event
from csms_shared.contracts.events import MeterCurrent, MeterValues
from csms_shared.ocpp import v16
from csms_shared.ocpp.v201 import datatypes as v201
from csms_shared.ocpp.version import OcppVersion
from csms_shared.vocabulary.readings import Reading

from .tx_events import value_text

_MEASURANDS = {m.value for m in v16.Measurand}
_UNITS = {u.value for u in v16.UnitOfMeasure}


def sampled_v16(sv: v201.SampledValue) -> v16.SampledValue | None:
    """`sv` in 1.6's terms, or None when 1.6 has no name for its measurand or unit."""
    measurand = sv.measurand.value if sv.measurand else None
    unit = sv.unit_of_measure.unit if sv.unit_of_measure else None
    if (measurand is not None and measurand not in _MEASURANDS) or (
        unit is not None and unit not in _UNITS
    ):
        return None
    sample = v16.SampledValue(value=value_text(sv))
    if sv.context is not None:
        sample.context = v16.ReadingContext(sv.context.value)
    if measurand is not None:
        sample.measurand = v16.Measurand(measurand)
    if sv.phase is not None:
        sample.phase = v16.Phase(sv.phase.value)
    if sv.location is not None:
        sample.location = v16.Location(sv.location.value)
    if unit is not None:
        sample.unit = v16.UnitOfMeasure(unit)
    return sample


def meter_event(
    readings: list[v201.MeterValue],
    *,
    at: datetime,
    cp_id: str,
    connector_id: int,
    transaction_id: int | None,
) -> MeterValues | None:
    """The `meter.values` event of a 2.0.1 station's readings (its EVSE as the connector,
    our transaction id), or None when there are none."""
    kept: list[v16.MeterValue] = []
    ours: list[Reading] = []
    for reading in readings:
        ours += Reading.from_v201(reading)
        samples = [s for s in map(sampled_v16, reading.sampled_value) if s is not None]
        if samples:
            kept.append(v16.MeterValue(timestamp=reading.timestamp, sampled_value=samples))
    if not ours:
        return None
    event = MeterValues(
        at=at,
        charge_point_id=cp_id,
        connector_id=connector_id,
        evse_id=connector_id,
        readings=ours,
        meter_value=kept,
        ocpp_version=OcppVersion.V201,
    )
    if transaction_id is not None:
        event.transaction_id = transaction_id
    return event


def with_current(events: Iterable[MeterValues | None]) -> list[Event]:
    """The `meter.values` events to publish, each followed by its `meter.current` when its
    newest reading has a current (None, an event not published, is left out)."""
    published: list[Event] = []
    for event in events:
        if event is None:
            continue
        published.append(event)
        if (current := MeterCurrent.of(event)) is not None:
            published.append(current)
    return published
