"""SendLocalList from the DB's id tags: full, split within SendLocalListMaxLength, then
differential against what the CP accepted."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from tests.integration.support import eventually

pytestmark = pytest.mark.integration

BOOT = {"chargePointVendor": "ACME", "chargePointModel": "X1"}


def local_auth_configuration(send_max: int, list_max: int) -> dict[str, Any]:
    """A GetConfiguration answer of a CP with LocalAuthListManagement and these list limits."""
    return {
        "configurationKey": [
            {
                "key": "SupportedFeatureProfiles",
                "readonly": True,
                "value": "Core,LocalAuthListManagement",
            },
            {"key": "SendLocalListMaxLength", "readonly": True, "value": str(send_max)},
            {"key": "LocalAuthListMaxLength", "readonly": True, "value": str(list_max)},
        ]
    }


def answering(configuration: dict[str, Any]) -> Callable[..., Awaitable[dict[str, Any]]]:
    """A CP's answers: `configuration` to GetConfiguration, Accepted to any other command."""

    async def answer(action: str, payload: dict[str, Any]) -> dict[str, Any]:
        return configuration if action == "GetConfiguration" else {"status": "Accepted"}

    return answer


_answer = answering(local_auth_configuration(send_max=2, list_max=10))


async def _version(api: httpx.AsyncClient, cp_id: str, version: int) -> bool:
    response = await api.get(f"/charge-points/{cp_id}/local-list")
    return response.status_code == 200 and response.json()["listVersion"] == version


async def test_a_sync_sends_the_dbs_tags_then_only_what_changed(
    api: httpx.AsyncClient, connect_cp: Any, cp_id: str
) -> None:
    parent = f"P{uuid.uuid4().hex[:8]}"
    tags = [f"{parent}-{n}" for n in range(3)]
    assert (await api.post("/id-tags", json={"idTag": parent})).status_code == 201
    for tag in tags:
        created = await api.post("/id-tags", json={"idTag": tag, "parentIdTag": parent})
        assert created.status_code == 201
    other = f"O{uuid.uuid4().hex[:8]}"
    assert (await api.post("/id-tags", json={"idTag": other})).status_code == 201

    cp = await connect_cp(cp_id)
    cp.responder = _answer
    await cp.call("BootNotification", BOOT)
    assert (await api.post(f"/charge-points/{cp_id}/commands/GetConfiguration", json={})).is_success

    async def configured() -> bool:
        doc = (await api.get(f"/charge-points/{cp_id}")).json()
        return any(e["key"] == "SendLocalListMaxLength" for e in doc.get("configuration", []))

    await eventually(configured)
    first = await api.post(
        f"/charge-points/{cp_id}/local-list/sync", json={"parentIdTags": [parent]}
    )
    assert first.status_code == 200, first.text
    result = first.json()
    assert result["complete"] is True and result["size"] == 3
    # Three tags, two per message: Full v1 with two, then Differential v2 with the third.
    assert [(p["updateType"], p["listVersion"], p["entries"]) for p in result["parts"]] == [
        ("Full", 1, 2),
        ("Differential", 2, 1),
    ]
    lists = [payload for action, payload in cp.received_calls if action == "SendLocalList"]
    sent = {e["idTag"]: e["idTagInfo"] for p in lists for e in p["localAuthorizationList"]}
    assert sent == {t: {"status": "Accepted", "parentIdTag": parent} for t in tags}
    assert other not in sent

    await eventually(lambda: _version(api, cp_id, 2))
    assert (await api.post(f"/id-tags/{tags[1]}/block")).is_success
    again = await api.post(
        f"/charge-points/{cp_id}/local-list/sync", json={"parentIdTags": [parent]}
    )
    assert again.status_code == 200, again.text
    assert [(p["updateType"], p["listVersion"], p["entries"]) for p in again.json()["parts"]] == [
        ("Differential", 3, 1)
    ]
    last = cp.received_calls[-1]
    assert last == (
        "SendLocalList",
        {
            "listVersion": 3,
            "updateType": "Differential",
            "localAuthorizationList": [
                {"idTag": tags[1], "idTagInfo": {"status": "Blocked", "parentIdTag": parent}}
            ],
        },
    )
    await eventually(lambda: _version(api, cp_id, 3))


async def test_a_list_longer_than_the_cp_holds_is_409(
    api: httpx.AsyncClient, connect_cp: Any, cp_id: str
) -> None:
    cp = await connect_cp(cp_id)

    async def small(action: str, payload: dict[str, Any]) -> dict[str, Any]:
        return {
            "configurationKey": [{"key": "LocalAuthListMaxLength", "readonly": True, "value": "1"}]
        }

    cp.responder = small
    await cp.call("BootNotification", BOOT)
    assert (await api.post(f"/charge-points/{cp_id}/commands/GetConfiguration", json={})).is_success

    async def configured() -> bool:
        doc = (await api.get(f"/charge-points/{cp_id}")).json()
        return bool(doc.get("configuration"))

    await eventually(configured)
    for n in range(2):
        await api.post("/id-tags", json={"idTag": f"L{uuid.uuid4().hex[:8]}{n}"})
    response = await api.post(f"/charge-points/{cp_id}/local-list/sync")
    assert response.status_code == 409
    assert "LocalAuthListMaxLength" in response.json()["detail"]
    assert [a for a, _ in cp.received_calls] == ["GetConfiguration"]


@pytest.mark.parametrize(
    "body",
    [
        {"updateType": "Partial"},
        {"parentIdTags": []},
        {"parentIdTags": ["x" * 37]},
        {"x": 1},
        # The roaming tokens go in a list of every id tag only.
        {"parentIdTags": ["G1"], "roamingTokens": True},
    ],
)
async def test_bad_sync_bodies_are_problem_422s(
    api: httpx.AsyncClient, cp_id: str, body: dict[str, Any]
) -> None:
    response = await api.post(f"/charge-points/{cp_id}/local-list/sync", json=body)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
