"""Asking a station that came back what it holds of its stored profiles, before sending any again.

After a reconnection and after an accepted boot alike (1.6 and 2.0.1 stations typically keep
their charging profiles in non-volatile memory across a reboot, so a boot does not mean they
are gone), the load-manager asks first, through the command path as any command, in the
station's version (`profile_asks`: one adapter per version; this module is written once):

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

from collections.abc import Collection
from typing import Any

from sqlalchemy import delete, select, union, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from csms_shared.charging import from_v201_report
from csms_shared.contracts.events import CommandCompleted
from csms_shared.ocpp import v201
from csms_shared.ocpp._base import utcnow
from csms_shared.ocpp.version import OcppVersion

from ..commands import new_request_id, queue_command
from ..db import charging_profiles, evse_allocations, profile_checks
from ..settings import Settings
from . import compare
from .asks import ASKS, FAILED, NEXT, WAIT
from .compare import Row, Verdict
from .store import hold, key_of, lock_station, outstanding, profile_of, rows_of, send_again, waiting

# The checks' requestIds, told apart from the stored profiles' and the allocator's.
TAG = "check:"

k = profile_checks.c


def check_request_id() -> str:
    """A requestId for one of the checks' asks."""
    prefix, _, rest = new_request_id().partition(":")
    return f"{prefix}:{TAG}{rest}"


def is_check_request(request_id: str | None) -> bool:
    """Whether a command's requestId is one of the checks' asks."""
    return request_id is not None and request_id.partition(":")[2].startswith(TAG)


def _row(row: Any) -> Row:
    """A stored profile's row as the comparison sees it."""
    return Row(
        profile=profile_of(row),
        action=row.action,
        status=row.status,
        version=OcppVersion(row.ocpp_version),
        waiting=waiting(row),
    )


async def _rows(session: AsyncSession, cp_id: str) -> list[Row]:
    return [_row(row) for row in await rows_of(session, cp_id)]


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
    rows = await _rows(session, cp_id)
    connectors = ASKS[version].plan(rows, await _allocated(session, cp_id))
    if connectors is None:
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
    ask = ASKS[OcppVersion(check.ocpp_version)].request(await _rows(session, cp_id), check)
    if ask is None:
        await finish(session, settings, cp_id, failed=True)
        return False
    request_id = check_request_id()
    await queue_command(session, settings, cp_id, ask.action, ask.payload, request_id)
    await hold(session, cp_id, request_id, utcnow())
    await session.execute(
        update(profile_checks)
        .where(k.charge_point_id == cp_id)
        .values(request_id=request_id, report_id=ask.report_id)
    )
    return True


async def answered(
    session: AsyncSession, settings: Settings, cp_id: str, event: CommandCompleted
) -> bool:
    """Take the outcome of a check's ask (under the station's lock): compare, ask again, wait
    for the reports, or finish. True when the check is over and the station's slot is to be
    freed."""
    check = await _check_of(session, cp_id)
    if check is None or check.request_id != event.request_id:
        return False  # a check finished meanwhile (the last report came first), or an old one
    if event.status != "result":
        await finish(session, settings, cp_id, failed=True)
        return True
    ask = ASKS[OcppVersion(check.ocpp_version)]
    step = await ask.answered(session, cp_id, await _rows(session, cp_id), check, event)
    if step.changes:
        await session.execute(
            update(profile_checks)
            .where(k.charge_point_id == cp_id)
            .values(**step.changes, request_id=None)
        )
    if step.then == WAIT:
        # The reports follow; the sweep gives up on them a full command timeout from now.
        await hold(session, cp_id, event.request_id, utcnow())
        return False
    if step.then == NEXT:
        await _ask(session, settings, cp_id)
        return False
    await finish(session, settings, cp_id, failed=step.then == FAILED)
    return True


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
    verdict = ASKS[version].verdict(await _rows(session, cp_id), check, failed=failed)
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
