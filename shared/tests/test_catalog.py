"""Each version's catalogue of actions: who sends what, and which calls are notifications."""

from __future__ import annotations

import pytest

from csms_shared.ocpp.catalog import CATALOGS, catalog, other_versions_action
from csms_shared.ocpp.errors import ErrorCode
from csms_shared.ocpp.framing import CallError
from csms_shared.ocpp.version import OcppVersion


@pytest.mark.parametrize("version", list(OcppVersion))
def test_a_notification_is_a_station_call_whose_answer_decides_nothing(
    version: OcppVersion,
) -> None:
    found = catalog(version)
    assert found.notifications <= found.from_station
    for action in found.notifications:
        fields = set(found.actions[action].response.model_fields) - {"custom_data"}
        assert fields == ({"current_time"} if action == "Heartbeat" else set()), action


def test_every_2_0_1_station_call_with_an_empty_answer_is_a_notification() -> None:
    found = catalog(OcppVersion.V201)
    empty = {
        action
        for action in found.from_station
        if set(found.actions[action].response.model_fields) <= {"custom_data"}
    }
    assert empty | {"Heartbeat"} == found.notifications


def test_a_2_0_1_transaction_update_without_an_id_token_is_a_notification() -> None:
    v201, v16 = catalog(OcppVersion.V201), catalog(OcppVersion.V16)
    updated = {"eventType": "Updated", "seqNo": 3, "transactionInfo": {"transactionId": "T"}}
    assert v201.is_notification("TransactionEvent", updated)
    assert not v201.is_notification("TransactionEvent", updated | {"idToken": {"idToken": "A"}})
    for kind in ("Started", "Ended"):
        assert not v201.is_notification("TransactionEvent", updated | {"eventType": kind})
    assert v201.is_notification("MeterValues", {}) and v16.is_notification("MeterValues", {})
    assert not v16.is_notification("StartTransaction", {})
    assert not v16.is_notification("TransactionEvent", updated)  # not a 1.6 action


def test_an_action_of_the_other_version_is_named() -> None:
    assert other_versions_action(OcppVersion.V201, "StartTransaction") is OcppVersion.V16
    assert other_versions_action(OcppVersion.V16, "TransactionEvent") is OcppVersion.V201
    assert other_versions_action(OcppVersion.V16, "Reset") is None  # 1.6 has it too
    assert other_versions_action(OcppVersion.V16, "Teleport") is None
    assert set(CATALOGS) == set(OcppVersion)


def test_a_call_error_spelled_for_2_0_1_keeps_everything_but_the_code_spelling() -> None:
    error = CallError("m", ErrorCode.FORMATION_VIOLATION, "bad", {"x": 1})
    assert error.spelled(OcppVersion.V201) == CallError("m", "FormatViolation", "bad", {"x": 1})
    assert error.spelled(OcppVersion.V16) == CallError("m", "FormationViolation", "bad", {"x": 1})


def test_a_transactions_end_keeps_its_place_behind_the_stations_bulk_data() -> None:
    v16, v201 = catalog(OcppVersion.V16), catalog(OcppVersion.V201)
    assert v16.ends_transaction("StopTransaction", {})
    assert not v16.ends_transaction("StartTransaction", {})
    assert not v16.ends_transaction("Authorize", {})
    assert v201.ends_transaction("TransactionEvent", {"eventType": "Ended"})
    for kind in ("Started", "Updated"):
        assert not v201.ends_transaction("TransactionEvent", {"eventType": kind})
    assert not v201.ends_transaction("StopTransaction", {})


def test_an_end_that_needs_nothing_before_it_for_its_answer_may_be_answered_apart() -> None:
    v16, v201 = catalog(OcppVersion.V16), catalog(OcppVersion.V201)
    # Its answer is at most the decision about the token it names.
    assert v16.answered_apart("StopTransaction", {"idTag": "T"})
    assert v16.answered_apart("StopTransaction", {})
    assert not v16.answered_apart("StartTransaction", {})
    token = {"idToken": "T", "type": "ISO14443"}
    assert v201.answered_apart("TransactionEvent", {"eventType": "Ended"})
    assert v201.answered_apart("TransactionEvent", {"eventType": "Ended", "idToken": token})
    for kind in ("Started", "Updated"):
        assert not v201.answered_apart("TransactionEvent", {"eventType": kind})
