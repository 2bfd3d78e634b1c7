"""What a CP's StopTransaction and MeterValues count for."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from session_service.acceptance import (
    StopMatch,
    counts_for_transaction,
    foreign_transaction_warning,
    match_stop,
    meter_values_warnings,
)

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Stored:
    charge_point_id: str = "CP-1"
    stopped_by: str | None = None
    meter_stop: int | None = None
    stop_time: datetime | None = None


@pytest.mark.parametrize(
    ("stored", "cp", "expected"),
    [
        (None, "CP-1", StopMatch.UNKNOWN_TRANSACTION),
        (Stored(), "CP-2", StopMatch.OTHER_CHARGE_POINT),
        (Stored(), "CP-1", StopMatch.STOPS),
        # An operator's close: the CP's own stop still writes its figures.
        (Stored(stopped_by="operator", meter_stop=900, stop_time=NOW), "CP-1", StopMatch.STOPS),
        (
            Stored(stopped_by="ChargePoint", meter_stop=1000, stop_time=NOW),
            "CP-1",
            StopMatch.RE_SENT,
        ),
        (
            Stored(stopped_by="ChargePoint", meter_stop=1001, stop_time=NOW),
            "CP-1",
            StopMatch.ALREADY_STOPPED,
        ),
    ],
)
def test_a_stop_matches_its_transaction(
    stored: Stored | None, cp: str, expected: StopMatch
) -> None:
    assert match_stop(stored, cp, 1000, NOW) is expected


def test_a_re_send_is_the_same_instant_in_any_offset() -> None:
    stored = Stored(stopped_by="ChargePoint", meter_stop=1000, stop_time=NOW)
    later_zone = NOW.astimezone(datetime.now().astimezone().tzinfo)
    assert match_stop(stored, "CP-1", 1000, later_zone) is StopMatch.RE_SENT


def test_unmatched_kinds_keep_their_stored_names() -> None:
    assert {StopMatch.UNKNOWN_TRANSACTION, StopMatch.OTHER_CHARGE_POINT} == {
        "unknown_transaction",
        "other_charge_point",
    }
    assert StopMatch.ALREADY_STOPPED == "already_stopped"


def test_meter_values_count_for_the_cps_own_transaction_only() -> None:
    assert foreign_transaction_warning(None, None, "CP-1") is None
    assert foreign_transaction_warning(7, "CP-1", "CP-1") is None
    not_ours = "transactionId 7 is not a transaction of this charge point"
    assert foreign_transaction_warning(7, "CP-2", "CP-1") == not_ours
    assert foreign_transaction_warning(7, None, "CP-1") == not_ours


def test_meter_values_from_the_future_are_warned_about_by_their_newest_reading() -> None:
    assert meter_values_warnings(None, None, "CP-1", [], NOW, 60) == []
    ahead = [NOW - timedelta(hours=1), NOW + timedelta(hours=1)]
    assert meter_values_warnings(7, None, "CP-1", ahead, NOW, 60) == [
        "transactionId 7 is not a transaction of this charge point",
        "timestamp is 3600 s ahead of the central system's clock",
    ]


def test_readings_count_for_a_transaction_of_their_own_cp() -> None:
    assert counts_for_transaction("CP-1", "CP-1")
    assert not counts_for_transaction("CP-2", "CP-1")
    assert not counts_for_transaction(None, "CP-1")
