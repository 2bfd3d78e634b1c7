"""A charge point's OCPP version is what its connection spoke, never assumed: one registered
and never connected has none (the registry shows none). A command reads it with one narrow RPC."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from command_api.station_versions import StationVersions
from command_api.versions import (
    WrongVersion,
    known_version,
    read_station_version,
    recheck_version,
    station_version,
)
from csms_shared.bus.rpc import RpcError
from csms_shared.contracts.resources import ChargePoint
from csms_shared.contracts.rpc import OfChargePoint, RegistryRpc, RpcMethod, StationVersion
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


class Registry:
    """The registry's RPC methods a command reads a station's version with; `narrow`: whether
    it has `station_version` (the release before has only `get_charge_point`)."""

    def __init__(self, stations: dict[str, str | None], *, narrow: bool) -> None:
        self.stations = stations
        self.narrow = narrow
        self.asked: list[str] = []

    async def call(self, method: RpcMethod[Any, Any], params: OfChargePoint, timeout: float) -> Any:
        self.asked.append(method.name)
        if method is RegistryRpc.station_version:
            if not self.narrow:
                raise RpcError("not_found", "station-registry has no RPC method 'station_version'")
            if params.id not in self.stations:
                return StationVersion(known=False)
            version = self.stations[params.id]
            return StationVersion(known=True, ocpp_version=version and OcppVersion(version))
        assert method is RegistryRpc.get_charge_point
        if params.id not in self.stations:
            raise RpcError("not_found", f"charge point {params.id!r} was never seen")
        return charge_point(id=params.id, ocppVersion=self.stations[params.id])


def state_of(registry: Registry, versions: StationVersions | None = None) -> Any:
    return SimpleNamespace(
        dispatcher=SimpleNamespace(
            rpc=registry, versions=StationVersions() if versions is None else versions
        ),
        settings=SimpleNamespace(rpc_timeout=5.0),
    )


@pytest.mark.parametrize("narrow", [True, False])
async def test_a_command_reads_the_version_narrowly_and_from_an_older_registry_whole(
    narrow: bool,
) -> None:
    registry = Registry({"CP-16": "1.6", "CP-201": "2.0.1", "CP-NEW": None}, narrow=narrow)
    state = state_of(registry)
    assert await read_station_version(state, "CP-201") == StationVersion(
        known=True, ocpp_version=OcppVersion.V201
    )
    assert await station_version(state, "CP-16") is OcppVersion.V16
    assert await read_station_version(state, "CP-NEW") == StationVersion(known=True)
    assert await read_station_version(state, "CP-GONE") == StationVersion(known=False)
    assert await station_version(state, "CP-GONE") is None
    # One narrow read per command; the whole station only from a registry without it.
    whole = registry.asked.count("get_charge_point")
    assert whole == (0 if narrow else 5)


async def test_a_version_read_once_is_kept_and_one_heard_is_never_asked() -> None:
    registry = Registry({"CP-16": "1.6", "CP-201": "2.0.1", "CP-NEW": None}, narrow=True)
    versions = StationVersions()
    state = state_of(registry, versions)
    versions.heard("CP-201", OcppVersion.V201, SEEN.timestamp())
    for _ in range(3):
        assert await station_version(state, "CP-201") is OcppVersion.V201
        assert await station_version(state, "CP-16") is OcppVersion.V16
        # Neither a station that never connected nor an unknown one is kept: asked each time.
        assert await station_version(state, "CP-NEW") is None
        assert await station_version(state, "CP-GONE") is None
    assert registry.asked == ["station_version"] * 7


async def test_a_rejected_command_rechecks_the_version_the_station_speaks_now() -> None:
    registry = Registry({"CP1": "2.0.1"}, narrow=True)
    versions = StationVersions()
    state = state_of(registry, versions)
    # The replica still holds the version of the station's connection before the last.
    versions.learnt("CP1", OcppVersion.V16)
    assert await station_version(state, "CP1") is OcppVersion.V16
    with pytest.raises(WrongVersion) as refused:
        await recheck_version(state, "CP1", "GetConfiguration", OcppVersion.V16)
    assert refused.value.status == 422
    assert refused.value.extensions["ocppVersion"] == "2.0.1"
    assert versions.get("CP1") is OcppVersion.V201
    # Rejected for another reason, the version unchanged: nothing to say beyond the rejection.
    await recheck_version(state, "CP1", "GetVariables", OcppVersion.V201)
    assert registry.asked == ["station_version"] * 2
