"""The registry registers every call it owns when it starts."""

from __future__ import annotations

from csms_shared.contracts.rpc import RPC_METHODS
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


def test_the_app_answers_every_rpc_method_the_contracts_give_it() -> None:
    owned = {m.name for m in RPC_METHODS.values() if m.service == "station-registry"}
    assert set(router.rpcs) == owned
    assert all(router.rpc_methods[name] is RPC_METHODS[name] for name in owned)
