"""A command's answer read through its action's response model, in the version it was sent in."""

from __future__ import annotations

from command_api.api.charge_point_security import key_answer
from command_api.api.command_sending import Sent
from command_api.versions import response_model
from csms_shared.ocpp import v16, v201
from csms_shared.ocpp.version import OcppVersion

V16, V201 = OcppVersion.V16, OcppVersion.V201

SET_VARIABLE_RESULT = {
    "attributeStatus": "RebootRequired",
    "component": {"name": "SecurityCtrlr"},
    "variable": {"name": "BasicAuthPassword"},
}


def test_the_answer_is_the_response_model_of_the_version_sent_in() -> None:
    assert response_model(V16, "SendLocalList") is v16.SendLocalListResponse
    assert response_model(V201, "SendLocalList") is v201.SendLocalListResponse
    old = Sent("c-1", {"status": "VersionMismatch"}, response_model(V16, "SendLocalList"))
    assert old.answer() == v16.SendLocalListResponse(status=v16.UpdateStatus.VERSION_MISMATCH)
    new = Sent("c-2", {"status": "Failed"}, response_model(V201, "SendLocalList"))
    assert new.answer() == v201.SendLocalListResponse(status=v201.SendLocalListStatusEnum.FAILED)


def test_no_answer_when_not_waited_for_or_when_it_does_not_read() -> None:
    assert Sent("c-1", None, v16.ResetResponse).answer() is None
    assert Sent("c-2", {}, v16.ResetResponse).answer() is None
    assert Sent("c-3", {"status": "Maybe"}, v16.ResetResponse).answer() is None


def test_the_key_answer_is_1_6_s_status_or_2_0_1_s_attribute_status() -> None:
    accepted = Sent("c-1", {"status": "Accepted"}, response_model(V16, "ChangeConfiguration"))
    assert key_answer(accepted.answer()) == "Accepted"
    reboot = Sent(
        "c-2", {"setVariableResult": [SET_VARIABLE_RESULT]}, response_model(V201, "SetVariables")
    )
    assert key_answer(reboot.answer()) == "RebootRequired"
    assert key_answer(Sent("c-3", {}, response_model(V201, "SetVariables")).answer()) is None
