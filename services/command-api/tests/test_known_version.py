"""A charge point's OCPP version is what its connection spoke, never assumed: one registered
and never connected has none (the registry shows none)."""

from __future__ import annotations

from datetime import UTC, datetime

from command_api.versions import known_version
from csms_shared.contracts.resources import ChargePoint
from csms_shared.ocpp.version import OcppVersion

SEEN = datetime(2026, 11, 26, tzinfo=UTC)


def charge_point(**fields: object) -> ChargePoint:
    return ChargePoint.model_validate(
        {"id": "CP1", "firstSeen": SEEN, "online": False, "connectors": []} | fields
    )


def test_a_charge_point_never_connected_has_no_version() -> None:
    assert known_version(charge_point()) is None
    assert "ocppVersion" not in charge_point().model_dump(by_alias=True)


def test_a_connected_or_once_connected_charge_point_has_the_version_it_spoke() -> None:
    assert known_version(charge_point(ocppVersion="2.0.1", online=True)) is OcppVersion.V201
    assert known_version(charge_point(ocppVersion="1.6", connectedAt=SEEN)) is OcppVersion.V16
