"""The registry registers every call it owns when it starts."""

from __future__ import annotations

from station_registry.app import router


def test_the_app_registers_the_calls_the_registry_owns() -> None:
    assert sorted(router.calls) == [
        "BootNotification",
        "DataTransfer",
        "DiagnosticsStatusNotification",
        "FirmwareStatusNotification",
        "LogStatusNotification",
        "SecurityEventNotification",
        "SignCertificate",
        "SignedFirmwareStatusNotification",
        "StatusNotification",
    ]
