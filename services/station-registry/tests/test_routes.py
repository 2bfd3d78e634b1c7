"""The registry registers every call it owns when it starts."""

from __future__ import annotations

from csms_shared.contracts.rpc import RPC_METHODS
from station_registry.app import router


def test_the_app_registers_the_calls_the_registry_owns() -> None:
    assert sorted(router.calls) == [
        "v16.BootNotification",
        "v16.DataTransfer",
        "v16.DiagnosticsStatusNotification",
        "v16.FirmwareStatusNotification",
        "v16.LogStatusNotification",
        "v16.SecurityEventNotification",
        "v16.SignCertificate",
        "v16.SignedFirmwareStatusNotification",
        "v16.StatusNotification",
        "v201.BootNotification",
        "v201.ClearedChargingLimit",
        "v201.DataTransfer",
        "v201.FirmwareStatusNotification",
        "v201.Get15118EVCertificate",
        "v201.GetCertificateStatus",
        "v201.LogStatusNotification",
        "v201.NotifyChargingLimit",
        "v201.NotifyCustomerInformation",
        "v201.NotifyDisplayMessages",
        "v201.NotifyEVChargingNeeds",
        "v201.NotifyEVChargingSchedule",
        "v201.NotifyEvent",
        "v201.NotifyMonitoringReport",
        "v201.NotifyReport",
        "v201.PublishFirmwareStatusNotification",
        "v201.ReportChargingProfiles",
        "v201.SecurityEventNotification",
        "v201.SignCertificate",
        "v201.StatusNotification",
    ]


def test_the_app_answers_every_rpc_method_the_contracts_give_it() -> None:
    owned = {m.name for m in RPC_METHODS.values() if m.service == "station-registry"}
    assert set(router.rpcs) == owned
    assert all(router.rpc_methods[name] is RPC_METHODS[name] for name in owned)
