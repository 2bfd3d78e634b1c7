"""The Local Authorization List in our terms, spelt for each version and read back: the same
list either way (1.6 holds no token type, priority, or status 1.6 has no word for)."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from csms_shared.ocpp import v16, v201
from csms_shared.ocpp.local_list import from_v16, from_v201, to_v16, to_v201
from csms_shared.vocabulary import AuthorizationDecision, IdToken, IdTokenType
from csms_shared.vocabulary.local_lists import ListEntry, LocalList

values = st.text("ABCDEF0123456789", min_size=1, max_size=36)
short = st.text("ABCDEF0123456789", min_size=1, max_size=20)
times = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
).map(lambda at: at.replace(microsecond=0))
kinds = st.sampled_from([k for k in IdTokenType if k is not IdTokenType.NO_AUTHORIZATION])


def _entry(
    token: IdToken,
    decision: AuthorizationDecision | None,
    expiry: datetime | None,
    group: IdToken | None,
    priority: int,
) -> ListEntry:
    if decision is None:
        return ListEntry(token=token)
    return ListEntry(
        token=token, decision=decision, expiry=expiry, group=group, charging_priority=priority
    )


def lists(
    tokens: st.SearchStrategy[IdToken], groups: st.SearchStrategy[IdToken]
) -> st.SearchStrategy[LocalList]:
    entries = st.builds(
        _entry,
        tokens,
        st.none() | st.sampled_from(list(AuthorizationDecision)),
        st.none() | times,
        st.none() | groups,
        st.integers(-9, 9),
    )
    return st.builds(
        LocalList,
        version=st.integers(min_value=0, max_value=2**31 - 1),
        update_type=st.sampled_from(["Full", "Differential"]),
        entries=st.lists(entries, max_size=5, unique_by=lambda e: e.token.value),
    )


@given(
    lists(
        st.builds(IdToken, value=values, type=kinds), st.builds(IdToken, value=values, type=kinds)
    )
)
def test_a_list_sent_to_a_2_0_1_station_reads_back_as_the_same_list(listed: LocalList) -> None:
    sent = to_v201(listed)
    # What goes on the wire is valid 2.0.1.
    wire = v201.SendLocalListRequest.model_validate(sent.to_payload())
    assert from_v201(wire) == listed


@given(
    lists(
        st.builds(IdToken.from_v16, short),
        st.builds(IdToken, value=short, type=st.just(IdTokenType.CENTRAL)),
    )
)
def test_a_list_sent_to_a_1_6_cp_reads_back_as_what_1_6_can_hold(listed: LocalList) -> None:
    wire = v16.SendLocalListRequest.model_validate(to_v16(listed).to_payload())
    back = from_v16(wire)
    assert back.version == listed.version and back.update_type == listed.update_type
    for was, now in zip(listed.entries, back.entries, strict=True):
        assert now.token == was.token and now.group == was.group and now.expiry == was.expiry
        assert now.charging_priority == 0  # 1.6 has no chargingPriority
        if was.decision is None:
            assert now.decision is None
        else:
            assert now.decision is not None and now.decision.to_v16() == was.decision.to_v16()


def test_the_payload_a_2_0_1_station_gets() -> None:
    listed = LocalList(
        version=4,
        update_type="Differential",
        entries=[
            ListEntry(
                token=IdToken(value="CARD-1", type=IdTokenType.ISO15693),
                decision=AuthorizationDecision.ACCEPTED,
                group=IdToken(value="FLEET", type=IdTokenType.CENTRAL),
                charging_priority=3,
            ),
            ListEntry(token=IdToken.from_v16("NL-TNM-C00122045-K-0123456789ABCDEF0")),
        ],
    )
    assert to_v201(listed).to_payload() == {
        "versionNumber": 4,
        "updateType": "Differential",
        "localAuthorizationList": [
            {
                "idToken": {"idToken": "CARD-1", "type": "ISO15693"},
                "idTokenInfo": {
                    "status": "Accepted",
                    "groupIdToken": {"idToken": "FLEET", "type": "Central"},
                    "chargingPriority": 3,
                },
            },
            {"idToken": {"idToken": "NL-TNM-C00122045-K-0123456789ABCDEF0", "type": "ISO14443"}},
        ],
    }
    empty = LocalList(version=1, update_type="Full")
    assert to_v201(empty).to_payload() == {"versionNumber": 1, "updateType": "Full"}


def test_a_status_1_6_cannot_name_keeps_the_tag_off_charging_there() -> None:
    listed = LocalList(
        version=2,
        update_type="Full",
        entries=[ListEntry(token=IdToken.from_v16("X"), decision=AuthorizationDecision.NO_CREDIT)],
    )
    payload = to_v16(listed).to_payload()
    assert payload["localAuthorizationList"] == [{"idTag": "X", "idTagInfo": {"status": "Invalid"}}]
    wire = v201.SendLocalListRequest.model_validate(to_v201(listed).to_payload())
    assert from_v201(wire).entries[0].decision is AuthorizationDecision.NO_CREDIT
