"""Valid but nonsensical input: accepted, and a warning that says what was odd."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from session_service.checks import (
    INT32,
    connector_warnings,
    decision_time,
    fits,
    future_warning,
    timestamp_checks,
)

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def test_operator_ids_beyond_32_bits_do_not_fit() -> None:
    assert fits(2**31 - 1, INT32) and fits(-(2**31), INT32)
    assert not fits(2**31, INT32) and not fits(-(2**31) - 1, INT32)


def test_future_timestamps_beyond_the_skew_are_flagged() -> None:
    assert future_warning("timestamp", NOW + timedelta(seconds=299), NOW, 300) is None
    warning = future_warning("timestamp", NOW + timedelta(days=365), NOW, 300)
    assert warning is not None and "ahead" in warning
    assert future_warning("timestamp", NOW - timedelta(days=365), NOW, 300) is None


def test_implausible_future_is_judged_at_the_central_systems_time() -> None:
    far = NOW + timedelta(days=3)
    assert decision_time(far, NOW, 300) == NOW
    queued = NOW - timedelta(hours=5)
    assert decision_time(queued, NOW, 300) == queued


def test_connector_warnings() -> None:
    assert connector_warnings(1, set()) == []
    assert connector_warnings(2, {1, 2}) == []
    assert "never reported" in connector_warnings(3, {1, 2})[0]
    assert "numbered from 1" in connector_warnings(0, {1})[0]


def test_a_timestamp_far_ahead_is_warned_about_and_judged_at_reception() -> None:
    assert timestamp_checks(NOW + timedelta(seconds=30), NOW, 60) == (
        [],
        NOW + timedelta(seconds=30),
    )
    warnings, at = timestamp_checks(NOW + timedelta(hours=1), NOW, 60)
    assert warnings == ["timestamp is 3600 s ahead of the central system's clock"] and at == NOW
