"""What a command-api replica keeps of its stations' versions: the newest connection's, heard
on `station.connected`; the registry's answer only where nothing was heard."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from command_api.station_versions import CONNECTED, StationVersions
from csms_shared.contracts.station_events import StationConnected
from csms_shared.ocpp.version import OcppVersion

T0 = datetime(2026, 11, 28, 12, tzinfo=UTC).timestamp()


def delivery(body: bytes, routing_key: str = CONNECTED) -> Any:
    return SimpleNamespace(routing_key=routing_key, body=body)


def connected(cp_id: str, subprotocol: str | None, at: float) -> bytes:
    return StationConnected(
        charge_point_id=cp_id,
        gateway="gw-1",
        connection_id="c1",
        connected_at=datetime.fromtimestamp(at, UTC),
        subprotocol=subprotocol,
    ).encode()


async def test_the_newest_connection_wins_whatever_order_its_events_arrive_in() -> None:
    versions = StationVersions()
    await versions.on_delivery(delivery(connected("CP1", "ocpp2.0.1", T0 + 10)))
    await versions.on_delivery(delivery(connected("CP1", "ocpp1.6", T0)))  # late, older
    assert versions.get("CP1") is OcppVersion.V201
    await versions.on_delivery(delivery(connected("CP1", "ocpp1.6", T0 + 20)))
    assert versions.get("CP1") is OcppVersion.V16
    # No subprotocol agreed: spoken to in 1.6, as the gateway and the registry do.
    await versions.on_delivery(delivery(connected("CP2", None, T0)))
    assert versions.get("CP2") is OcppVersion.V16


def test_the_registry_s_answer_never_overrides_what_was_heard() -> None:
    versions = StationVersions()
    versions.heard("CP1", OcppVersion.V201, T0)
    versions.learnt("CP1", OcppVersion.V16)  # read before the registry followed the connection
    assert versions.get("CP1") is OcppVersion.V201
    versions.learnt("CP2", OcppVersion.V16)
    versions.heard("CP2", OcppVersion.V201, T0)  # any event is newer than what was read
    assert versions.get("CP2") is OcppVersion.V201


def test_forgotten_one_at_a_time_all_at_once_and_the_longest_known_past_the_limit() -> None:
    versions = StationVersions(limit=3)
    for n in range(3):
        versions.heard(f"CP{n}", OcppVersion.V16, T0)
    versions.heard("CP0", OcppVersion.V201, T0 + 1)  # heard again: now the newest
    versions.learnt("CP3", OcppVersion.V16)
    assert len(versions) == 3
    assert versions.get("CP1") is None
    assert [versions.get(f"CP{n}") for n in (0, 2, 3)] == [
        OcppVersion.V201,
        OcppVersion.V16,
        OcppVersion.V16,
    ]
    versions.forget("CP0")
    assert versions.get("CP0") is None
    versions.clear()
    assert len(versions) == 0


async def test_anything_but_a_readable_station_connected_changes_nothing() -> None:
    versions = StationVersions()
    await versions.on_delivery(delivery(b"{not json"))
    await versions.on_delivery(delivery(b'{"event": "station.connected"}'))
    await versions.on_delivery(delivery(connected("CP1", "ocpp1.6", T0), "station.disconnected"))
    assert len(versions) == 0
