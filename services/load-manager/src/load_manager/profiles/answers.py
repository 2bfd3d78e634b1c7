"""What comes back from a station about its stored profiles: the outcome of each command
(`command.completed`, matched by its requestId) landing on the profile it was about, the
reports that answer a check (`profile_checks`), and the next command leaving once the station's
outstanding one is settled.

A cleared profile's row goes when the station answers (Accepted, or Unknown: it holds none of
that id, which is what was asked); a clear without an answer stays on the row, `failed`, and is
sent again as the profiles are. An accepted 1.6 profile removes the rows of the older ones it
replaced on the station.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from csms_shared.charging import replaced
from csms_shared.contracts.events import CommandCompleted
from csms_shared.ocpp import v16, v201
from csms_shared.ocpp.version import OcppVersion

from ..commands import REQUEST_PREFIX, requester
from ..db import charging_profiles, profile_stations
from ..db import profile_checks as checks_table
from ..settings import Settings
from . import checks as profile_checks
from .store import (
    CLEAR,
    NO_ANSWER,
    SET,
    ask,
    hold,
    key_of,
    lock_station,
    outstanding,
    profile_of,
    rows_of,
    sending_order,
    waiting,
)

c = charging_profiles.c
ps = profile_stations.c


async def release(session: AsyncSession, settings: Settings, cp_id: str) -> None:
    """Send the station's next waiting command, now that none is on its way (under its lock):
    a check waiting to ask first, then the waiting profiles, clears first."""
    await hold(session, cp_id, None, None)
    if await profile_checks.send_waiting(session, settings, cp_id):
        return
    queued = [row for row in await rows_of(session, cp_id) if waiting(row)]
    for row in sorted(queued, key=sending_order):
        version = OcppVersion(row.ocpp_version)
        values = await ask(session, settings, cp_id, profile_of(row), row.action, version)
        await session.execute(
            update(charging_profiles).where(key_of(cp_id, row.profile_id)).values(**values)
        )
        if values["request_id"] is not None:
            return


def _answer(action: str, version: OcppVersion, response: Any) -> tuple[str, str | None]:
    """The status of the station's answer, and the reason it gave (2.0.1 statusInfo)."""
    if version is OcppVersion.V16:
        if action == SET:
            return v16.SetChargingProfileResponse.model_validate(response).status.value, None
        return v16.ClearChargingProfileResponse.model_validate(response).status.value, None
    answer: v201.SetChargingProfileResponse | v201.ClearChargingProfileResponse
    if action == SET:
        answer = v201.SetChargingProfileResponse.model_validate(response)
    else:
        answer = v201.ClearChargingProfileResponse.model_validate(response)
    info = answer.status_info
    why = None
    if info is not None:
        why = info.reason_code + (f": {info.additional_info}" if info.additional_info else "")
    return answer.status.value, why


async def record_answer(session: AsyncSession, settings: Settings, event: CommandCompleted) -> None:
    """Land a command's outcome on the profile it was about, when it is one of ours and the
    profile's last (a later command, a re-send or a delete, supersedes an earlier one's
    answer), and send the station's next command when it was the one on its way."""
    request_id = event.request_id
    if request_id is None or not request_id.startswith(REQUEST_PREFIX):
        return
    if event.requested_by != requester(settings):
        return  # a back office's request that borrowed our prefix
    if profile_checks.is_check_request(request_id):
        await _check_answered(session, settings, event, request_id)
        return
    by_request = select(charging_profiles).where(c.request_id == request_id)
    cp_id = event.charge_point_id
    if cp_id is None:
        row = (await session.execute(by_request)).first()
        if row is None:
            return
        cp_id = row.charge_point_id
    await lock_station(session, cp_id)
    row = (await session.execute(by_request)).first()  # as the lock holder before us left it
    if row is not None and row.charge_point_id == cp_id:
        await _land(session, row, event)
    if await outstanding(session, cp_id) == request_id:
        await release(session, settings, cp_id)


async def _check_answered(
    session: AsyncSession, settings: Settings, event: CommandCompleted, request_id: str
) -> None:
    """The outcome of a check's ask: the check goes on, or is over and frees the slot."""
    cp_id = event.charge_point_id or await session.scalar(
        select(checks_table.c.charge_point_id).where(checks_table.c.request_id == request_id)
    )
    if cp_id is None:
        return
    await lock_station(session, cp_id)
    over = await profile_checks.answered(session, settings, cp_id, event)
    if over and await outstanding(session, cp_id) == request_id:
        await release(session, settings, cp_id)


async def reported(
    session: AsyncSession,
    settings: Settings,
    cp_id: str,
    report: v201.ReportChargingProfilesRequest,
) -> None:
    """A part of a 2.0.1 station's ReportChargingProfiles: the last one of a check's ends it,
    and the station's next command leaves."""
    if await profile_checks.reported(session, settings, cp_id, report):
        await release(session, settings, cp_id)


async def _land(session: AsyncSession, row: Any, event: CommandCompleted) -> None:
    """Write a command's outcome on its row: accepted, rejected, failed, or (no answer, and the
    station reconnected since the command was asked) waiting to be sent again."""
    key = key_of(row.charge_point_id, row.profile_id)
    answered = {
        "command_id": event.command_id,
        "outcome": event.status,
        "response": event.response,
        "answered_at": event.at,
        "updated_at": func.now(),
    }
    if event.status != "result":
        reason = event.reason or (event.error_code and f"CALLERROR {event.error_code}")
        values = {**answered, "status": "failed", "reason": reason or event.status}
        if event.status in NO_ANSWER and await _reconnected_since(session, row):
            # Its station.connected was handled while the command was on its way, so it was
            # not sent again then: it waits to be sent now (`release`).
            values |= {"status": "pending", "request_id": None}
        await session.execute(update(charging_profiles).where(key).values(**values))
        return
    version = OcppVersion(event.ocpp_version or row.ocpp_version)
    try:
        status, why = _answer(row.action, version, event.response or {})
    except ValidationError as exc:
        await session.execute(
            update(charging_profiles)
            .where(key)
            .values(**answered, status="failed", reason=f"unreadable answer: {exc}")
        )
        return
    if row.action == CLEAR and status in ("Accepted", "Unknown"):
        await session.execute(delete(charging_profiles).where(key))
        return
    if row.action == SET and status == "Accepted":
        await session.execute(
            update(charging_profiles).where(key).values(**answered, status="accepted")
        )
        await _drop_replaced(session, row, version)
        return
    reason = f"the station answered {status}" + (f" ({why})" if why else "")
    await session.execute(
        update(charging_profiles).where(key).values(**answered, status="rejected", reason=reason)
    )


async def _reconnected_since(session: AsyncSession, row: Any) -> bool:
    """Whether the station connected after the row's command was asked."""
    at = await session.scalar(
        select(ps.connected_at).where(ps.charge_point_id == row.charge_point_id)
    )
    return at is not None and at > row.requested_at


async def give_up(session: AsyncSession, settings: Settings, cp_id: str, request_id: str) -> bool:
    """Mark the station's outstanding command `request_id` failed, "no answer", and send its
    next (its command.completed was lost, or command-api never got the request). False when it
    was settled meanwhile."""
    await lock_station(session, cp_id)
    if await outstanding(session, cp_id) != request_id:
        return False
    await profile_checks.abandon(session, settings, cp_id, request_id)
    await session.execute(
        update(charging_profiles)
        .where(c.request_id == request_id, c.status == "pending")
        .values(status="failed", reason="no answer", answered_at=func.now(), updated_at=func.now())
    )
    await release(session, settings, cp_id)
    return True


async def _drop_replaced(session: AsyncSession, row: Any, version: OcppVersion) -> None:
    """Remove the rows of profiles stored before `row`'s that its acceptance replaced on the
    station (`charging.replaced`: 1.6's same purpose, stack level and connector)."""
    rows = await rows_of(session, row.charge_point_id)
    older = [other for other in rows if other.revision < row.revision]
    gone = {p.id for p in replaced(profile_of(row), [profile_of(o) for o in older], version)}
    if gone:
        await session.execute(
            delete(charging_profiles).where(
                c.charge_point_id == row.charge_point_id,
                c.profile_id.in_(gone),
                c.revision < row.revision,
            )
        )
