"""The Local Authorization List spelt for 2.0.1 and read back: the same list either way."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from csms_shared.ocpp import v16, v201
from csms_shared.ocpp.local_list import from_v201, to_v201

tags = st.text("ABCDEF0123456789", min_size=1, max_size=20)
times = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
).map(lambda at: at.replace(microsecond=0))


def _info(status: str, expiry: datetime | None, parent: str | None) -> v16.IdTagInfo:
    info = v16.IdTagInfo(status=v16.AuthorizationStatus(status))
    if expiry is not None:
        info.expiry_date = expiry
    if parent is not None:
        info.parent_id_tag = parent
    return info


def _entry(tag: str, info: v16.IdTagInfo | None) -> v16.AuthorizationData:
    entry = v16.AuthorizationData(id_tag=tag)
    if info is not None:
        entry.id_tag_info = info
    return entry


def _request(version: int, kind: str, entries: list[v16.AuthorizationData]) -> Any:
    return v16.SendLocalListRequest(
        list_version=version, update_type=v16.UpdateType(kind), local_authorization_list=entries
    )


# Built through functions, not st.builds on the models: their signatures name the aliases.
infos = st.none() | st.builds(
    _info,
    st.sampled_from([s.value for s in v16.AuthorizationStatus]),
    st.none() | times,
    st.none() | tags,
)
requests = st.builds(
    _request,
    st.integers(min_value=0, max_value=2**31 - 1),
    st.sampled_from([t.value for t in v16.UpdateType]),
    st.lists(st.builds(_entry, tags, infos), max_size=5, unique_by=lambda item: item.id_tag),
)


@given(requests, st.dictionaries(tags, st.sampled_from([t.value for t in v201.IdTokenEnum])))
def test_a_list_sent_to_a_2_0_1_station_reads_back_as_the_same_list(
    request: v16.SendLocalListRequest, types: dict[str, str]
) -> None:
    sent = to_v201(request, types)
    # What goes on the wire is valid 2.0.1.
    wire = v201.SendLocalListRequest.model_validate(sent.to_payload())
    assert from_v201(wire).to_payload() == {
        **request.to_payload(),
        "localAuthorizationList": request.to_payload().get("localAuthorizationList", []),
    }
    for item in wire.local_authorization_list or []:
        assert item.id_token.type == types.get(item.id_token.id_token, "ISO14443")


def test_the_payload_a_2_0_1_station_gets() -> None:
    request = v16.SendLocalListRequest(
        list_version=4,
        update_type=v16.UpdateType.DIFFERENTIAL,
        local_authorization_list=[
            v16.AuthorizationData(
                id_tag="CARD-1",
                id_tag_info=v16.IdTagInfo(
                    status=v16.AuthorizationStatus.ACCEPTED, parent_id_tag="FLEET"
                ),
            ),
            v16.AuthorizationData(id_tag="GONE"),
        ],
    )
    assert to_v201(request, {"CARD-1": "ISO15693"}).to_payload() == {
        "versionNumber": 4,
        "updateType": "Differential",
        "localAuthorizationList": [
            {
                "idToken": {"idToken": "CARD-1", "type": "ISO15693"},
                "idTokenInfo": {
                    "status": "Accepted",
                    "groupIdToken": {"idToken": "FLEET", "type": "Central"},
                },
            },
            {"idToken": {"idToken": "GONE", "type": "ISO14443"}},
        ],
    }
    empty = v16.SendLocalListRequest(list_version=1, update_type=v16.UpdateType.FULL)
    assert to_v201(empty, {}).to_payload() == {"versionNumber": 1, "updateType": "Full"}


def test_a_status_1_6_cannot_name_keeps_the_tag_off_charging() -> None:
    sent = v201.SendLocalListRequest.model_validate(
        {
            "versionNumber": 2,
            "updateType": "Full",
            "localAuthorizationList": [
                {
                    "idToken": {"idToken": "X", "type": "eMAID"},
                    "idTokenInfo": {"status": "NoCredit"},
                }
            ],
        }
    )
    [entry] = from_v201(sent).local_authorization_list or []
    assert entry.id_tag_info is not None and entry.id_tag_info.status == "Invalid"
