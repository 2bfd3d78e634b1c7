"""What StatusNotifications store, one alone or many folded as one after the other."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from csms_shared.ocpp.v16.messages import StatusNotificationRequest
from station_registry.action_status import Statuses, StatusRead, status_row

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
PLUS_2 = timezone(timedelta(hours=2))


def notification(
    connector: int, status: str, at: datetime | None = None, error: str = "NoError"
) -> StatusNotificationRequest:
    payload: dict[str, object] = {"connectorId": connector, "status": status, "errorCode": error}
    if at is not None:
        payload["timestamp"] = at.isoformat()
    return StatusNotificationRequest.model_validate(payload)


def test_a_status_is_ordered_by_the_cps_timestamp_else_by_its_arrival_in_utc() -> None:
    received = T0.astimezone(PLUS_2)
    charging = notification(1, "Charging", T0 - timedelta(minutes=5))
    sent = status_row(charging, "CP-1", received, report=StatusRead.of_v16(charging).report)
    assert (sent["at"], sent["received"]) == (T0 - timedelta(minutes=5), T0)
    assert sent["at"].tzinfo is UTC and sent["received"].tzinfo is UTC
    now = notification(1, "Charging")
    unsent = status_row(now, "CP-1", received, report=StatusRead.of_v16(now).report)
    assert unsent["at"] == T0 and unsent["at"].tzinfo is UTC
    assert (unsent["status"], unsent["error_code"], unsent["info"]) == ("Charging", "NoError", None)
    # In our terms too, for the history: Occupied, the car charging.
    ours = (unsent["connector_status"], unsent["charging_state"], unsent["connector_error_code"])
    assert ours == ("Occupied", "Charging", "NoError")


def fold(*calls: tuple[StatusNotificationRequest, datetime]) -> Statuses:
    statuses = Statuses()
    for request, received in calls:
        StatusRead.of_v16(request).add_to(statuses, "CP-1", received)
    return statuses


def test_a_connectors_newest_status_wins_and_of_two_as_new_the_later() -> None:
    statuses = fold(
        (notification(1, "Charging", T0 + timedelta(minutes=2)), T0),
        (notification(1, "Available", T0 + timedelta(minutes=1)), T0 + timedelta(seconds=1)),
        (notification(1, "Finishing", T0 + timedelta(minutes=2)), T0 + timedelta(seconds=2)),
        (
            notification(2, "Faulted", T0),
            T0 - timedelta(seconds=5),
        ),
    )
    assert {k: row["status"] for k, row in statuses.newest.items()} == {
        ("CP-1", 1): "Finishing",
        ("CP-1", 2): "Faulted",
    }
    # In our terms each is EVSE n's connector 1: Finishing is Occupied, the car EVConnected.
    assert {
        k: (row["status"], row["charging_state"], row["error_code"])
        for k, row in statuses.newest_ours.items()
    } == {
        ("CP-1", 1, 1): ("Occupied", "EVConnected", "NoError"),
        ("CP-1", 2, 1): ("Faulted", None, "NoError"),
    }
    # Last seen never moves backwards.
    assert statuses.last_seen == {"CP-1": T0 + timedelta(seconds=2)}


def test_a_16_status_is_published_in_our_terms_beside_its_own() -> None:
    statuses = fold((notification(2, "SuspendedEV", T0), T0), (notification(0, "Available"), T0))
    events = [read.event(row) for row, read in statuses.history.values()]
    assert [
        (e.evse_id, e.evse_connector_id, e.connector_status, e.charging_state) for e in events
    ] == [
        (2, 1, "Occupied", "SuspendedEV"),
        (0, 0, "Available", None),
    ]
    assert [(e.connector_id, e.status) for e in events] == [(2, "SuspendedEV"), (0, "Available")]
    # The station itself (connector 0) is no EVSE's connector.
    assert list(statuses.newest_ours) == [("CP-1", 2, 1)]


def test_a_copy_makes_no_second_history_row() -> None:
    same = notification(1, "Charging", T0)
    statuses = fold(
        (same, T0),
        (same, T0 + timedelta(seconds=1)),
        (notification(1, "Charging", T0, "OtherError"), T0),
    )
    assert [row["received"] for row, *_ in statuses.history.values()] == [T0, T0]
    assert [row["error_code"] for row, *_ in statuses.history.values()] == ["NoError", "OtherError"]
