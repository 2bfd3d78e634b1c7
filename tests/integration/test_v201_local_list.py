"""A 2.0.1 station's Local Authorization List, synchronised from the same id tags as a 1.6
CP's: idTokens of each tag's type, within the limits its device model reports, then only what
changed; its GetLocalListVersion answer read in 2.0.1 terms."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.integration.support import eventually
from tests.integration.test_v201_commands import station

pytestmark = pytest.mark.integration


def report(items_per_message: int, entries_max: int) -> dict[str, Any]:
    """A NotifyReport part describing LocalAuthListCtrlr's limits."""

    def variable(name: str, value: str, **traits: Any) -> dict[str, Any]:
        return {
            "component": {"name": "LocalAuthListCtrlr"},
            "variable": {"name": name},
            "variableAttribute": [{"type": "Actual", "value": value, "mutability": "ReadOnly"}],
            "variableCharacteristics": {"dataType": "integer", "supportsMonitoring": False}
            | traits,
        }

    return {
        "requestId": 1,
        "generatedAt": "2026-11-25T08:00:00Z",
        "seqNo": 0,
        "reportData": [
            variable("ItemsPerMessage", str(items_per_message)),
            variable("Entries", "0", maxLimit=entries_max),
        ],
    }


async def _version(api: httpx.AsyncClient, cp_id: str, version: int) -> bool:
    response = await api.get(f"/charge-points/{cp_id}/local-list")
    return response.status_code == 200 and response.json()["listVersion"] == version


async def test_a_2_0_1_station_gets_the_list_as_typed_id_tokens_then_only_what_changed(
    api: httpx.AsyncClient, connect_cp: Any, cp_id: str
) -> None:
    parent = f"P{uuid.uuid4().hex[:8]}"
    assert (await api.post("/id-tags", json={"idTag": parent})).status_code == 201
    card, badge = f"{parent}-C", f"{parent}-B"
    # The card's chargingPriority goes with it; the badge's 0 is left out.
    for tag, kind, priority in ((card, "ISO14443", 4), (badge, "ISO15693", 0)):
        body = {"idTag": tag, "parentIdTag": parent, "type": kind, "chargingPriority": priority}
        created = await api.post("/id-tags", json=body)
        assert created.status_code == 201, created.text
        assert created.json()["type"] == kind
    cp = await station(api, connect_cp, cp_id, "2.0.1")
    assert await cp.call("NotifyReport", report(items_per_message=1, entries_max=10)) == {}

    async def described() -> bool:
        page = (await api.get(f"/charge-points/{cp_id}/variables")).json()
        return any(v["variable"] == "ItemsPerMessage" for v in page["items"])

    await eventually(described)
    first = await api.post(
        f"/charge-points/{cp_id}/local-list/sync", json={"parentIdTags": [parent]}
    )
    assert first.status_code == 200, first.text
    # Two tags, one per message (ItemsPerMessage): Full v1, then Differential v2.
    assert [(p["updateType"], p["listVersion"], p["entries"]) for p in first.json()["parts"]] == [
        ("Full", 1, 1),
        ("Differential", 2, 1),
    ]
    lists = [payload for action, payload in cp.received_calls if action == "SendLocalList"]
    assert [(p["versionNumber"], p["updateType"]) for p in lists] == [
        (1, "Full"),
        (2, "Differential"),
    ]
    group = {"idToken": parent, "type": "Central"}
    sent = {e["idToken"]["idToken"]: e for p in lists for e in p["localAuthorizationList"]}
    assert sent == {
        badge: {
            "idToken": {"idToken": badge, "type": "ISO15693"},
            "idTokenInfo": {"status": "Accepted", "groupIdToken": group},
        },
        card: {
            "idToken": {"idToken": card, "type": "ISO14443"},
            "idTokenInfo": {"status": "Accepted", "groupIdToken": group, "chargingPriority": 4},
        },
    }
    await eventually(lambda: _version(api, cp_id, 2))

    assert (await api.post(f"/id-tags/{card}/block")).is_success
    again = await api.post(
        f"/charge-points/{cp_id}/local-list/sync", json={"parentIdTags": [parent]}
    )
    assert again.status_code == 200, again.text
    assert cp.received_calls[-1] == (
        "SendLocalList",
        {
            "versionNumber": 3,
            "updateType": "Differential",
            "localAuthorizationList": [
                {
                    "idToken": {"idToken": card, "type": "ISO14443"},
                    "idTokenInfo": {
                        "status": "Blocked",
                        "groupIdToken": group,
                        "chargingPriority": 4,
                    },
                }
            ],
        },
    )
    await eventually(lambda: _version(api, cp_id, 3))

    # The badge leaves the list: removed by its value and the type it was sent with.
    assert (await api.delete(f"/id-tags/{badge}")).is_success
    removed = await api.post(
        f"/charge-points/{cp_id}/local-list/sync", json={"parentIdTags": [parent]}
    )
    assert removed.status_code == 200, removed.text
    assert cp.received_calls[-1] == (
        "SendLocalList",
        {
            "versionNumber": 4,
            "updateType": "Differential",
            "localAuthorizationList": [{"idToken": {"idToken": badge, "type": "ISO15693"}}],
        },
    )
    await eventually(lambda: _version(api, cp_id, 4))

    async def says_seven(action: str, payload: dict[str, Any]) -> dict[str, Any]:
        return {"versionNumber": 7}

    cp.responder = says_seven
    asked = await api.post(f"/charge-points/{cp_id}/commands/GetLocalListVersion", json={})
    assert asked.status_code == 200, asked.text
    await eventually(lambda: _version(api, cp_id, 7))


async def test_a_list_longer_than_the_station_holds_is_409(
    api: httpx.AsyncClient, connect_cp: Any, cp_id: str
) -> None:
    cp = await station(api, connect_cp, cp_id, "2.0.1")
    assert await cp.call("NotifyReport", report(items_per_message=5, entries_max=1)) == {}

    async def described() -> bool:
        page = (await api.get(f"/charge-points/{cp_id}/variables")).json()
        return any(v["variable"] == "Entries" for v in page["items"])

    await eventually(described)
    for n in range(2):
        await api.post("/id-tags", json={"idTag": f"L{uuid.uuid4().hex[:8]}{n}"})
    response = await api.post(f"/charge-points/{cp_id}/local-list/sync")
    assert response.status_code == 409
    assert "LocalAuthListCtrlr.Entries" in response.json()["detail"]
    assert not [a for a, _ in cp.received_calls if a == "SendLocalList"]
