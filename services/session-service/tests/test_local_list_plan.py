"""A CP's Local Authorization List with the roaming tokens a station may accept: which tokens,
as what, beside the operator's id tags, in each version, and the difference when one changes."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from csms_shared.bus.rpc import RpcError, read_params
from csms_shared.contracts.rpc import BuildLocalList
from csms_shared.ocpp.version import OcppVersion
from csms_shared.vocabulary import AuthorizationDecision as D
from csms_shared.vocabulary import IdToken, IdTokenType
from csms_shared.vocabulary.local_lists import ListEntry
from session_service.local_list_plan import Held, desired, difference, held
from session_service.roaming_tokens import list_entries

V16, V201 = OcppVersion.V16, OcppVersion.V201
EXPIRY = datetime(2027, 1, 1, tzinfo=UTC)


def token(uid: str, **fields: object) -> SimpleNamespace:
    """A row of `sessions.roaming_tokens` (an RFID card, valid, ALLOWED unless told)."""
    row = {
        "uid": uid.upper(),
        "uid_key": uid.lower(),
        "type": "RFID",
        "country_code": "NL",
        "party_id": "EMS",
        "valid": True,
        "whitelist": "ALLOWED",
    }
    return SimpleNamespace(**(row | fields))


def tag(value: str, decision: D = D.ACCEPTED, **fields: object) -> ListEntry:
    """An id tag of the operator's list."""
    return ListEntry.model_validate(
        {"token": IdToken.from_v16(value), "decision": decision} | fields
    )


def holds(*entries: ListEntry) -> dict[str, tuple[str, Held]]:
    """What a CP holds once it accepted `entries` (as `local_list_entries` records it)."""
    return {e.token.value.lower(): (e.token.value, held(e)) for e in entries}


def test_valid_tokens_whitelisted_in_any_way_are_accepted_entries_and_the_rest_are_not() -> None:
    rows = [
        token("A1", whitelist="ALWAYS"),
        token("A2", whitelist="ALLOWED"),
        token("A3", whitelist="ALLOWED_OFFLINE"),
        token("N1", whitelist="NEVER"),
        token("V1", valid=False),
        token("V2", valid=False, whitelist="ALLOWED_OFFLINE"),
    ]
    listed = list_entries(rows)
    assert [e.token.value for e in listed] == ["A1", "A2", "A3"]
    # Accepted, no expiry, no group: what the eMSP said, as long as it says it.
    assert {(e.decision, e.expiry, e.group, e.charging_priority) for e in listed} == {
        (D.ACCEPTED, None, None, 0)
    }


def test_an_rfid_token_is_its_uids_iso14443_token_and_any_other_a_central_one() -> None:
    rows = [
        token("C1"),
        token("P1", type="APP_USER"),
        token("H1", type="AD_HOC_USER"),
        token("O1", type="OTHER"),
    ]
    types = {e.token.value: e.token.type for e in list_entries(rows)}
    assert types == {
        "C1": IdTokenType.ISO14443,
        "P1": IdTokenType.CENTRAL,
        "H1": IdTokenType.CENTRAL,
        "O1": IdTokenType.CENTRAL,
    }


def test_a_uid_several_emsps_pushed_is_one_entry_of_the_token_that_decides() -> None:
    rows = [
        token("D1", party_id="AAA", valid=False),
        token("D1", party_id="BBB", type="APP_USER"),
        token("D1", party_id="CCC"),
    ]
    (entry,) = list_entries(rows)
    assert (entry.token.value, entry.token.type) == ("D1", IdTokenType.ISO14443)
    # One eMSP's Accepted card is enough, as in the decision; none, and the uid is not listed.
    assert len(list_entries([token("X1", party_id="AAA", valid=False), token("X1")])) == 1
    assert (
        list_entries([token("X1", party_id="AAA", valid=False), token("X1", whitelist="NEVER")])
        == []
    )


def test_a_uid_no_station_can_present_is_left_out() -> None:
    assert list_entries([token(""), token(" Z1 "), token("Z2")]) == list_entries([token("Z2")])


def test_the_roaming_tokens_come_after_the_operators_id_tags() -> None:
    plan = desired([tag("OWN-2"), tag("OWN-1")], list_entries([token("R1")]), V201)
    assert list(plan.entries) == ["own-2", "own-1", "r1"]
    assert plan.left_out == 0


def test_the_operators_id_tag_wins_over_a_roaming_token_of_the_same_id_in_any_case() -> None:
    own = [tag("card-7", D.BLOCKED, expiry=EXPIRY)]
    plan = desired(own, list_entries([token("CARD-7"), token("R2")]), V16)
    assert [(e.token.value, e.decision) for e in plan.entries.values()] == [
        ("card-7", D.BLOCKED),
        ("R2", D.ACCEPTED),
    ]
    # Even an id tag a 1.6 CP cannot hold (in a group too long for it): the card is left out,
    # not given the eMSP's Accepted the decision would never give it.
    grouped = [tag("CARD-8", group=IdToken.from_v16("G" * 21))]
    plan = desired(grouped, list_entries([token("CARD-8")]), V16)
    assert plan.entries == {}
    assert plan.left_out == 1


def test_a_1_6_cps_list_leaves_out_roaming_tokens_over_20_characters_and_counts_them() -> None:
    long, short = "L" * 21, "S" * 20
    rows = [token(long), token(short)]
    for_v16 = desired([tag("x" * 21), tag("OWN")], list_entries(rows), V16)
    assert list(for_v16.entries) == ["own", short.lower()]
    assert for_v16.left_out == 2
    for_v201 = desired([tag("x" * 21), tag("OWN")], list_entries(rows), V201)
    assert list(for_v201.entries) == ["x" * 21, "own", long.lower(), short.lower()]
    assert for_v201.left_out == 0


def test_a_token_that_becomes_invalid_or_never_is_removed_by_the_next_difference() -> None:
    before = desired([tag("OWN")], list_entries([token("R1"), token("R2"), token("R3")]), V16)
    on_the_cp = holds(*before.entries.values())
    assert difference(before.entries, on_the_cp, V16) == []
    rows = [token("R1", valid=False), token("R2", whitelist="NEVER"), token("R3")]
    after = desired([tag("OWN")], list_entries(rows), V16)
    changed = difference(after.entries, on_the_cp, V16)
    # Entries without a decision: the Differential removes them (1.6, 5.15).
    assert changed == [
        ListEntry(token=IdToken.from_v16("R1")),
        ListEntry(token=IdToken.from_v16("R2")),
    ]
    assert after.entries.keys() == {"own", "r3"}


def test_a_token_valid_again_is_added_back_and_a_changed_id_tag_sent_again() -> None:
    on_the_cp = holds(tag("OWN"))
    after = desired([tag("OWN", D.BLOCKED)], list_entries([token("R1")]), V16)
    changed = difference(after.entries, on_the_cp, V16)
    assert [(e.token.value, e.decision) for e in changed] == [
        ("OWN", D.BLOCKED),
        ("R1", D.ACCEPTED),
    ]


def test_a_token_held_in_another_case_is_the_same_token_not_a_removal_and_an_addition() -> None:
    # The CP holds the eMSP's card; the operator then lists it (in lower case), blocked: the
    # CP is told to block it, and not told to remove it (it would remove the blocked card).
    on_the_cp = holds(*list_entries([token("CARD-9")]))
    after = desired([tag("card-9", D.BLOCKED)], list_entries([token("CARD-9")]), V16)
    assert difference(after.entries, on_the_cp, V16) == [tag("card-9", D.BLOCKED)]
    same = desired([tag("card-9")], list_entries([token("CARD-9")]), V16)
    assert difference(same.entries, on_the_cp, V16) == []


def test_the_roaming_tokens_are_asked_for_a_list_of_every_id_tag_only() -> None:
    plain = read_params(BuildLocalList, b'{"chargePointId": "CP-1", "ocppVersion": "1.6"}')
    assert isinstance(plain, BuildLocalList) and plain.roaming_tokens is False
    body = b'{"chargePointId": "CP-1", "ocppVersion": "1.6", "roamingTokens": true}'
    asked = read_params(BuildLocalList, body)
    assert isinstance(asked, BuildLocalList) and asked.roaming_tokens is True
    scoped = (
        b'{"chargePointId": "CP-1", "ocppVersion": "1.6", "roamingTokens": true,'
        b' "parentIdTags": ["G1"]}'
    )
    with pytest.raises(RpcError, match="roamingTokens: only a list of every id tag"):
        read_params(BuildLocalList, scoped)


def test_a_removal_names_the_type_the_token_was_sent_with() -> None:
    # A 2.0.1 station removes an entry by value and type: an eMAID goes as an eMAID.
    emaid = IdToken(value="NL-EMS-C12345678-X", type=IdTokenType.EMAID)
    on_the_cp = holds(ListEntry(token=emaid, decision=D.ACCEPTED), tag("OWN"))
    after = desired([tag("OWN")], [], V201)
    assert difference(after.entries, on_the_cp, V201) == [ListEntry(token=emaid)]


def test_a_201_token_under_a_new_type_is_removed_under_the_old_one_then_sent() -> None:
    central = ListEntry(token=IdToken(value="OWN", type=IdTokenType.CENTRAL), decision=D.ACCEPTED)
    assert difference({"own": central}, holds(tag("OWN")), V201) == [
        ListEntry(token=IdToken(value="OWN", type=IdTokenType.ISO14443)),
        central,
    ]


def test_a_16_cp_is_never_sent_a_token_again_for_its_type() -> None:
    # A 1.6 SendLocalList has no type: what the CP accepted is recorded as an idTag
    # (ISO14443), so a Central or eMAID token it holds must still compare as unchanged.
    central = ListEntry(token=IdToken(value="OWN", type=IdTokenType.CENTRAL), decision=D.ACCEPTED)
    as_recorded = ListEntry(token=IdToken.from_v16("OWN"), decision=D.ACCEPTED)
    assert difference({"own": central}, holds(as_recorded), V16) == []
    blocked = central.model_copy(update={"decision": D.BLOCKED})
    assert difference({"own": blocked}, holds(as_recorded), V16) == [blocked]


def test_a_row_kept_before_types_were_stored_is_sent_again_or_removed_as_an_id_tag() -> None:
    kept: Held = (D.ACCEPTED.value, None, None, None)
    on_the_cp = {"own": ("OWN", kept), "gone": ("GONE", kept)}
    after = desired([tag("OWN")], [], V201)
    assert difference(after.entries, on_the_cp, V201) == [
        tag("OWN"),
        ListEntry(token=IdToken(value="GONE", type=IdTokenType.ISO14443)),
    ]
    # A 1.6 CP's is not sent again: its type means nothing there.
    assert difference(after.entries, on_the_cp, V16) == [
        ListEntry(token=IdToken(value="GONE", type=IdTokenType.ISO14443))
    ]
