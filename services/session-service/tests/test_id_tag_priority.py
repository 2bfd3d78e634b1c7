"""An id tag's chargingPriority (OCPP 2.0.1): what it may be, and where a 2.0.1 station is
told it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from csms_shared.bus.rpc import RpcError, read_params
from csms_shared.contracts.rpc import CreateIdTag, UpdateIdTag
from csms_shared.ocpp.local_list import to_v201
from csms_shared.ocpp.v16.enums import AuthorizationStatus as S
from csms_shared.vocabulary import AuthorizationDecision, IdToken
from csms_shared.vocabulary.local_lists import ListEntry, LocalList
from session_service import id_tokens
from session_service.auth import Authorization, IdTagRecord, charging_priority

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


def tag(**kw: Any) -> IdTagRecord:
    return IdTagRecord(**({"id_tag": "CARD-1", "status": S.ACCEPTED} | kw))


def test_a_new_tag_has_priority_0_unless_told_and_takes_minus_9_to_9() -> None:
    plain = read_params(CreateIdTag, b'{"idTag": "CARD-1"}')
    assert isinstance(plain, CreateIdTag) and plain.charging_priority == 0
    for value in (-9, 0, 9):
        body = f'{{"idTag": "CARD-1", "chargingPriority": {value}}}'.encode()
        made = read_params(CreateIdTag, body)
        assert isinstance(made, CreateIdTag) and made.charging_priority == value


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("10", "chargingPriority: Input should be less than or equal to 9"),
        ("-10", "chargingPriority: Input should be greater than or equal to -9"),
        ("2.5", "chargingPriority: Input should be a valid integer"),
        ('"5"', "chargingPriority: Input should be a valid integer"),
        ("true", "chargingPriority: Input should be a valid integer"),
    ],
)
def test_a_priority_out_of_range_or_not_an_integer_is_refused_by_name(
    value: str, problem: str
) -> None:
    for model in (CreateIdTag, UpdateIdTag):
        with pytest.raises(RpcError, match=problem):
            read_params(model, f'{{"idTag": "CARD-1", "chargingPriority": {value}}}'.encode())


def test_an_update_changes_the_priority_only_when_sent_and_never_clears_it() -> None:
    kept = read_params(UpdateIdTag, b'{"idTag": "CARD-1", "note": "x"}')
    assert isinstance(kept, UpdateIdTag) and "charging_priority" not in kept.model_fields_set
    with pytest.raises(RpcError, match="chargingPriority: cannot be cleared"):
        read_params(UpdateIdTag, b'{"idTag": "CARD-1", "chargingPriority": null}')


def test_a_start_runs_at_its_entrys_priority_and_a_tag_off_the_list_at_0() -> None:
    assert charging_priority(tag(charging_priority=-4)) == -4
    assert charging_priority(None) == 0


def test_a_2_0_1_station_is_told_the_priority_when_it_is_not_0() -> None:
    accepted = Authorization(AuthorizationDecision.ACCEPTED)
    high = id_tokens.token_info(accepted, tag(charging_priority=7))
    assert high.to_payload() == {"status": "Accepted", "chargingPriority": 7}
    low = id_tokens.token_info(accepted, tag(charging_priority=-9))
    assert low.to_payload()["chargingPriority"] == -9
    plain = id_tokens.token_info(accepted, tag())
    assert plain.to_payload() == {"status": "Accepted"}
    unknown = id_tokens.token_info(Authorization(AuthorizationDecision.UNKNOWN), None)
    assert "chargingPriority" not in unknown.to_payload()


def test_a_2_0_1_local_list_carries_each_entrys_priority() -> None:
    accepted = AuthorizationDecision.ACCEPTED
    listed = LocalList(
        version=3,
        update_type="Full",
        entries=[
            ListEntry(token=IdToken.from_v16("VIP"), decision=accepted, charging_priority=5),
            ListEntry(token=IdToken.from_v16("PLAIN"), decision=accepted),
        ],
    )
    sent = to_v201(listed).to_payload()
    infos = {e["idToken"]["idToken"]: e["idTokenInfo"] for e in sent["localAuthorizationList"]}
    assert infos == {
        "VIP": {"status": "Accepted", "chargingPriority": 5},
        "PLAIN": {"status": "Accepted"},
    }
