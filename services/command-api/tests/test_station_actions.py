"""Operator actions spelt in each OCPP version: what the station receives for each."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.datastructures import FormData

from command_api.api.operator_actions import translate
from command_api.console.forms import (
    FormProblem,
    action_form,
    command_form,
    command_forms,
    parse_action,
    parse_command,
)
from command_api.station_actions import (
    Availability,
    Reserve,
    ResetStation,
    StartSession,
    StopTransaction,
    TriggerStatus,
    Unlock,
)
from csms_shared.ocpp.version import OcppVersion

V16, V201 = OcppVersion.V16, OcppVersion.V201


def test_start_session_is_remote_start_in_1_6_and_request_start_in_2_0_1() -> None:
    body = StartSession.model_validate({"connectorId": 2, "idTag": "TAG-1"})
    old = body.command(V16)
    assert (old.action, old.payload.to_payload()) == (
        "RemoteStartTransaction",
        {"idTag": "TAG-1", "connectorId": 2},
    )
    new = body.command(V201)
    sent = new.payload.to_payload()
    assert new.action == "RequestStartTransaction"
    assert sent["idToken"] == {"idToken": "TAG-1", "type": "ISO14443"}
    assert sent["evseId"] == 2
    remote_start_id = sent["remoteStartId"]
    assert isinstance(remote_start_id, int) and 0 < remote_start_id < 2**31
    assert new.version is V201 and old.version is V16


def test_start_session_takes_the_token_type_and_refuses_a_1_6_tag_too_long() -> None:
    body = StartSession.model_validate(
        {"evseId": 1, "idTag": "04A2B3C4D5E6F7A8B9C0D1", "idTokenType": "eMAID"}
    )
    assert body.command(V201).payload.to_payload()["idToken"] == {
        "idToken": "04A2B3C4D5E6F7A8B9C0D1",
        "type": "eMAID",
    }
    with pytest.raises(ValidationError):
        body.command(V16)  # 1.6 idTags have at most 20 characters


def test_a_refusal_names_the_body_s_field_as_the_wire_spells_it() -> None:
    # The requests are built in Python; the 422 still says idTag, not id_tag.
    with pytest.raises(RequestValidationError) as refused:
        translate("CP-1", StartSession(id_tag="x" * 21), V16)
    [error] = refused.value.errors()
    assert error["loc"] == ("body", "idTag")
    assert error["msg"] == "OCPP 1.6: String should have at most 20 characters"
    with pytest.raises(RequestValidationError) as refused:
        translate("CP-1", StopTransaction(transaction_id="tx-7f3a"), V16)
    assert [e["loc"] for e in refused.value.errors()] == [("body", "transactionId")]


def test_stop_transaction_takes_the_station_s_id() -> None:
    assert StopTransaction(transaction_id=42).command(V16).payload.to_payload() == {
        "transactionId": 42
    }
    stop = StopTransaction.model_validate({"transactionId": "tx-7f3a"}).command(V201)
    assert (stop.action, stop.payload.to_payload()) == (
        "RequestStopTransaction",
        {"transactionId": "tx-7f3a"},
    )
    assert StopTransaction(transaction_id=42).command(V201).payload.to_payload() == {
        "transactionId": "42"
    }
    with pytest.raises(ValidationError):
        StopTransaction.model_validate({"transactionId": "tx-7f3a"}).command(V16)


@pytest.mark.parametrize(
    ("kind", "old", "new"), [("soft", "Soft", "OnIdle"), ("hard", "Hard", "Immediate")]
)
def test_reset_types(kind: str, old: str, new: str) -> None:
    body = ResetStation.model_validate({"type": kind})
    assert body.command(V16).payload.to_payload() == {"type": old}
    assert body.command(V201).payload.to_payload() == {"type": new}


def test_unlock_names_an_evse_and_its_connector_in_2_0_1() -> None:
    assert Unlock(connector_id=2).command(V16).payload.to_payload() == {"connectorId": 2}
    assert Unlock(connector_id=2).command(V201).payload.to_payload() == {
        "evseId": 2,
        "connectorId": 1,
    }
    assert Unlock(connector_id=2, evse_id=1).command(V201).payload.to_payload() == {
        "evseId": 1,
        "connectorId": 2,
    }


def test_availability_of_the_station_a_connector_or_an_evse() -> None:
    station = Availability(operative=False)
    assert station.command(V16).payload.to_payload() == {"connectorId": 0, "type": "Inoperative"}
    assert station.command(V201).payload.to_payload() == {"operationalStatus": "Inoperative"}
    one = Availability(connector_id=3, operative=True)
    assert one.command(V16).payload.to_payload() == {"connectorId": 3, "type": "Operative"}
    assert one.command(V201).payload.to_payload() == {
        "operationalStatus": "Operative",
        "evse": {"id": 3},
    }
    evse = Availability(connector_id=2, evse_id=1, operative=True)
    assert evse.command(V201).payload.to_payload()["evse"] == {"id": 1, "connectorId": 2}


def test_reserve_now_in_both_spellings() -> None:
    body = Reserve.model_validate(
        {
            "reservationId": 7,
            "connectorId": 1,
            "idTag": "TAG-1",
            "parentIdTag": "FLEET",
            "expiryDate": datetime(2030, 1, 31, 12, tzinfo=UTC).isoformat(),
        }
    )
    old = body.command(V16).payload.to_payload()
    assert old == {
        "connectorId": 1,
        "expiryDate": "2030-01-31T12:00:00Z",
        "idTag": "TAG-1",
        "reservationId": 7,
        "parentIdTag": "FLEET",
    }
    new = body.command(V201).payload.to_payload()
    assert new == {
        "id": 7,
        "expiryDateTime": "2030-01-31T12:00:00Z",
        "idToken": {"idToken": "TAG-1", "type": "ISO14443"},
        "evseId": 1,
        "groupIdToken": {"idToken": "FLEET", "type": "Central"},
    }


def test_trigger_status() -> None:
    assert TriggerStatus().command(V16).payload.to_payload() == {
        "requestedMessage": "StatusNotification"
    }
    assert TriggerStatus(connector_id=1).command(V201).payload.to_payload() == {
        "requestedMessage": "StatusNotification",
        "evse": {"id": 1},
    }


def test_bodies_refuse_unknown_fields_and_bad_values() -> None:
    with pytest.raises(ValidationError):
        ResetStation.model_validate({"type": "Soft"})
    with pytest.raises(ValidationError):
        StartSession.model_validate({"idTag": "T", "connector": 1})
    with pytest.raises(ValidationError):
        Unlock.model_validate({"connectorId": 0})


def test_a_start_without_connector_or_evse_lets_the_station_pick() -> None:
    body = StartSession.model_validate({"idTag": "TAG-1"})
    assert body.command(V16).payload.to_payload() == {"idTag": "TAG-1"}
    assert "evseId" not in body.command(V201).payload.to_payload()


def test_console_forms_are_the_station_s_version_s() -> None:
    assert len(command_forms(V201)) == 40
    reset = command_form("Reset", V201)
    kind = reset.fields[0]
    assert (kind.name, kind.kind, kind.choices) == ("type", "select", ("Immediate", "OnIdle"))
    request = parse_command("Reset", FormData({"type": "OnIdle", "evseId": "1"}), V201)
    assert request.to_payload() == {"type": "OnIdle", "evseId": 1}
    with pytest.raises(FormProblem, match="type"):
        parse_command("Reset", FormData({"type": "Soft"}), V201)


def test_operator_action_forms_read_ids_as_numbers_or_the_station_s_text() -> None:
    assert [f.name for f in action_form("stop-transaction").fields] == ["transactionId"]
    number = parse_action("stop-transaction", FormData({"transactionId": "42"}))
    text = parse_action("stop-transaction", FormData({"transactionId": "007"}))
    assert number.command(V16).payload.to_payload() == {"transactionId": 42}
    assert text.command(V201).payload.to_payload() == {"transactionId": "007"}
    reset = parse_action("reset", FormData({"type": "soft"}))
    assert reset.command(V201).payload.to_payload() == {"type": "OnIdle"}
