"""The load-manager answers every RPC method the contracts give it, and receives one OCPP call."""

from __future__ import annotations

from csms_shared.contracts.rpc import RPC_METHODS
from load_manager.app import router
from load_manager.profiles import action_reports, follow_profiles


def test_the_app_answers_every_rpc_method_the_contracts_give_it() -> None:
    owned = {m.name for m in RPC_METHODS.values() if m.service == "load-manager"}
    assert owned and set(router.rpcs) == owned
    assert all(router.rpc_methods[name] is RPC_METHODS[name] for name in owned)


def test_only_command_api_may_call_it_and_it_receives_only_the_profiles_report() -> None:
    assert set(router.rpc_callers.values()) == {frozenset({"command-api"})}
    # ReportChargingProfiles answers its GetChargingProfiles; the registry keeps it too.
    assert list(router.calls) == ["v201.ReportChargingProfiles"]
    assert router.calls["v201.ReportChargingProfiles"].handler is (
        action_reports.report_charging_profiles
    )


def test_the_stored_profiles_follow_their_answers_and_the_stations_boots() -> None:
    # One handler per routing key on a router: a second registration of a key would replace
    # this one without a word.
    assert router.events["command.completed"] is follow_profiles.command_completed
    assert router.events["station.booted"] is follow_profiles.station_booted
    assert router.events["station.connected"] is follow_profiles.station_connected
