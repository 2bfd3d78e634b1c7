"""What a site, a node, a change of either and a station's settings may be, before any I/O."""

from __future__ import annotations

from decimal import Decimal

import pytest

from csms_shared.bus.rpc import RpcError, read_params
from csms_shared.contracts.rpc_loads import (
    AssignStation,
    CreateNode,
    NodeChange,
    NodeSettings,
    SiteChange,
)


def test_a_limit_in_amps_has_one_number_per_phase_with_one_decimal() -> None:
    three = read_params(NodeSettings, b'{"name": "Depot", "limitAmps": [100, 100, 80.5]}')
    assert isinstance(three, NodeSettings)
    assert three.limit_amps == [Decimal(100), Decimal(100), Decimal("80.5")]
    assert (three.voltage, three.phases, three.limit_watts) == (230, 3, None)
    one = read_params(NodeSettings, b'{"name": "Shed", "limitAmps": [32], "phases": 1}')
    assert isinstance(one, NodeSettings) and one.limit_amps == [Decimal(32)]
    # Its grid phase, when not given, is the load-manager's to choose (the parent's, or L1).
    assert one.grid_phase is None


def test_a_limit_in_watts_is_a_whole_number() -> None:
    site = read_params(NodeSettings, b'{"name": "Shop", "limitWatts": 22000, "voltage": 120}')
    assert isinstance(site, NodeSettings)
    assert (site.limit_watts, site.limit_amps, site.voltage) == (22000, None, 120)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b'{"name": "A"}', "a node needs a limit: limitAmps .A per phase. or limitWatts"),
        (b'{"name": "A", "limitAmps": [10, 10, 10], "limitWatts": 5}', "not both"),
        (b'{"name": "A", "limitAmps": [10]}', "one number per phase: 3 for a 3-phase node, not 1"),
        (b'{"name": "A", "limitAmps": [10, 10, 10], "phases": 1}', "1 for a 1-phase node, not 3"),
        (b'{"name": "A", "limitAmps": [1, 1, 1], "phases": 2}', "phases: Input should be 1 or 3"),
        (b'{"name": "A", "limitAmps": [10.25, 10, 10]}', "limitAmps.0: Decimal input should have"),
        (b'{"name": "A", "limitAmps": [0, 10, 10]}', "limitAmps.0: Input should be greater than 0"),
        (b'{"name": "A", "limitWatts": 1.5}', "limitWatts: Input should be a valid integer"),
        (b'{"name": "", "limitWatts": 100}', "name: String should have at least 1 character"),
        (b'{"name": "A", "limitWatts": 100, "voltage": 20}', "voltage: Input should be greater"),
        (b'{"name": "A", "limitWatts": 100, "fuse": 3}', "fuse: Extra inputs are not permitted"),
        (
            b'{"name": "A", "limitWatts": 100, "gridPhase": 2}',
            "gridPhase is for a single-phase node",
        ),
        (
            b'{"name": "A", "limitAmps": [16], "phases": 1, "gridPhase": 4}',
            "gridPhase: Input should be 1, 2 or 3",
        ),
    ],
)
def test_a_node_that_cannot_be_is_refused_with_what_is_wrong(body: bytes, problem: str) -> None:
    with pytest.raises(RpcError, match=problem) as refused:
        read_params(NodeSettings, body)
    assert refused.value.code == "invalid"


def test_a_node_names_its_parent() -> None:
    with pytest.raises(RpcError, match="parentId: Field required"):
        read_params(CreateNode, b'{"siteId": 1, "name": "Panel", "limitWatts": 1000}')


@pytest.mark.parametrize(
    ("model", "body", "problem"),
    [
        (SiteChange, b'{"name": null}', "name cannot be cleared"),
        (SiteChange, b'{"voltage": null}', "voltage cannot be cleared"),
        (SiteChange, b'{"phases": null}', "phases cannot be cleared"),
        (SiteChange, b'{"limitAmps": null}', "a node keeps a limit: send limitAmps or limitWatts"),
        (SiteChange, b'{"limitAmps": [1, 1, 1], "limitWatts": 10}', "not both"),
        (SiteChange, b'{"parentId": 3}', "parentId: Extra inputs are not permitted"),
        (NodeChange, b'{"parentId": null}', "parentId cannot be cleared"),
    ],
)
def test_a_change_keeps_what_a_node_must_have(
    model: type[SiteChange], body: bytes, problem: str
) -> None:
    with pytest.raises(RpcError, match=problem):
        read_params(model, body)


def test_a_change_of_unit_sends_the_new_limit_and_may_null_the_old() -> None:
    change = read_params(NodeChange, b'{"limitWatts": 11000, "limitAmps": null}')
    assert isinstance(change, NodeChange)
    assert change.limit_watts == 11000 and change.limit_amps is None
    assert change.model_fields_set == {"limit_watts", "limit_amps"}


def test_a_stations_settings_are_optional_and_ordered() -> None:
    bare = read_params(AssignStation, b'{"chargePointId": "CP-1", "nodeId": 4}')
    assert isinstance(bare, AssignStation)
    assert (bare.max_current, bare.min_current, bare.priority) == (None, None, 0)
    with pytest.raises(RpcError, match="minCurrent is above maxCurrent"):
        read_params(
            AssignStation,
            b'{"chargePointId": "CP-1", "nodeId": 4, "minCurrent": 16, "maxCurrent": 10}',
        )
    with pytest.raises(RpcError, match="priority: Input should be less than or equal to 1000"):
        read_params(AssignStation, b'{"chargePointId": "CP-1", "nodeId": 4, "priority": 5000}')
