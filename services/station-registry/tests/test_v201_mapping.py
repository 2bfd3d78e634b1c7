"""How 2.0.1 BootNotification and StatusNotification map onto the registry's own (1.6) values."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from csms_shared.ocpp.v16.messages import BootNotificationRequest
from csms_shared.ocpp.v201.enums import ConnectorStatusEnum
from csms_shared.ocpp.v201.messages import (
    BootNotificationRequest as V201Boot,
)
from csms_shared.ocpp.v201.messages import (
    StatusNotificationRequest as V201Status,
)
from csms_shared.ocpp.version import OcppVersion
from station_registry.action_boot import boot_of_v16, boot_of_v201
from station_registry.action_status import Statuses, StatusRead, status_of_v201, status_row

T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


def test_a_201_boot_names_its_station_as_16_does() -> None:
    boot = boot_of_v201(
        V201Boot.model_validate(
            {
                "reason": "PowerUp",
                "chargingStation": {
                    "vendorName": "A vendor name longer than twenty",
                    "model": "M-2",
                    "serialNumber": "SN-9",
                    "firmwareVersion": "2.4.1",
                    "modem": {"iccid": "8931", "imsi": "2620"},
                },
            }
        )
    )
    assert boot == {
        "charge_point_vendor": "A vendor name longer than twenty",
        "charge_point_model": "M-2",
        "charge_point_serial_number": "SN-9",
        "charge_box_serial_number": None,
        "firmware_version": "2.4.1",
        "iccid": "8931",
        "imsi": "2620",
        "meter_type": None,
        "meter_serial_number": None,
        "reason": "PowerUp",
    }


def test_a_201_boot_without_modem_or_serial_leaves_them_unknown() -> None:
    boot = boot_of_v201(
        V201Boot.model_validate(
            {"reason": "Watchdog", "chargingStation": {"vendorName": "V", "model": "M"}}
        )
    )
    assert (boot["iccid"], boot["imsi"], boot["charge_point_serial_number"]) == (None, None, None)
    assert boot["reason"] == "Watchdog"


def test_a_16_boot_is_its_own_neutral_form_without_a_reason() -> None:
    request = BootNotificationRequest(
        charge_point_vendor="V", charge_point_model="M", meter_type="AC", iccid="1"
    )
    boot = boot_of_v16(request)
    assert boot["reason"] is None
    assert {k: v for k, v in boot.items() if k != "reason"} == {
        "charge_point_vendor": "V",
        "charge_point_model": "M",
        "charge_point_serial_number": None,
        "charge_box_serial_number": None,
        "firmware_version": None,
        "iccid": "1",
        "imsi": None,
        "meter_type": "AC",
        "meter_serial_number": None,
    }


def v201_status(status: str, evse: int = 2, connector: int = 1) -> V201Status:
    return V201Status.model_validate(
        {
            "timestamp": T0.isoformat(),
            "connectorStatus": status,
            "evseId": evse,
            "connectorId": connector,
        }
    )


@pytest.mark.parametrize(
    ("status", "neutral", "error"),
    [
        ("Available", "Available", "NoError"),
        ("Occupied", "Preparing", "NoError"),
        ("Reserved", "Reserved", "NoError"),
        ("Unavailable", "Unavailable", "NoError"),
        ("Faulted", "Faulted", "OtherError"),
    ],
)
def test_each_201_connector_status_has_a_16_status(status: str, neutral: str, error: str) -> None:
    read = status_of_v201(v201_status(status))
    assert (read.status.value, read.error_code.value) == (neutral, error)


def test_every_201_connector_status_is_mapped() -> None:
    for status in ConnectorStatusEnum:
        assert status_of_v201(v201_status(status.value)).connector_id == 2


def test_the_evse_is_the_connector_and_its_connector_is_kept_beside_it() -> None:
    request = status_of_v201(v201_status("Occupied", evse=3, connector=2))
    report = StatusRead.of_v201(v201_status("Occupied", evse=3, connector=2)).report
    row = status_row(request, "CS-1", T0, report=report, evse_connector_id=2)
    assert (row["connector_id"], row["evse_connector_id"], row["at"]) == (3, 2, T0)
    # The history keeps our terms: Occupied, no charging state (1.6's spelling says Preparing).
    assert (row["status"], row["connector_status"], row["charging_state"]) == (
        "Preparing",
        "Occupied",
        None,
    )
    statuses = Statuses()
    StatusRead.of_v201(v201_status("Occupied", evse=3, connector=2)).add_to(statuses, "CS-1", T0)
    [(stored, read)] = statuses.history.values()
    assert stored == row
    assert (stored["status"], read.version) == ("Preparing", OcppVersion.V201)
    # In our terms: EVSE 3's connector 2 is Occupied (no charging state: TransactionEvent says).
    [ours] = statuses.newest_ours.values()
    assert (ours["evse_id"], ours["connector_id"], ours["status"]) == (3, 2, "Occupied")
    assert ours["charging_state"] is None
    event = read.event(stored)
    assert (event.evse_id, event.evse_connector_id, event.connector_status) == (3, 2, "Occupied")
    assert (event.connector_id, event.status) == (3, "Preparing")
