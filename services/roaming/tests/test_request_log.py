"""The OCPI request log: every request a platform makes is kept (who, what, the HTTP and OCPI
status, the ids) with credentials tokens shown as ***, and pruned after its retention; pushes
too."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import func, select, update

from roaming import push_queue
from roaming.db import pushes as pushes_table
from roaming.db import requests
from roaming.ocpi_api import request_log
from roaming.settings import Settings
from tests.integration.ocpi_platform import Hosts, header

from .test_credentials import invited
from .test_tokens import registered


async def logged(sessions: Any, request_id: str) -> Any:
    async with sessions() as session:
        return (
            await session.execute(select(requests).where(requests.c.request_id == request_id))
        ).one()


async def test_requests_are_logged_with_secrets_redacted(
    csms: httpx.AsyncClient, hosts: Hosts, settings: Settings, sessions: Any
) -> None:
    emsp, ours = await registered(csms, hosts, settings, sessions)
    ids = {"X-Request-ID": "log-1", "X-Correlation-ID": "cor-1"}
    routed = {"OCPI-from-country-code": "NL", "OCPI-from-party-id": emsp.party_id}
    await csms.get("/ocpi/2.2.1/locations?limit=1", headers=header(ours) | ids | routed)
    row = await logged(sessions, "log-1")
    assert (row.method, row.path, row.http_status, row.ocpi_status) == (
        "GET",
        "/ocpi/2.2.1/locations?limit=1",
        200,
        1000,
    )
    assert row.platform_id is not None and row.correlation_id == "cor-1"
    assert row.from_party == f"NL-{emsp.party_id}" and row.duration_ms >= 0

    # A credentials body: its token is never kept.
    token_a = await invited(hosts, settings, sessions)
    other = emsp.credentials("secret-token-b")
    await csms.post(
        "/ocpi/2.2.1/credentials",
        headers=header(token_a) | {"X-Request-ID": "log-2"},
        json=other,
    )
    row = await logged(sessions, "log-2")
    assert row.body["token"] == "***" and "secret-token-b" not in str(row.body)

    # An unknown token: logged, no platform, the OCPI status of the refusal.
    await csms.get("/ocpi/versions", headers=header("nobody") | {"X-Request-ID": "log-3"})
    row = await logged(sessions, "log-3")
    assert (row.platform_id, row.http_status, row.ocpi_status) == (None, 401, 2000)


async def test_the_logs_are_pruned_after_their_retention(
    csms: httpx.AsyncClient, settings: Settings, sessions: Any
) -> None:
    await csms.get("/ocpi/versions", headers={"X-Request-ID": "old-1"})
    async with sessions.begin() as session:
        await session.execute(
            update(requests)
            .where(requests.c.request_id == "old-1")
            .values(at=requests.c.at - timedelta(days=31))
        )
    assert await request_log.prune(sessions, 30) >= 1
    async with sessions() as session:
        gone = await session.execute(select(requests).where(requests.c.request_id == "old-1"))
        assert gone.first() is None
    # Pushes: delivered and dropped ones go after theirs; pending ones never.
    async with sessions.begin() as session:
        await session.execute(
            update(pushes_table).values(created_at=pushes_table.c.created_at - timedelta(days=31))
        )
        done = (
            await session.execute(
                select(func.count())
                .select_from(pushes_table)
                .where(
                    (pushes_table.c.delivered_at.is_not(None))
                    | (pushes_table.c.dropped_at.is_not(None))
                )
            )
        ).scalar_one()
        total = (await session.execute(select(func.count()).select_from(pushes_table))).scalar_one()
    assert await push_queue.prune(sessions, 30) == done
    async with sessions() as session:
        left = (await session.execute(select(func.count()).select_from(pushes_table))).scalar_one()
    assert left == total - done
