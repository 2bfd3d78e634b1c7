"""The decision an id tag earns: list status, expiry, group, concurrency, reservations, in our
terms (a 1.6 station is told them by `Authorization.to_v16`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from csms_shared.ocpp.v16.enums import AuthorizationStatus
from csms_shared.vocabulary import AuthorizationDecision as S
from session_service.auth import (
    IdTagRecord,
    authorize_info,
    charge_point_fully_reserved,
    counts_open_transactions,
    id_tag_info,
    resent_start_info,
    reservation_admits,
    same_id_tag,
    stop_info,
)
from session_service.settings import UnknownIdTagPolicy

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
REJECT = UnknownIdTagPolicy.REJECT


def tag(**kw: object) -> IdTagRecord:
    return IdTagRecord(**({"id_tag": "TAG-1", "status": S.ACCEPTED} | kw))  # type: ignore[arg-type]


def test_unknown_tag_follows_the_policy() -> None:
    refused = id_tag_info(None, at=NOW, unknown=REJECT)
    # Unknown in our terms, whatever the station speaks; a 1.6 CP is told Invalid.
    assert refused.decision is S.UNKNOWN
    assert refused.to_v16().status is AuthorizationStatus.INVALID
    accepted = id_tag_info(None, at=NOW, unknown=UnknownIdTagPolicy.ACCEPT)
    assert accepted.decision is S.ACCEPTED
    assert accepted.to_v16().to_payload() == {"status": "Accepted"}


def test_accepted_tag_carries_its_expiry_and_parent() -> None:
    expiry = NOW + timedelta(days=30)
    info = id_tag_info(tag(expiry_date=expiry, parent_id_tag="FLEET"), at=NOW, unknown=REJECT)
    assert info.to_v16().to_payload() == {
        "status": "Accepted",
        "expiryDate": "2026-12-22T10:00:00Z",
        "parentIdTag": "FLEET",
    }


def test_stored_statuses_are_answered_as_stored() -> None:
    for status in (S.BLOCKED, S.EXPIRED, S.INVALID):
        assert id_tag_info(tag(status=status), at=NOW, unknown=REJECT).decision is status


def test_expiry_date_passed_means_expired() -> None:
    assert id_tag_info(tag(expiry_date=NOW), at=NOW, unknown=REJECT).decision is S.EXPIRED
    later = tag(expiry_date=NOW + timedelta(seconds=1))
    assert id_tag_info(later, at=NOW, unknown=REJECT).decision is S.ACCEPTED


def test_blocked_stays_blocked_when_also_expired() -> None:
    blocked = tag(status=S.BLOCKED, expiry_date=NOW - timedelta(days=1))
    assert id_tag_info(blocked, at=NOW, unknown=REJECT).decision is S.BLOCKED


def test_blocked_group_blocks_its_members() -> None:
    member = tag(parent_id_tag="FLEET", parent_status=S.BLOCKED)
    assert id_tag_info(member, at=NOW, unknown=REJECT).decision is S.BLOCKED
    member = tag(parent_id_tag="FLEET", parent_status=S.ACCEPTED)
    assert id_tag_info(member, at=NOW, unknown=REJECT).decision is S.ACCEPTED


def test_concurrent_transactions_beyond_the_limit() -> None:
    limited = tag(max_concurrent_tx=2)
    assert (
        id_tag_info(limited, at=NOW, unknown=REJECT, active_transactions=1).decision is S.ACCEPTED
    )
    info = id_tag_info(limited, at=NOW, unknown=REJECT, active_transactions=2)
    assert info.decision is S.CONCURRENT_TX
    unlimited = tag(max_concurrent_tx=None)
    assert id_tag_info(unlimited, at=NOW, unknown=REJECT, active_transactions=50).decision is (
        S.ACCEPTED
    )


def test_reserved_for_another_tag_refuses_as_invalid() -> None:
    info = id_tag_info(tag(), at=NOW, unknown=REJECT, reserved_for_other=True)
    assert info.decision is S.INVALID
    free = id_tag_info(None, at=NOW, unknown=UnknownIdTagPolicy.ACCEPT, reserved_for_other=True)
    assert free.decision is S.INVALID


def test_id_tags_compare_without_case() -> None:
    assert same_id_tag("abc123", "ABC123")
    assert not same_id_tag("abc", None)
    assert not same_id_tag(None, None)


def test_reservation_admits_its_tag_and_its_group() -> None:
    assert reservation_admits("TAG-1", None, "tag-1", None)
    assert reservation_admits("TAG-1", "FLEET", "TAG-2", "fleet")
    assert not reservation_admits("TAG-1", "FLEET", "TAG-2", None)
    assert not reservation_admits("TAG-1", None, "TAG-2", "FLEET")


def test_authorize_refused_only_when_every_connector_is_held_for_others() -> None:
    assert charge_point_fully_reserved(1, 0)
    assert not charge_point_fully_reserved(1, 2)
    assert charge_point_fully_reserved(2, 2)
    assert not charge_point_fully_reserved(0, 0)


def authorized(t: IdTagRecord | None, **kw: object) -> S:
    held = {"held_for_others": 0, "ours": False, "known_connectors": 2} | kw
    return authorize_info(t, at=NOW, unknown=REJECT, **held).decision  # type: ignore[arg-type]


def test_authorize_refuses_a_reserved_tag_only_when_every_connector_is_held_for_others() -> None:
    assert authorized(tag(), held_for_others=1) is S.ACCEPTED
    assert authorized(tag(), held_for_others=2) is S.INVALID
    # One of the reservations is this tag's own: it may charge.
    assert authorized(tag(), held_for_others=2, ours=True) is S.ACCEPTED
    # A CP that never reported a connector counts as one.
    assert authorized(tag(), held_for_others=1, known_connectors=0) is S.INVALID
    # Free vending of unknown tags stops at a fully reserved CP too.
    accept = UnknownIdTagPolicy.ACCEPT
    free = authorize_info(
        None, at=NOW, unknown=accept, held_for_others=1, ours=False, known_connectors=1
    )
    assert free.decision is S.INVALID


def test_authorize_applies_the_limit_and_the_tags_own_status_first() -> None:
    limited = tag(max_concurrent_tx=1)
    assert authorized(limited, active_transactions=0) is S.ACCEPTED
    assert authorized(limited, active_transactions=1) is S.CONCURRENT_TX
    assert authorized(tag(status=S.BLOCKED), held_for_others=2) is S.BLOCKED


def test_only_a_tag_with_a_limit_has_its_transactions_counted() -> None:
    assert counts_open_transactions(tag(max_concurrent_tx=0))
    assert not counts_open_transactions(tag())
    assert not counts_open_transactions(None)


def test_a_stop_answers_for_its_id_tag_only_and_ignores_the_limit() -> None:
    assert stop_info(None, tag(), at=NOW, unknown=REJECT) is None
    # The transaction being stopped does not count against its own limit.
    info = stop_info("TAG-1", tag(max_concurrent_tx=1), at=NOW, unknown=REJECT)
    assert info is not None and info.decision is S.ACCEPTED
    expired = stop_info("TAG-1", tag(expiry_date=NOW), at=NOW, unknown=REJECT)
    assert expired is not None and expired.decision is S.EXPIRED
    unknown = stop_info("NOT-LISTED", None, at=NOW, unknown=REJECT)
    assert unknown is not None and unknown.decision is S.UNKNOWN


def test_a_re_sent_start_gets_the_status_its_transaction_opened_with() -> None:
    decided = id_tag_info(tag(max_concurrent_tx=1, parent_id_tag="FLEET"), at=NOW, unknown=REJECT)
    again = resent_start_info("ConcurrentTx", decided)
    assert again.to_v16().to_payload() == {"status": "ConcurrentTx", "parentIdTag": "FLEET"}
