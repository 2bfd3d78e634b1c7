"""What a site's allocation holds against, through the real suite: a limit no grid connection
carries is refused naming its field, a site whose rounds fail does not stop the others' timer,
a station's implausible readings are ignored (counted, and raised as a security event), an
operator's profile cannot take over the allocator's on a station of a site, and a station
placed while offline gets its failsafe as soon as it is back."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import httpx
import pytest

from tests.integration.conftest import Suite
from tests.integration.support import ChargePointClient, eventually, metric
from tests.integration.test_charging_profiles import answering, received, station, tx_default
from tests.integration.test_load_demand import Session
from tests.integration.test_load_management import held
from tests.integration.test_sites import created, problem, unique

pytestmark = pytest.mark.integration

# LOADS_ALLOCATION_PROFILE_ID in the suite (the default): the allocator's profile on EVSE n is
# this + n.
ALLOCATOR = 1_900_000_000
BOOT = {"chargePointVendor": "ACME", "chargePointModel": "X1"}


async def new_site(api: httpx.AsyncClient, amps: int = 32) -> int:
    site = await created(api, "/sites", {"name": unique("safety"), "limitAmps": [amps] * 3})
    return int(site["id"])


async def place(api: httpx.AsyncClient, cp_id: str, site_id: int, **settings: Any) -> None:
    placed = await api.put(f"/charge-points/{cp_id}/site", json={"nodeId": site_id, **settings})
    assert placed.status_code == 200, placed.text


async def placed_station(
    api: httpx.AsyncClient, connect_cp: Any, site_id: int, version: str = "1.6"
) -> ChargePointClient:
    """A station connected in `version` and on the site, holding its first allocator limit."""
    cp_id = unique("SF").replace(" ", "-")
    cp = await station(api, connect_cp, cp_id, version)
    await place(api, cp_id, site_id, maxCurrent=32, minCurrent=6)
    await eventually(lambda: holding(cp, version), timeout=30)
    return cp


async def holding(cp: ChargePointClient, version: str, amps: int | None = None) -> bool:
    """Whether the station holds an allocator limit (of `amps`, if given)."""
    limit = held(cp, version)
    return limit is not None and (amps is None or limit == amps)


async def charging(api: httpx.AsyncClient, site_id: int, cp_id: str) -> bool:
    """Whether the allocator counts a session on the station's EVSE."""
    return bool((await evse_of(api, site_id, cp_id))["charging"])


async def evse_of(api: httpx.AsyncClient, site_id: int, cp_id: str) -> dict[str, Any]:
    """The station's EVSE 1 in the site's allocation view."""
    shown = await api.get(f"/sites/{site_id}/allocation")
    assert shown.status_code == 200, shown.text
    [evse] = [e for e in shown.json()["evses"] if e["chargePointId"] == cp_id]
    return dict(evse)


# -- limits a site can carry, and one site's failing rounds -----------------------------


async def test_a_limit_beyond_what_a_grid_connection_carries_is_refused_naming_the_field(
    api: httpx.AsyncClient,
) -> None:
    # 10^9 W at 230 V is 1.4 million A per phase: no column holds it, no connection carries it.
    refused = problem(
        await api.post("/sites", json={"name": unique("huge"), "limitWatts": 10**9}), 422
    )
    assert "limitWatts" in refused["detail"]
    # Within the model's bound but above 10,000 A per phase at this site's voltage and phases.
    refused = problem(
        await api.post(
            "/sites", json={"name": unique("huge"), "limitWatts": 7_000_000, "voltage": 230}
        ),
        422,
    )
    assert "limitWatts" in refused["detail"] and "10000 A per phase" in refused["detail"]
    # 10,000 A per phase at 230 V on three phases is the most; a lower voltage after it is not.
    site = await created(api, "/sites", {"name": unique("big"), "limitWatts": 6_900_000})
    lowered = problem(await api.patch(f"/sites/{site['id']}", json={"voltage": 110}), 422)
    assert "limitWatts" in lowered["detail"]
    nodes = f"/sites/{site['id']}/nodes"
    body = {"name": "Panel", "parentId": site["id"], "limitWatts": 10**8}
    assert "limitWatts" in problem(await api.post(nodes, json=body), 422)["detail"]
    # Per phase in A, as before: at most 10,000 A.
    assert (
        "limitAmps"
        in problem(
            await api.post("/sites", json={"name": unique("amps"), "limitAmps": [10_001] * 3}), 422
        )["detail"]
    )
    # Nothing of it was stored.
    assert (await api.get(f"/sites/{site['id']}")).json()["voltage"] == 230


async def registered_on(api: httpx.AsyncClient, site_id: int) -> str:
    """A station the registry knows (never connected) placed on the site."""
    cp_id = f"CP-{uuid.uuid4().hex[:10]}"
    assert (await api.put(f"/charge-points/{cp_id}", json={"securityProfile": 0})).is_success
    await place(api, cp_id, site_id)
    return cp_id


async def test_a_site_whose_timer_rounds_fail_does_not_stop_the_other_sites_rounds(
    api: httpx.AsyncClient, suite: Suite, db: asyncpg.Connection
) -> None:
    """The broken site is made first (a lower id: its round comes first in the timer's order);
    its station's row is made unreadable, as any fault that makes its round raise. A site made
    once it fails has its first sample (which only a timer round writes) all the same."""
    port = suite.internal_ports["load-manager"]
    broken_site = await new_site(api)
    broken = await registered_on(api, broken_site)
    # Its first limit found the station offline; that answer's round is done.
    await eventually(
        lambda: db.fetchval(
            "SELECT count(*) FROM loads.evse_allocations"
            " WHERE charge_point_id = $1 AND in_flight IS NULL AND request_id IS NULL",
            broken,
        )
    )
    await db.execute(
        "UPDATE loads.stations SET ocpp_version = 'x.y' WHERE charge_point_id = $1", broken
    )
    try:
        failures = "csms_loads_site_round_failures_total"
        await eventually(
            lambda: metric(port, failures, site=str(broken_site)), timeout=30, interval=0.5
        )
        site_id = await new_site(api)
        await registered_on(api, site_id)

        async def sampled() -> bool:
            history = await api.get(f"/sites/{site_id}/allocation/history", params={"hours": 1})
            assert history.status_code == 200, history.text
            return bool(history.json()["samples"])

        await eventually(sampled, timeout=30, interval=0.5)
        assert await metric(port, failures, site=str(site_id)) == 0
        assert await metric(port, failures, site=str(broken_site)) >= 2
    finally:
        await db.execute(
            "UPDATE loads.stations SET ocpp_version = NULL WHERE charge_point_id = $1", broken
        )
        assert (await api.delete(f"/charge-points/{broken}/site")).status_code == 204


# -- readings a station cannot draw -----------------------------------------------------


async def drawn(api: httpx.AsyncClient, site_id: int, cp_id: str) -> Any:
    """The station's last reading as the allocator took it."""
    return (await evse_of(api, site_id, cp_id)).get("drawn")


async def security_events(api: httpx.AsyncClient, cp_id: str, at_least: int = 0) -> list[str]:
    """The station's security events in the system log (none until there are `at_least`)."""
    found = await api.get("/logs", params={"chargePointId": cp_id, "level": "WARNING"})
    assert found.status_code == 200, found.text
    events = [
        entry["message"]
        for entry in found.json()["items"]
        if entry["message"].startswith("security event ")
    ]
    return events if len(events) >= at_least else []


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_readings_a_station_cannot_draw_are_ignored_counted_and_raised(
    api: httpx.AsyncClient, suite: Suite, connect_cp: Any, version: str
) -> None:
    port = suite.internal_ports["load-manager"]
    site_id = await new_site(api)
    cp = await placed_station(api, connect_cp, site_id, version)
    session = Session(api, cp, version)
    await session.start()
    await eventually(lambda: charging(api, site_id, cp.cp_id), timeout=30)
    await session.draws(10)

    async def drawing(amps: int) -> bool:
        return bool(await drawn(api, site_id, cp.cp_id) == amps)

    await eventually(lambda: drawing(10), timeout=30)
    counter = "csms_loads_implausible_readings_total"
    found: list[str] = []
    for amps, bound, seen in ((999_999, "above_maximum", 1), (-999_999, "negative", 2)):
        before = await metric(port, counter, bound=bound)

        async def counted(bound: str = bound, before: float = before) -> bool:
            return await metric(port, counter, bound=bound) > before

        await session.draws(amps)
        await eventually(counted, timeout=30)
        # Ignored: the allocator keeps the last plausible reading.
        assert await drawing(10)
        # One security event each time the readings turn implausible.
        await session.draws(10)
        found = await eventually(lambda seen=seen: security_events(api, cp.cp_id, seen))
        assert len(found) == seen, found
        assert all("ImplausibleCurrentReading" in message for message in found), found
    assert any("-999999 A" in message for message in found), found
    assert any(" 999999 A" in message for message in found), found

    async def kept() -> list[dict[str, Any]] | None:
        # The station's own security log (the registry's) keeps them too.
        page = await api.get(f"/charge-points/{cp.cp_id}/security-events")
        items = [i for i in page.json()["items"] if i["type"] == "ImplausibleCurrentReading"]
        return items if len(items) == 2 else None

    assert {item["source"] for item in await eventually(kept)} == {"csms"}


# -- the allocator's own profile -------------------------------------------------------


async def test_an_operators_profile_cannot_take_over_the_allocators_on_a_managed_station(
    api: httpx.AsyncClient, connect_cp: Any
) -> None:
    site_id = await new_site(api, 40)
    cp = await placed_station(api, connect_cp, site_id)
    path = f"/charge-points/{cp.cp_id}/charging-profiles"
    # The allocator's id on EVSE 1: it would replace the site's limit on the station.
    refused = problem(await api.post(path, json=tx_default(ALLOCATOR + 1)), 422)
    assert "profile.id" in refused["detail"] and "LOADS_ALLOCATION_PROFILE_ID" in refused["detail"]
    # A TxDefaultProfile at the allocator's stack level (8) or above would win over it.
    for level in (8, 9):
        refused = problem(await api.post(path, json=tx_default(2, stackLevel=level)), 422)
        assert "profile.stackLevel" in refused["detail"], refused
        assert "LOADS_ALLOCATION_STACK_LEVEL" in refused["detail"]
    # A TxProfile overrides every TxDefaultProfile while its transaction runs.
    tx = tx_default(3, purpose="TxProfile", transactionId="1", kind="Relative")
    tx["schedules"][0].pop("startSchedule")
    refused = problem(await api.post(path, json=tx), 422)
    assert "profile.purpose" in refused["detail"] and "TxProfile" in refused["detail"]
    # Under the allocator's level, or a station maximum (it only lowers): stored and sent.
    assert (await api.post(path, json=tx_default(4, stackLevel=7))).status_code == 201
    station_max = tx_default(5, purpose="StationMaxProfile", connectorId=0, stackLevel=20)
    assert (await api.post(path, json=station_max)).status_code == 201
    stored = (await api.get(path)).json()["items"]
    assert sorted(item["profile"]["id"] for item in stored) == [4, 5]
    # The station never got any of the refused ones: its SetChargingProfiles are the
    # allocator's (its id) and the two stored.
    sent = {
        p["csChargingProfiles"]["chargingProfileId"]
        for p in received(cp, "1.6", "SetChargingProfile")
    }
    assert sent <= {ALLOCATOR + 1, 4, 5}


def raw_profile(profile_id: int, **changes: Any) -> dict[str, Any]:
    """A 1.6 SetChargingProfile body for EVSE 1, sent raw (not stored)."""
    profile = {
        "chargingProfileId": profile_id,
        "stackLevel": 1,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Relative",
        "chargingSchedule": {
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 32}],
        },
    } | changes
    return {"connectorId": 1, "csChargingProfiles": profile}


async def test_a_profile_sent_raw_obeys_the_rules_a_stored_one_does(
    api: httpx.AsyncClient, connect_cp: Any
) -> None:
    site_id = await new_site(api, 40)
    cp = await placed_station(api, connect_cp, site_id)
    raw = f"/charge-points/{cp.cp_id}/commands/SetChargingProfile"
    refused = problem(await api.post(raw, json=raw_profile(ALLOCATOR + 1)), 422)
    assert "body.csChargingProfiles.chargingProfileId" in refused["detail"], refused
    refused = problem(await api.post(raw, json=raw_profile(11, stackLevel=8)), 422)
    assert "csChargingProfiles.stackLevel" in refused["detail"], refused
    tx = raw_profile(12, chargingProfilePurpose="TxProfile", transactionId=1)
    refused = problem(await api.post(raw, json=tx), 422)
    assert "csChargingProfiles.chargingProfilePurpose" in refused["detail"], refused
    # A remote start's profile is a TxProfile: not on a station of a site.
    start = {
        "idTag": "TAG-1",
        "connectorId": 1,
        "chargingProfile": raw_profile(13, chargingProfilePurpose="TxProfile")[
            "csChargingProfiles"
        ],
    }
    refused = problem(
        await api.post(f"/charge-points/{cp.cp_id}/commands/RemoteStartTransaction", json=start),
        422,
    )
    assert "body.chargingProfile.chargingProfilePurpose" in refused["detail"], refused
    # Under the allocator's level it goes (the station answers).
    answering(cp)
    fine = await api.post(raw, json=raw_profile(14, stackLevel=7))
    assert fine.status_code == 200, fine.text
    sent = {
        p["csChargingProfiles"]["chargingProfileId"]
        for p in received(cp, "1.6", "SetChargingProfile")
    }
    assert sent <= {ALLOCATOR + 1, 14} and 14 in sent


async def test_a_station_holding_a_profile_above_the_allocators_is_not_placed_on_a_site(
    api: httpx.AsyncClient, connect_cp: Any
) -> None:
    cp_id = unique("SF").replace(" ", "-")
    await station(api, connect_cp, cp_id, "1.6")
    path = f"/charge-points/{cp_id}/charging-profiles"
    # On no site the allocator's ids are still its own (the station may be placed later).
    problem(await api.post(path, json=tx_default(ALLOCATOR + 2)), 422, "profile.id")
    # A stack level above the allocator's is the operator's business on a station of no site...
    assert (await api.post(path, json=tx_default(7, stackLevel=9))).status_code == 201
    # ...until it is to be placed: the site's limit would not hold there.
    site_id = await new_site(api)
    refused = problem(await api.put(f"/charge-points/{cp_id}/site", json={"nodeId": site_id}), 409)
    assert "7" in refused["detail"] and "stackLevel" in refused["detail"], refused
    problem(await api.get(f"/charge-points/{cp_id}/site"), 404)
    # Once it is gone, the station is placed.
    assert (await api.delete(f"{path}/7")).status_code == 202

    async def cleared() -> bool:
        return not (await api.get(path)).json()["items"]

    await eventually(cleared)
    await place(api, cp_id, site_id)


# -- a station placed while offline ----------------------------------------------------


@pytest.mark.parametrize("comes_back", ["boot", "reconnection"])
async def test_a_station_placed_while_offline_gets_its_failsafe_as_soon_as_it_is_back(
    api: httpx.AsyncClient, connect_cp: Any, comes_back: str
) -> None:
    cp_id = unique("OF").replace(" ", "-")
    first = await station(api, connect_cp, cp_id, "1.6")
    await first.close()

    async def offline() -> bool:
        return not (await api.get(f"/charge-points/{cp_id}")).json().get("online")

    await eventually(offline)
    site_id = await new_site(api)
    await place(api, cp_id, site_id, maxCurrent=32, minCurrent=6)

    # Its first limit came back `offline`: the station is not connected.
    async def undelivered() -> bool:
        listed = await api.get(
            "/commands",
            params={"chargePointId": cp_id, "action": "SetChargingProfile", "status": "offline"},
        )
        assert listed.status_code == 200, listed.text
        return bool(listed.json()["items"])

    await eventually(undelivered)
    back: ChargePointClient = await connect_cp(cp_id, 0, subprotocols=["ocpp1.6"])
    answering(back)
    if comes_back == "boot":
        assert (await back.call("BootNotification", BOOT))["status"] == "Accepted"
    # At once (a second or so), not after the 60 s a rejection waits.
    await eventually(lambda: holding(back, "1.6", 32), timeout=10)
