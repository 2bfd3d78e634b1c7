"""Commands (receiver): an eMSP's START_SESSION, STOP_SESSION, RESERVE_NOW, CANCEL_RESERVATION
and UNLOCK_CONNECTOR are answered at once, become a request to command-api in the station's
OCPP version, and their outcome is POSTed to the eMSP's response_url; a session a command
started says COMMAND; what cannot be run is answered precisely and changes nothing."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from csms_shared.bus.router import Context
from csms_shared.contracts.session_events import CommandCompleted, TransactionStarted
from csms_shared.contracts.station_events import StationConnected
from roaming import follow_commands
from roaming.command_payloads import ACTIONS
from roaming.db import command_outbox, commands, outbox
from roaming.pushes import PushDelivery
from roaming.settings import Settings
from tests.integration.ocpi_platform import Hosts, PlatformDouble, header

from .test_locations import deliver, delivery, follow, publish, station
from .test_sessions import follow as follow_tx
from .test_sessions import transaction
from .test_tokens import registered, token

__all__ = ["delivery"]  # the fixture, shared with test_locations

URL = "/ocpi/2.2.1/commands"


async def online(sessions: Any, settings: Settings, cp: str, version: str) -> None:
    connected = StationConnected(
        charge_point_id=cp,
        gateway="g1",
        connection_id=f"c-{cp}",
        connected_at="2026-11-27T08:00:00Z",
        subprotocol=f"ocpp{version}",
    )
    await follow(sessions, settings, connected)


async def requests_to(sessions: async_sessionmaker[AsyncSession], cp: str) -> list[dict[str, Any]]:
    """The command requests staged for command-api for station `cp`, oldest first; each of an
    action whose outcome the service follows (`ACTIONS`: the others never reach its queue)."""
    async with sessions() as session:
        rows = await session.execute(
            select(command_outbox.c.body)
            .where(command_outbox.c.routing_key == cp)
            .order_by(command_outbox.c.id)
        )
        staged = [orjson.loads(r.body) for r in rows]
    assert {request["action"] for request in staged} <= set(ACTIONS)
    return staged


async def completed(
    sessions: Any, settings: Settings, request: dict[str, Any], **outcome: Any
) -> None:
    """command-api's outcome of `request`, as the roaming service follows it."""
    event = CommandCompleted.model_validate(
        {
            "commandId": "c1",
            "chargePointId": request["chargePointId"],
            "action": request["action"],
            "requestId": request["requestId"],
        }
        | outcome
    )
    async with sessions.begin() as session:
        await follow_commands.command_completed(
            event, Context(session=session, settings=settings, outbox=outbox)
        )


def start(emsp: PlatformDouble, uid: str, location_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "response_url": f"{emsp.base}/ocpi/2.2.1/commands/START_SESSION/{uid}",
        "token": token(emsp.party_id, uid),
        "location_id": location_id,
    } | fields


async def test_start_session_on_a_201_station_runs_reports_and_marks_the_session(
    csms: httpx.AsyncClient,
    hosts: Hosts,
    settings: Settings,
    sessions: Any,
    delivery: PushDelivery,
) -> None:
    cp = station()
    emsp, ours = await registered(csms, hosts, settings, sessions)
    await online(sessions, settings, cp, "2.0.1")
    await publish(sessions, settings, f"CM-{cp}", cp)
    uid = f"APP{cp}"
    body = start(
        emsp,
        uid,
        f"CM-{cp}",
        evse_uid=f"DE*CSM*E{cp}*1",
        connector_id="1",
        authorization_reference="ref-42",
    )
    answer = await csms.post(f"{URL}/START_SESSION", headers=header(ours), json=body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["data"] == {
        "result": "ACCEPTED",
        "timeout": int(settings.command_timeout) + 30,
        "message": [],
    }
    (request,) = await requests_to(sessions, cp)
    assert request["action"] == "RequestStartTransaction"
    assert request["requestId"].startswith("roaming:")
    remote_start_id = request["payload"]["remoteStartId"]
    assert request["payload"] == {
        "evseId": 1,
        "remoteStartId": remote_start_id,
        "idToken": {"idToken": uid, "type": "ISO14443"},
    }
    assert remote_start_id > 1_000_000_000

    await completed(sessions, settings, request, status="result", response={"status": "Accepted"})
    await completed(sessions, settings, request, status="result", response={"status": "Accepted"})
    await deliver(delivery)
    results = [(p, b) for m, p, b, _ in emsp.received if p.startswith("/commands/")]
    assert results == [
        (
            f"/commands/START_SESSION/{uid}",
            {"result": "ACCEPTED", "message": [{"language": "en", "text": "result: Accepted"}]},
        )
    ]

    # The transaction it started: the token is known (kept from the command), COMMAND.
    started = TransactionStarted.model_validate(
        transaction(
            cp, uid, ocppVersion="2.0.1", idTokenType="ISO14443", remoteStartId=remote_start_id
        )
    )
    await follow_tx(sessions, settings, started)
    await deliver(delivery)
    (session_doc,) = [b for m, p, b, _ in emsp.received if p.startswith("/sessions/")]
    assert (session_doc["auth_method"], session_doc["authorization_reference"]) == (
        "COMMAND",
        "ref-42",
    )

    # STOP_SESSION: the station's own transaction id, in its version.
    stop = {
        "response_url": f"{emsp.base}/ocpi/2.2.1/commands/STOP_SESSION/{uid}",
        "session_id": str(started.transaction_id),
    }
    stopped = await csms.post(f"{URL}/STOP_SESSION", headers=header(ours), json=stop)
    assert stopped.json()["data"]["result"] == "ACCEPTED", stopped.text
    assert (await requests_to(sessions, cp))[-1]["payload"] == {"transactionId": "1"}


async def test_a_16_station_gets_16_commands_and_results_map(
    csms: httpx.AsyncClient,
    hosts: Hosts,
    settings: Settings,
    sessions: Any,
    delivery: PushDelivery,
) -> None:
    cp = station()
    emsp, ours = await registered(csms, hosts, settings, sessions)
    await online(sessions, settings, cp, "1.6")
    await publish(sessions, settings, f"C16-{cp}", cp)
    uid = f"RF{cp}"
    evse2 = f"{cp}-2"
    sent = await csms.post(
        f"{URL}/START_SESSION",
        headers=header(ours),
        json=start(emsp, uid, f"C16-{cp}", evse_uid=evse2),
    )
    assert sent.json()["data"]["result"] == "ACCEPTED", sent.text
    reserve = {
        "response_url": f"{emsp.base}/ocpi/2.2.1/commands/RESERVE_NOW/r1",
        "token": token(emsp.party_id, uid),
        "expiry_date": "2026-11-27T12:00:00Z",
        "reservation_id": "r1",
        "location_id": f"C16-{cp}",
        "evse_uid": evse2,
    }
    assert (await csms.post(f"{URL}/RESERVE_NOW", headers=header(ours), json=reserve)).json()[
        "data"
    ]["result"] == "ACCEPTED"
    # The same reservation_id again replaces that reservation: the same OCPP reservation id.
    again = reserve | {
        "expiry_date": "2026-11-27T13:00:00Z",
        "response_url": f"{emsp.base}/ocpi/2.2.1/commands/RESERVE_NOW/r1b",
    }
    assert (await csms.post(f"{URL}/RESERVE_NOW", headers=header(ours), json=again)).json()["data"][
        "result"
    ] == "ACCEPTED"
    cancel = {"response_url": f"{emsp.base}/ocpi/2.2.1/commands/CANCEL/r1", "reservation_id": "R1"}
    assert (await csms.post(f"{URL}/CANCEL_RESERVATION", headers=header(ours), json=cancel)).json()[
        "data"
    ]["result"] == "ACCEPTED"
    unlock = {
        "response_url": f"{emsp.base}/ocpi/2.2.1/commands/UNLOCK/u1",
        "location_id": f"C16-{cp}",
        "evse_uid": evse2,
        "connector_id": "1",
    }
    assert (await csms.post(f"{URL}/UNLOCK_CONNECTOR", headers=header(ours), json=unlock)).json()[
        "data"
    ]["result"] == "ACCEPTED"
    start16, reserve16, replaced16, cancel16, unlock16 = await requests_to(sessions, cp)
    assert replaced16["payload"]["reservationId"] == reserve16["payload"]["reservationId"]
    assert replaced16["payload"]["expiryDate"] == "2026-11-27T13:00:00Z"
    assert (start16["action"], start16["payload"]) == (
        "RemoteStartTransaction",
        {"connectorId": 2, "idTag": uid},
    )
    number = reserve16["payload"]["reservationId"]
    assert reserve16["payload"] == {
        "connectorId": 2,
        "expiryDate": "2026-11-27T12:00:00Z",
        "idTag": uid,
        "reservationId": number,
    }
    assert (cancel16["action"], cancel16["payload"]) == (
        "CancelReservation",
        {"reservationId": number},
    )
    assert (unlock16["action"], unlock16["payload"]) == ("UnlockConnector", {"connectorId": 2})

    await completed(sessions, settings, start16, status="timeout")
    await completed(sessions, settings, reserve16, status="result", response={"status": "Occupied"})
    await completed(
        sessions, settings, replaced16, status="result", response={"status": "Accepted"}
    )
    await completed(sessions, settings, cancel16, status="result", response={"status": "Accepted"})
    await completed(sessions, settings, unlock16, status="offline", reason="not connected")
    await deliver(delivery)
    results = {p: b["result"] for m, p, b, _ in emsp.received if p.startswith("/commands/")}
    assert results == {
        f"/commands/START_SESSION/{uid}": "TIMEOUT",
        "/commands/RESERVE_NOW/r1": "EVSE_OCCUPIED",
        "/commands/RESERVE_NOW/r1b": "ACCEPTED",
        "/commands/CANCEL/r1": "CANCELED_RESERVATION",
        "/commands/UNLOCK/u1": "FAILED",
    }


async def test_what_cannot_be_run_is_answered_precisely_and_nothing_is_sent(
    csms: httpx.AsyncClient, hosts: Hosts, settings: Settings, sessions: Any
) -> None:
    cp, offline_cp = station(), station()
    emsp, ours = await registered(csms, hosts, settings, sessions)
    _, other = await registered(csms, hosts, settings, sessions)
    await online(sessions, settings, cp, "2.0.1")
    await publish(sessions, settings, f"NR-{cp}", cp)
    await publish(sessions, settings, f"NR-{offline_cp}", offline_cp)

    async def post(command: str, body: Any, as_: str = ours) -> tuple[int, dict[str, Any]]:
        answer = await csms.post(f"{URL}/{command}", headers=header(as_), json=body)
        return answer.status_code, answer.json()

    status, body = await post("START_SESSION", {"token": "nope"})
    assert (status, body["status_code"]) == (400, 2001) and "response_url" in body["status_message"]
    status, body = await post("FLY_AWAY", start(emsp, "U1", f"NR-{cp}"))
    assert status in (400, 404, 422) and body["status_code"] >= 2000
    status, body = await post("START_SESSION", start(emsp, "U1", "NO-SUCH-PLACE"))
    assert (status, body["status_code"]) == (404, 2003)
    # Two EVSEs and none named; the other station is offline.
    status, body = await post("START_SESSION", start(emsp, "U1", f"NR-{cp}"))
    assert body["data"]["result"] == "REJECTED" and "evse_uid" in body["data"]["message"][0]["text"]
    status, body = await post(
        "START_SESSION", start(emsp, "U1", f"NR-{offline_cp}", evse_uid=f"{offline_cp}-2")
    )
    assert body["data"]["result"] == "REJECTED" and "offline" in body["data"]["message"][0]["text"]
    # Another eMSP's token, and a session that is not there (or not its own).
    status, body = await post("START_SESSION", start(emsp, "U1", f"NR-{cp}"), as_=other)
    assert status == 404, body
    stop = {"response_url": f"{emsp.base}/r", "session_id": "999999999999"}
    status, body = await post("STOP_SESSION", stop)
    assert body["data"]["result"] == "UNKNOWN_SESSION"
    cancel = {"response_url": f"{emsp.base}/r", "reservation_id": "never-made"}
    status, body = await post("CANCEL_RESERVATION", cancel)
    assert body["data"]["result"] == "REJECTED"
    assert await requests_to(sessions, cp) == []
    assert await requests_to(sessions, offline_cp) == []
    async with sessions() as session:
        stored = await session.execute(
            select(commands.c.id).where(commands.c.charge_point_id.in_([cp, offline_cp]))
        )
        assert stored.all() == []
