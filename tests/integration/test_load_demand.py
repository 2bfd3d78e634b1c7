"""What a session wants, through the real suite: an EV that suspends itself (a 2.0.1
TransactionEvent's chargingState SuspendedEV, a 1.6 StatusNotification SuspendedEV) is held at
its minimum while the other session takes what it frees, and Charging gives it its share again;
a session that draws well under its limit for LOADS_ALLOCATION_UNDERUSE_AFTER (2 s in the
suite) is capped at its draw plus the headroom, until it draws more."""

from __future__ import annotations

import itertools
import uuid
from typing import Any

import httpx
import pytest

from csms_shared.ocpp._base import format_datetime, utcnow
from tests.integration.conftest import Suite
from tests.integration.support import ChargePointClient, eventually, metric
from tests.integration.test_charging_profiles import station
from tests.integration.test_load_management import Fleet
from tests.integration.test_sites import unique

pytestmark = pytest.mark.integration

OTHER = {"1.6": "2.0.1", "2.0.1": "1.6"}


class Session:
    """A station's session on its EVSE 1, told in the station's version."""

    def __init__(self, api: httpx.AsyncClient, cp: ChargePointClient, version: str) -> None:
        self.api, self.cp, self.version = api, cp, version
        self.transaction: int | str | None = None
        self.seq = itertools.count()

    async def start(self, ev_state: str = "Charging") -> None:
        """Start the session, its car in `ev_state` (a 1.6 station reports a state other than
        Charging before its StartTransaction, as one whose car waits does)."""
        at = format_datetime(utcnow())
        if self.version == "1.6":
            if ev_state != "Charging":
                await self.ev(ev_state)
            tag = f"D-{uuid.uuid4().hex[:12]}"
            assert (await self.api.post("/id-tags", json={"idTag": tag})).status_code == 201
            body = {"connectorId": 1, "idTag": tag, "meterStart": 0, "timestamp": at}
            started = await self.cp.call("StartTransaction", body)
            assert started["idTagInfo"]["status"] == "Accepted", started
            self.transaction = started["transactionId"]
            return
        self.transaction = f"TX-{uuid.uuid4().hex[:8]}"
        info = {"chargingState": ev_state}
        await self.cp.call(
            "TransactionEvent", self.event("Started", "CablePluggedIn", info, evse={"id": 1})
        )

    async def stop(self) -> None:
        """End the session."""
        if self.version == "1.6":
            at = format_datetime(utcnow())
            body = {"transactionId": self.transaction, "meterStop": 1000, "timestamp": at}
            await self.cp.call("StopTransaction", body)
            return
        await self.cp.call(
            "TransactionEvent",
            self.event("Ended", "EVCommunicationLost", {"stoppedReason": "EVDisconnected"}),
        )

    def event(self, kind: str, trigger: str, info: dict[str, Any], **fields: Any) -> dict[str, Any]:
        """A 2.0.1 TransactionEvent of the session, numbered in order."""
        return {
            "eventType": kind,
            "timestamp": format_datetime(utcnow()),
            "triggerReason": trigger,
            "seqNo": next(self.seq),
            "transactionInfo": {"transactionId": self.transaction, **info},
            **fields,
        }

    async def ev(self, state: str) -> None:
        """The car suspends itself (SuspendedEV) or charges again (Charging)."""
        if self.version == "1.6":
            status = {"connectorId": 1, "errorCode": "NoError", "status": state}
            await self.cp.call("StatusNotification", status)
            return
        info = {"chargingState": state}
        await self.cp.call("TransactionEvent", self.event("Updated", "ChargingStateChanged", info))

    async def draws(self, amps: int) -> None:
        """A reading of the current the car draws on each phase."""
        at = format_datetime(utcnow())
        if self.version == "1.6":
            samples = [
                {"value": str(amps), "measurand": "Current.Import", "phase": p, "unit": "A"}
                for p in ("L1", "L2", "L3")
            ]
            body = {
                "connectorId": 1,
                "transactionId": self.transaction,
                "meterValue": [{"timestamp": at, "sampledValue": samples}],
            }
            await self.cp.call("MeterValues", body)
            return
        readings = [
            {
                "value": amps,
                "measurand": "Current.Import",
                "phase": p,
                "unitOfMeasure": {"unit": "A"},
            }
            for p in ("L1", "L2", "L3")
        ]
        reading = {"meterValue": [{"timestamp": at, "sampledValue": readings}]}
        await self.cp.call(
            "TransactionEvent", self.event("Updated", "MeterValuePeriodic", {}, **reading)
        )


async def sharing(
    api: httpx.AsyncClient, connect_cp: Any, versions: tuple[str, str], first_ev: str = "Charging"
) -> tuple[int, Fleet, list[Session]]:
    """Two stations on a 32 A site (at most 32 A and at least 6 A each), each with a session
    the allocator counts (16 A each when both cars charge); the first car in `first_ev`."""
    made = await api.post("/sites", json={"name": unique("demand"), "limitAmps": [32, 32, 32]})
    assert made.status_code == 201, made.text
    site_id = made.json()["id"]
    placed = []
    for version in versions:
        cp_id = unique("DM").replace(" ", "-")
        cp = await station(api, connect_cp, cp_id, version)
        body = {"nodeId": site_id, "maxCurrent": 32, "minCurrent": 6}
        answer = await api.put(f"/charge-points/{cp_id}/site", json=body)
        assert answer.status_code == 200, answer.text
        placed.append((cp, version))
    fleet = Fleet(api, site_id, placed)
    await fleet.holding(lambda found: found == [16, 16])
    fleet.limit = 32
    sessions = [Session(api, cp, version) for cp, version in placed]
    for session, ev_state in zip(sessions, (first_ev, "Charging"), strict=True):
        await session.start(ev_state)

    # The allocator has both sessions.
    async def counted() -> bool:
        shown = await api.get(f"/sites/{site_id}/allocation")
        assert shown.status_code == 200, shown.text
        return all(evse["charging"] for evse in shown.json()["evses"])

    await eventually(counted, timeout=30)
    return site_id, fleet, sessions


async def suspended(api: httpx.AsyncClient, site_id: int) -> dict[str, bool]:
    """Whether the allocation view shows each station's EV as suspended by itself."""
    shown = await api.get(f"/sites/{site_id}/allocation")
    assert shown.status_code == 200, shown.text
    return {evse["chargePointId"]: evse["suspended"] for evse in shown.json()["evses"]}


@pytest.mark.parametrize("version", ["2.0.1", "1.6"])
async def test_an_ev_that_suspends_itself_is_held_at_its_minimum_until_it_charges_again(
    api: httpx.AsyncClient, connect_cp: Any, version: str
) -> None:
    site_id, fleet, (suspending, other) = await sharing(api, connect_cp, (version, OTHER[version]))
    await fleet.holding(lambda found: found == [16, 16])
    assert await suspended(api, site_id) == {suspending.cp.cp_id: False, other.cp.cp_id: False}
    await suspending.ev("SuspendedEV")
    # Its minimum, so the car can resume; the other session takes the rest of the 32 A.
    await fleet.holding(lambda found: found == [6, 26])
    # The allocation view says why it is held there.
    assert await suspended(api, site_id) == {suspending.cp.cp_id: True, other.cp.cp_id: False}
    await suspending.ev("Charging")
    await fleet.holding(lambda found: found == [16, 16])
    assert await suspended(api, site_id) == {suspending.cp.cp_id: False, other.cp.cp_id: False}


@pytest.mark.parametrize("version", ["2.0.1", "1.6"])
async def test_a_car_suspended_from_the_start_is_held_at_its_minimum_until_it_charges(
    api: httpx.AsyncClient, connect_cp: Any, version: str
) -> None:
    """1.6: SuspendedEV reported before the StartTransaction; 2.0.1: the Started event's own
    chargingState. Either way the car's state may reach the allocator before the start."""
    site_id, fleet, (waiting, other) = await sharing(
        api, connect_cp, (version, OTHER[version]), first_ev="SuspendedEV"
    )
    await fleet.holding(lambda found: found == [6, 26])
    assert await suspended(api, site_id) == {waiting.cp.cp_id: True, other.cp.cp_id: False}
    await waiting.ev("Charging")
    await fleet.holding(lambda found: found == [16, 16])


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_a_session_drawing_well_under_its_limit_is_capped_at_its_draw_plus_headroom(
    api: httpx.AsyncClient, connect_cp: Any, version: str
) -> None:
    _, fleet, (light, _) = await sharing(api, connect_cp, (version, OTHER[version]))

    # Readings keep coming while the underuse lasts; once it has lasted 2 s the light session
    # is capped at 4 A + the 2 A headroom and the other takes the rest.
    async def capped() -> bool:
        await light.draws(4)
        return fleet.limits() == [6, 26]

    await eventually(capped, timeout=30, interval=0.5)
    # It draws up to its cap: it may want more, and gets its share again.
    await light.draws(6)
    await fleet.holding(lambda found: found == [16, 16])


async def view(api: httpx.AsyncClient, site_id: int) -> dict[str, dict[str, Any]]:
    """The allocation view's EVSEs by station."""
    shown = await api.get(f"/sites/{site_id}/allocation")
    assert shown.status_code == 200, shown.text
    return {evse["chargePointId"]: evse for evse in shown.json()["evses"]}


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_a_station_on_no_site_sends_the_load_manager_none_of_its_events(
    suite: Suite, api: httpx.AsyncClient, connect_cp: Any, version: str
) -> None:
    """Its queue is bound to the keys of the stations on sites alone (following.py): a
    session of a station on no site, with its readings, its car's state and its end, is
    followed by the same of a station on a site, and once the allocator has all of the
    second's, it has seen none of the first's (each would count as an unplaced event)."""
    port = suite.internal_ports["load-manager"]
    assert await eventually(lambda: metric(port, "csms_loads_followed_only"), timeout=30) == 1
    unplaced = await metric(port, "csms_loads_unplaced_events_total")

    cp_id = unique("NS").replace(" ", "-")
    alone = Session(api, await station(api, connect_cp, cp_id, version), version)
    await alone.start()
    await alone.draws(10)
    await alone.ev("SuspendedEV")
    await alone.stop()

    site_id, _, (placed, _) = await sharing(api, connect_cp, (version, OTHER[version]))
    await placed.draws(10)
    await placed.ev("SuspendedEV")

    async def seen() -> bool:
        evse = (await view(api, site_id))[placed.cp.cp_id]
        return bool(evse["suspended"] and evse.get("drawn") == 10)

    await eventually(seen, timeout=30)
    await placed.stop()

    async def ended() -> bool:
        return not (await view(api, site_id))[placed.cp.cp_id]["charging"]

    await eventually(ended, timeout=30)
    assert await metric(port, "csms_loads_unplaced_events_total") == unplaced
