"""`meter.current`: the current of a `meter.values`' newest reading, or no event at all."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
import pytest

from csms_shared.contracts.events import MeterCurrent, MeterValues, read_event
from csms_shared.ocpp.version import OcppVersion

AT = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def reading(minutes: int, *samples: dict[str, Any]) -> dict[str, Any]:
    return {"timestamp": AT + timedelta(minutes=minutes), "sampledValue": list(samples)}


def meter(*readings: dict[str, Any], **fields: Any) -> MeterValues:
    return MeterValues.model_validate(
        {
            "at": AT,
            "chargePointId": "CP-1",
            "connectorId": 2,
            "meterValue": list(readings),
            "ocppVersion": "1.6",
        }
        | fields
    )


def amps(value: str, phase: str | None = None, unit: str | None = "A") -> dict[str, Any]:
    sample: dict[str, Any] = {"value": value, "measurand": "Current.Import"}
    if phase:
        sample["phase"] = phase
    if unit:
        sample["unit"] = unit
    return sample


def test_the_newest_readings_highest_current_is_what_the_evse_draws() -> None:
    event = meter(
        reading(1, amps("7.5", "L1"), amps("9.25", "L2"), amps("8", "L3"), {"value": "1200"}),
        reading(0, amps("30", "L1")),
        transactionId=17,
        ocppVersion="2.0.1",
    )
    current = MeterCurrent.of(event)
    assert current is not None
    assert (current.charge_point_id, current.connector_id, current.transaction_id) == (
        "CP-1",
        2,
        17,
    )
    assert current.amps == Decimal("9.25")
    assert current.read_at == AT + timedelta(minutes=1)
    assert current.ocpp_version is OcppVersion.V201
    # What is published reads back through the routing key's model.
    assert read_event("meter.current", current.encode()) == current


@pytest.mark.parametrize(
    "samples",
    [
        [{"value": "1200"}],  # the energy register alone: no event
        [amps("12", unit="W")],  # not in A
        [amps("NaN")],
        [amps("Infinity")],
        [amps("twelve")],
        [],
    ],
)
def test_a_reading_without_a_finite_current_in_amps_has_no_event(
    samples: list[dict[str, Any]],
) -> None:
    assert MeterCurrent.of(meter(reading(0, *samples))) is None


def test_a_current_without_a_unit_counts_in_amps() -> None:
    current = MeterCurrent.of(meter(reading(0, amps("16", unit=None))))
    assert current is not None and current.amps == 16


def test_amps_are_a_json_number() -> None:
    current = MeterCurrent.of(meter(reading(0, amps("16.25"))))
    assert current is not None
    assert orjson.loads(current.encode())["amps"] == 16.25
    whole = MeterCurrent.of(meter(reading(0, amps("32"))))
    assert whole is not None and orjson.loads(whole.encode())["amps"] == 32
