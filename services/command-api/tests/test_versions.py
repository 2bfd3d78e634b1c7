"""Commands checked against the station's OCPP version: which version, and the 422 that names
the station's version and the action that does the same in it."""

from __future__ import annotations

import pytest
from fastapi.exceptions import RequestValidationError

from command_api.openapi_names import short_names
from command_api.versions import (
    ALL_ACTIONS,
    UnknownAction,
    WrongVersion,
    matching_actions,
    parse_request,
    version_for,
    version_of,
)
from csms_shared.ocpp.catalog import catalog
from csms_shared.ocpp.v16.messages import ResetRequest as V16Reset
from csms_shared.ocpp.v201.messages import ResetRequest as V201Reset
from csms_shared.ocpp.version import OcppVersion

V16, V201 = OcppVersion.V16, OcppVersion.V201


def test_every_action_of_either_version_can_be_sent() -> None:
    assert ALL_ACTIONS == catalog(V16).to_station | catalog(V201).to_station
    assert {"RequestStartTransaction", "SetVariables", "CostUpdated"} <= ALL_ACTIONS
    assert {"RemoteStartTransaction", "ChangeConfiguration"} <= ALL_ACTIONS


def test_an_action_of_the_other_version_names_the_matching_one() -> None:
    with pytest.raises(WrongVersion) as raised:
        version_for("CP-2", V201, "RemoteStartTransaction")
    problem = raised.value
    assert problem.status == 422
    assert problem.detail == (
        "Charge point 'CP-2' speaks OCPP 2.0.1: RemoteStartTransaction is not an OCPP 2.0.1 "
        "action; send RequestStartTransaction instead"
    )
    assert problem.extensions == {
        "ocppVersion": "2.0.1",
        "action": "RemoteStartTransaction",
        "matchingActions": ["RequestStartTransaction"],
    }
    with pytest.raises(WrongVersion) as raised:
        version_for("CP-1", V16, "GetVariables")
    assert raised.value.extensions["matchingActions"] == ["GetConfiguration"]
    assert "speaks OCPP 1.6" in raised.value.detail


def test_matching_actions_both_ways() -> None:
    assert matching_actions(V201, "GetConfiguration") == (
        "GetVariables",
        "GetBaseReport",
        "GetReport",
    )
    assert matching_actions(V201, "ChangeConfiguration") == ("SetVariables", "SetNetworkProfile")
    assert matching_actions(V16, "RequestStopTransaction") == ("RemoteStopTransaction",)
    assert matching_actions(V16, "SetDisplayMessage") == ()
    for version in OcppVersion:
        for action in ALL_ACTIONS:
            for matching in matching_actions(version, action):
                assert action not in catalog(version).to_station
                assert matching in catalog(version).to_station


def test_the_station_s_version_decides_and_an_unknown_station_takes_the_action_s() -> None:
    assert version_for("CP", V201, "Reset") is V201
    assert version_for("CP", V16, "Reset") is V16
    assert version_for("CP", None, "Reset") is V16
    assert version_for("CP", None, "SetVariables") is V201
    with pytest.raises(UnknownAction):
        version_for("CP", V16, "Teleport")


def test_bodies_are_read_as_the_version_s_request() -> None:
    assert isinstance(parse_request(V201, "Reset", {"type": "OnIdle"}), V201Reset)
    with pytest.raises(RequestValidationError) as raised:
        parse_request(V201, "Reset", {"type": "Soft"})
    assert [e["loc"] for e in raised.value.errors()] == [("body", "type")]
    assert version_of("Reset", V16Reset(type="Hard")) is V16  # type: ignore[arg-type]
    assert version_of("Reset", V201Reset(type="OnIdle")) is V201  # type: ignore[arg-type]
    assert version_of("ClearCache", V201Reset(type="OnIdle")) is None  # type: ignore[arg-type]


def test_schema_names_of_both_versions_stay_apart() -> None:
    names = [
        "csms_shared__ocpp__v16__messages__ResetRequest",
        "csms_shared__ocpp__v201__messages__provisioning__ResetRequest",
        "csms_shared__ocpp__v16__datatypes__ChargingSchedule-Input",
        "SetVariablesRequest",
    ]
    assert short_names(names) == {
        names[0]: "ResetRequest",
        names[1]: "V201ResetRequest",
        names[2]: "ChargingSchedule-Input",
    }
    with pytest.raises(RuntimeError):
        short_names([*names, "ResetRequest"])
