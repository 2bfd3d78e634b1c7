"""The status history as the API shows it, rows kept in our terms or only in 1.6's."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from station_registry.rpc_charge_points import status_record

T0 = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


def row(status: str, error: str = "NoError", within: int | None = None, **ours: Any) -> Any:
    fields = {"connector_status": None, "charging_state": None, "connector_error_code": None}
    return SimpleNamespace(
        connector_id=1,
        evse_connector_id=within,
        status=status,
        error_code=error,
        timestamp=T0,
        info=None,
        **(fields | ours),
    )


def ours(record: Any) -> tuple[str, str | None, str]:
    return record.connector_status, record.charging_state, record.connector_error_code


def test_a_row_in_our_terms_is_shown_as_kept() -> None:
    kept = row("Preparing", within=2, connector_status="Occupied", connector_error_code="NoError")
    record = status_record(kept)
    assert ours(record) == ("Occupied", None, "NoError")
    assert (record.status, record.evse_connector_id) == ("Preparing", 2)


def test_a_16_row_kept_before_our_terms_is_read_from_its_spelling() -> None:
    assert ours(status_record(row("Charging"))) == ("Occupied", "Charging", "NoError")
    assert ours(status_record(row("Finishing"))) == ("Occupied", "EVConnected", "NoError")
    faulted = status_record(row("Faulted", "GroundFailure"))
    assert ours(faulted) == ("Faulted", None, "GroundFailure")


def test_a_201_row_kept_before_says_no_charging_state() -> None:
    # Stored as 1.6's Preparing for 2.0.1's Occupied: the car's state was never told there.
    assert ours(status_record(row("Preparing", within=1))) == ("Occupied", None, "NoError")
