"""An id tag's chargingPriority through the real suite: set over REST (and refused by name when
it cannot be one), told to a 2.0.1 station in its answers, and on a site too small for two
sessions the tag with the higher priority charges while the other is paused at 0 A, whatever
order they came in."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from csms_shared.ocpp._base import format_datetime, utcnow
from tests.integration.support import eventually
from tests.integration.test_charging_profiles import station
from tests.integration.test_load_management import Fleet
from tests.integration.test_sites import problem, unique

pytestmark = pytest.mark.integration


def new_tag() -> str:
    return f"P-{uuid.uuid4().hex[:12]}"


async def test_a_tags_charging_priority_is_set_over_rest_and_checked(
    api: httpx.AsyncClient,
) -> None:
    tag = new_tag()
    created = await api.post("/id-tags", json={"idTag": tag})
    assert created.status_code == 201, created.text
    assert created.json()["chargingPriority"] == 0
    changed = await api.patch(f"/id-tags/{tag}", json={"chargingPriority": -3})
    assert changed.status_code == 200, changed.text
    assert (await api.get(f"/id-tags/{tag}")).json()["chargingPriority"] == -3
    for value, why in (
        (10, "body.chargingPriority: Input should be less than or equal to 9"),
        (-10, "body.chargingPriority: Input should be greater than or equal to -9"),
        ("5", "body.chargingPriority: Input should be a valid integer"),
        (1.5, "body.chargingPriority: Input should be a valid integer"),
    ):
        problem(await api.patch(f"/id-tags/{tag}", json={"chargingPriority": value}), 422, why)
        body = {"idTag": new_tag(), "chargingPriority": value}
        problem(await api.post("/id-tags", json=body), 422, why)
    assert (await api.get(f"/id-tags/{tag}")).json()["chargingPriority"] == -3


async def test_on_a_small_site_the_tag_with_the_higher_priority_charges_and_the_other_waits(
    api: httpx.AsyncClient, connect_cp: Any
) -> None:
    # 10 A: room for one session's 6 A minimum, not two; idle stations hold 0 A (5 A each
    # would be under their minimum).
    site = await api.post("/sites", json={"name": unique("small"), "limitAmps": [10, 10, 10]})
    assert site.status_code == 201, site.text
    placed = []
    for version in ("1.6", "2.0.1"):
        cp_id = unique("PR").replace(" ", "-")
        cp = await station(api, connect_cp, cp_id, version)
        body = {"nodeId": site.json()["id"], "maxCurrent": 32, "minCurrent": 6}
        answer = await api.put(f"/charge-points/{cp_id}/site", json=body)
        assert answer.status_code == 200, answer.text
        placed.append((cp, version))
    fleet = Fleet(api, site.json()["id"], placed)
    await fleet.holding(lambda found: found == [0, 0])
    fleet.limit = 10
    (old, _), (new, _) = placed
    low, high = new_tag(), new_tag()
    for tag, priority in ((low, 0), (high, 5)):
        made = await api.post("/id-tags", json={"idTag": tag, "chargingPriority": priority})
        assert made.status_code == 201, made.text

    # The 1.6 station's session, with the low tag, comes first and takes the 10 A.
    started = await old.call(
        "StartTransaction",
        {"connectorId": 1, "idTag": low, "meterStart": 0, "timestamp": format_datetime(utcnow())},
    )
    assert started["idTagInfo"] == {"status": "Accepted"}  # 1.6 has no chargingPriority
    await fleet.holding(lambda found: found == [10, 0])

    # The 2.0.1 station is told the high tag's priority, and its session outranks the first.
    token = {"idToken": high, "type": "ISO14443"}
    authorized = await new.call("Authorize", {"idToken": token})
    assert authorized["idTokenInfo"] == {"status": "Accepted", "chargingPriority": 5}
    event = {
        "eventType": "Started",
        "timestamp": format_datetime(utcnow()),
        "triggerReason": "Authorized",
        "seqNo": 0,
        "transactionInfo": {"transactionId": f"TX-{uuid.uuid4().hex[:8]}"},
        "evse": {"id": 1, "connectorId": 1},
        "idToken": token,
    }
    answered = await new.call("TransactionEvent", event)
    assert answered["idTokenInfo"] == {"status": "Accepted", "chargingPriority": 5}
    # The first session is paused (a 0 A profile) and the high-priority one gets the site.
    await fleet.holding(lambda found: found == [0, 10])

    async def paused() -> dict[str, Any] | None:
        shown = await api.get(f"/sites/{site.json()['id']}/allocation")
        assert shown.status_code == 200, shown.text
        by_cp = {e["chargePointId"]: e for e in shown.json()["evses"]}
        return by_cp if by_cp[old.cp_id]["paused"] else None

    by_cp = await eventually(paused, timeout=30)
    assert by_cp[new.cp_id]["paused"] is False and by_cp[new.cp_id]["limit"] == 10
    # The transaction keeps the priority it started with.
    listed = await api.get("/transactions", params={"chargePointId": new.cp_id})
    assert [t["chargingPriority"] for t in listed.json()["items"]] == [5]
