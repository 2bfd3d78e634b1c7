"""Asking a station that came back what it holds of its stored profiles, before sending any again.

After a reconnection and after an accepted boot alike (1.6 and 2.0.1 stations typically keep
their charging profiles in non-volatile memory across a reboot, so a boot does not mean they
are gone), the load-manager asks first, through the command path as any command:

* 2.0.1: GetChargingProfiles for the ids of the stored profiles (Sets and pending clears); the
  station answers Accepted and lists them in one or more ReportChargingProfiles (`tbc` on all
  but the last), which the load-manager receives beside the registry (`action_reports`), or
  answers NoProfiles: it holds none of them;
* 1.6: GetCompositeSchedule (a day, in A) for each connector whose composite the CSMS can
  compute (`profile_compare.connectors_to_ask`), one after the other, each answer compared with
  the composite of the profiles the station should hold (`profiles.composite`, the one the REST
  route shows as `computed`).

The ask takes the station's one outstanding command (`profile_stations`), so no Set or Clear
interleaves with it and the answer describes the station as the rows left it; what is decided
meanwhile waits and is sent after. When the answers are in (`profile_compare.verdict_*`), the
profiles the station lacks or holds differently are asked again, the others are left alone (one
whose last command got no answer is marked accepted: the station holds it), a clear of a
profile it no longer holds is done. An ask that fails (no answer, offline, Rejected, a CALLERROR
such as NotSupported, a report that never ends: given up by the sweep) falls back to what the
load-manager did without asking: every profile again after a boot, else those whose last
command got no answer. A report part handled after the last one (they carry no sequence number)
only costs the re-send of what it listed.
"""

from __future__ import annotations

import secrets
from collections.abc import Collection
from typing import Any

from pydantic import ValidationError
from sqlalchemy import delete, select, union, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from csms_shared.charging import (
    ChargingProfile,
    RateUnit,
    composite_from_v16,
    from_v201_report,
)
from csms_shared.contracts.events import CommandCompleted
from csms_shared.contracts.rpc_profiles import ComputeComposite
from csms_shared.ocpp import v16, v201
from csms_shared.ocpp._base import OcppModel, utcnow
from csms_shared.ocpp.version import OcppVersion

from . import profile_compare as compare
from .allocation_db import evse_allocations
from .commands import new_request_id, queue_command
from .profile_compare import Row, Verdict
from .profiles import (
    composite,
    hold,
    key_of,
    lock_station,
    outstanding,
    profile_of,
    rows_of,
    send_again,
    waiting,
)
from .profiles_db import charging_profiles, profile_checks
from .settings import Settings

GET_PROFILES = "GetChargingProfiles"
GET_COMPOSITE = "GetCompositeSchedule"
# The checks' requestIds, told apart from the stored profiles' and the allocator's.
TAG = "check:"
# GetChargingProfiles' requestId is an OCPP integer.
_MAX_REPORT_ID = 2**31 - 1

k = profile_checks.c


def check_request_id() -> str:
    """A requestId for one of the checks' asks."""
    prefix, _, rest = new_request_id().partition(":")
    return f"{prefix}:{TAG}{rest}"


def is_check_request(request_id: str | None) -> bool:
    """Whether a command's requestId is one of the checks' asks."""
    return request_id is not None and request_id.partition(":")[2].startswith(TAG)


def _row(row: Any) -> Row:
    return Row(
        profile=profile_of(row),
        action=row.action,
        status=row.status,
        version=OcppVersion(row.ocpp_version),
        waiting=waiting(row),
    )


async def _check_of(session: AsyncSession, cp_id: str) -> Any:
    return (await session.execute(select(profile_checks).where(k.charge_point_id == cp_id))).first()


async def _allocated(session: AsyncSession, cp_id: str) -> set[int]:
    """The EVSEs the allocator holds a limit on (its profile is on the station)."""
    a = evse_allocations.c
    found = await session.scalars(
        select(a.evse).where(
            a.charge_point_id == cp_id, (a.applied.is_not(None)) | (a.in_flight.is_not(None))
        )
    )
    return set(found)


async def with_profiles(session: AsyncSession, cp_ids: Collection[str]) -> set[str]:
    """Those of the stations that have stored profiles or a check under way: `came_back` does
    nothing for the others (nothing to ask about, nothing to send), so a group of returns
    skips them after this one statement."""
    if not cp_ids:
        return set()
    ids = sorted(cp_ids)
    c = charging_profiles.c
    query = union(
        select(c.charge_point_id).where(c.charge_point_id.in_(ids)),
        select(k.charge_point_id).where(k.charge_point_id.in_(ids)),
    )
    return set(await session.scalars(query))


async def came_back(
    session: AsyncSession, settings: Settings, cp_id: str, version: OcppVersion, *, boot: bool
) -> None:
    """A station reconnected (`boot`: its boot was accepted): ask it what it holds, or, when
    nothing can be compared, send again what would have been sent without asking."""
    await lock_station(session, cp_id)
    check = await _check_of(session, cp_id)
    if check is not None:
        # Asked already (the connection before this boot): the boot only widens the verdict.
        if boot and not check.boot:
            await session.execute(
                update(profile_checks).where(k.charge_point_id == cp_id).values(boot=True)
            )
        return
    rows = [_row(row) for row in await rows_of(session, cp_id)]
    connectors: list[int] = []
    if version is OcppVersion.V16:
        connectors = compare.connectors_to_ask(
            compare.expected(rows, version), await _allocated(session, cp_id)
        )
    if not connectors and (version is OcppVersion.V16 or all(r.waiting for r in rows)):
        await _apply(session, settings, cp_id, compare.fallback(rows, boot=boot), version)
        return
    await session.execute(
        insert(profile_checks).values(
            charge_point_id=cp_id,
            ocpp_version=version.value,
            boot=boot,
            connectors=connectors,
            started_at=utcnow(),
        )
    )
    if await outstanding(session, cp_id) is None:
        await _ask(session, settings, cp_id)


async def send_waiting(session: AsyncSession, settings: Settings, cp_id: str) -> bool:
    """Send the station's check if one waits for the slot (under its lock, the slot free)."""
    check = await _check_of(session, cp_id)
    if check is None or check.request_id is not None:
        return False
    return await _ask(session, settings, cp_id)


async def _ask(session: AsyncSession, settings: Settings, cp_id: str) -> bool:
    """Queue the check's next ask and hold the station's slot with it; False (and the check
    finished as without an answer) when there is nothing left to ask."""
    check = await _check_of(session, cp_id)
    version = OcppVersion(check.ocpp_version)
    request: OcppModel
    report_id = None
    if version is OcppVersion.V201:
        ids = [row.profile_id for row in await rows_of(session, cp_id) if not waiting(row)]
        if not ids:
            await finish(session, settings, cp_id, failed=True)
            return False
        report_id = secrets.randbelow(_MAX_REPORT_ID) + 1
        request = v201.GetChargingProfilesRequest(
            request_id=report_id,
            charging_profile=v201.ChargingProfileCriterion(charging_profile_id=ids),
        )
    else:
        request = v16.GetCompositeScheduleRequest(
            connector_id=check.connectors[0],
            duration=compare.COMPARED_DURATION,
            charging_rate_unit=v16.ChargingRateUnitType.A,
        )
    request_id = check_request_id()
    action = GET_PROFILES if version is OcppVersion.V201 else GET_COMPOSITE
    await queue_command(session, settings, cp_id, action, request, request_id)
    now = utcnow()
    await hold(session, cp_id, request_id, now)
    await session.execute(
        update(profile_checks)
        .where(k.charge_point_id == cp_id)
        .values(request_id=request_id, report_id=report_id)
    )
    return True


async def answered(
    session: AsyncSession, settings: Settings, cp_id: str, event: CommandCompleted
) -> bool:
    """Take the outcome of a check's ask (under the station's lock): compare, ask the next
    connector, or finish. True when the check is over and the station's slot is to be freed."""
    check = await _check_of(session, cp_id)
    if check is None or check.request_id != event.request_id:
        return False  # a check finished meanwhile (the last report came first), or an old one
    if event.status != "result":
        await finish(session, settings, cp_id, failed=True)
        return True
    if check.ocpp_version == OcppVersion.V201.value:
        return await _profiles_answered(session, settings, cp_id, event)
    return await _composite_answered(session, settings, cp_id, check, event)


async def _profiles_answered(
    session: AsyncSession, settings: Settings, cp_id: str, event: CommandCompleted
) -> bool:
    try:
        status = v201.GetChargingProfilesResponse.model_validate(event.response or {}).status
    except ValidationError:
        await finish(session, settings, cp_id, failed=True)
        return True
    if status is v201.GetChargingProfileStatusEnum.ACCEPTED:
        # The reports follow; the sweep gives up on them a full command timeout from now.
        await hold(session, cp_id, event.request_id, utcnow())
        return False
    await finish(session, settings, cp_id, failed=False)  # NoProfiles: it holds none of them
    return True


async def _composite_answered(
    session: AsyncSession, settings: Settings, cp_id: str, check: Any, event: CommandCompleted
) -> bool:
    connector, *rest = check.connectors
    matched, differing = list(check.matched), list(check.differing)
    same = await _same_composite(session, cp_id, event)
    if same is not None:
        (matched if same else differing).append(connector)
    await session.execute(
        update(profile_checks)
        .where(k.charge_point_id == cp_id)
        .values(connectors=rest, matched=matched, differing=differing, request_id=None)
    )
    if rest:
        await _ask(session, settings, cp_id)
        return False
    await finish(session, settings, cp_id, failed=False)
    return True


async def _same_composite(
    session: AsyncSession, cp_id: str, event: CommandCompleted
) -> bool | None:
    """Whether a 1.6 GetCompositeSchedule answer matches the stored profiles' composite over
    the same window (None: it gave none, Rejected or unreadable: not compared)."""
    try:
        asked = v16.GetCompositeScheduleRequest.model_validate(event.request)
        response = v16.GetCompositeScheduleResponse.model_validate(event.response or {})
        station = composite_from_v16(response, asked)
    except (ValidationError, ValueError):
        return None
    if response.status is not v16.GetCompositeScheduleStatus.ACCEPTED or station is None:
        return None
    try:
        window = ComputeComposite(
            charge_point_id=cp_id,
            connector_id=asked.connector_id,
            start=station.schedule_start,
            duration=station.duration,
            rate_unit=RateUnit(station.rate_unit),
        )
    except ValidationError:
        return None  # a window the CSMS does not compute (no duration, longer than a week)
    rows = [_row(row) for row in await rows_of(session, cp_id)]
    computed = await composite(session, window, compare.expected(rows, OcppVersion.V16))
    return compare.same_limits(station, computed)


async def reported(
    session: AsyncSession,
    settings: Settings,
    cp_id: str,
    report: v201.ReportChargingProfilesRequest,
) -> bool:
    """Add a ReportChargingProfiles to the station's check when it answers its ask (another
    one's, an operator's GetChargingProfiles, changes nothing). True when it was the last part
    and the check is over."""
    await lock_station(session, cp_id)
    check = await _check_of(session, cp_id)
    if check is None or check.report_id != report.request_id:
        return False
    listed = [
        p.model_dump(mode="json", by_alias=True, exclude_none=True)
        for p in from_v201_report(report)
    ]
    await session.execute(
        update(profile_checks)
        .where(k.charge_point_id == cp_id)
        .values(reported=[*check.reported, *listed])
    )
    if report.tbc:
        return False
    await finish(session, settings, cp_id, failed=False)
    return True


async def finish(session: AsyncSession, settings: Settings, cp_id: str, *, failed: bool) -> None:
    """End the station's check: the verdict of its answers (`failed`: as without an answer)
    applied to its rows. The caller frees the station's slot, so the profiles asked again go."""
    check = await _check_of(session, cp_id)
    await session.execute(delete(profile_checks).where(k.charge_point_id == cp_id))
    version = OcppVersion(check.ocpp_version)
    rows = [_row(row) for row in await rows_of(session, cp_id)]
    verdict: Verdict
    if version is OcppVersion.V16:
        # The connectors compared before a failure count; the others go as without an answer.
        verdict = compare.verdict_v16(
            rows, check.matched, check.differing, version, boot=check.boot
        )
    elif failed:
        verdict = compare.fallback(rows, boot=check.boot)
    else:
        listed = [ChargingProfile.model_validate(p) for p in check.reported]
        verdict = compare.verdict_v201(rows, listed, version, boot=check.boot)
    await _apply(session, settings, cp_id, verdict, version)


async def _apply(
    session: AsyncSession, settings: Settings, cp_id: str, verdict: Verdict, version: OcppVersion
) -> None:
    """Ask again for the rows to send, mark the held ones accepted, drop the clears done."""
    c = charging_profiles.c
    now = utcnow()
    for profile_id in verdict.held:
        await session.execute(
            update(charging_profiles)
            .where(key_of(cp_id, profile_id))
            .values(
                status="accepted",
                reason="the station holds it (asked when it came back)",
                answered_at=now,
                updated_at=now,
            )
        )
    if verdict.gone:
        await session.execute(
            delete(charging_profiles).where(
                c.charge_point_id == cp_id,
                c.profile_id.in_(verdict.gone),
                c.action == compare.CLEAR,
            )
        )
    again = [row for row in await rows_of(session, cp_id) if row.profile_id in verdict.resend]
    await send_again(session, settings, cp_id, again, version)


async def abandon(session: AsyncSession, settings: Settings, cp_id: str, request_id: str) -> bool:
    """Finish the station's check as without an answer when `request_id` is its ask (the sweep
    gave up on it). Whether it was."""
    check = await _check_of(session, cp_id)
    if check is None or check.request_id != request_id:
        return False
    await finish(session, settings, cp_id, failed=True)
    return True
