"""2.0.1 readings told in 1.6's terms for `meter.values`: what 1.6 can name, nothing else."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from csms_shared.ocpp.v201 import datatypes as v201
from session_service.meter_events import meter_event

AT = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def reading(*samples: dict[str, Any]) -> v201.MeterValue:
    return v201.MeterValue.model_validate(
        {"timestamp": "2026-11-25T08:59:00Z", "sampledValue": list(samples)}
    )


def test_readings_keep_their_names_and_the_multiplier_is_applied() -> None:
    event = meter_event(
        [
            reading(
                {
                    "value": 12.5,
                    "context": "Sample.Periodic",
                    "measurand": "Energy.Active.Import.Register",
                    "phase": "L1",
                    "location": "Outlet",
                    "unitOfMeasure": {"unit": "kWh", "multiplier": 1},
                },
                {"value": 16},
            )
        ],
        at=AT,
        cp_id="CS-1",
        connector_id=2,
        transaction_id=7,
    )
    assert event is not None
    body = event.body()
    assert body["ocppVersion"] == "2.0.1"
    assert (body["chargePointId"], body["connectorId"], body["transactionId"]) == ("CS-1", 2, 7)
    assert body["meterValue"] == [
        {
            "timestamp": "2026-11-25T08:59:00Z",
            "sampledValue": [
                {
                    "value": "125",
                    "context": "Sample.Periodic",
                    "measurand": "Energy.Active.Import.Register",
                    "phase": "L1",
                    "location": "Outlet",
                    "unit": "kWh",
                },
                {"value": "16"},
            ],
        }
    ]


def test_what_1_6_cannot_name_is_left_out_of_meter_value_and_kept_in_readings() -> None:
    kept = meter_event(
        [
            reading({"value": 1, "measurand": "Energy.Active.Net"}),
            reading({"value": -70, "unitOfMeasure": {"unit": "dBm"}}, {"value": 230}),
        ],
        at=AT,
        cp_id="CS-1",
        connector_id=1,
        transaction_id=None,
    )
    assert kept is not None
    assert [len(r.sampled_value) for r in kept.meter_value] == [1]
    assert "transactionId" not in kept.body()
    # Our readings have all three, the Net and dBm ones included.
    body = kept.body()
    assert [(r.get("measurand"), r.get("unit"), r["value"]) for r in body["readings"]] == [
        ("Energy.Active.Net", None, 1),
        ("Energy.Active.Import.Register", "dBm", -70),
        ("Energy.Active.Import.Register", None, 230),
    ]
    only_ours = meter_event(
        [reading({"value": 1, "measurand": "Energy.Apparent.Import"})],
        at=AT,
        cp_id="CS-1",
        connector_id=1,
        transaction_id=None,
    )
    # 1.6 can name none of it: its meterValue is empty, the readings have it.
    assert only_ours is not None and only_ours.meter_value == []
    assert only_ours.body()["readings"][0]["measurand"] == "Energy.Apparent.Import"
    assert meter_event([], at=AT, cp_id="CS-1", connector_id=1, transaction_id=None) is None
