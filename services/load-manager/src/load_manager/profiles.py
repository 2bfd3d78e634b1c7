"""Stored charging profiles: what storing, clearing and re-sending one writes, and how the
station's answer lands on its row.

A row holds the profile the CSMS wants the station to have and the last command about it:
SetChargingProfile once stored (again at each accepted boot), ClearChargingProfile once deleted.
The command is written to the command outbox in the same transaction (`commands`); its
`command.completed` comes back through `follow_profiles` and is matched by its requestId. A
cleared profile's row goes when the station answers (Accepted, or Unknown: it holds none of that
id, which is what was asked); a clear without an answer stays on the row, `failed`, and is sent
again as the profiles are. Every change to a station's profiles first takes the station's lock,
so each sees what the one before it left.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import ValidationError
from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from csms_shared.bus.rpc import RpcError
from csms_shared.charging import (
    DEFAULT_VOLTAGE,
    ChargingProfile,
    CompositeSchedule,
    ProfileProblem,
    composite_schedule,
    conflicts,
    replaced,
    to_v16_request,
    to_v201_request,
    validate,
)
from csms_shared.contracts.events import CommandCompleted
from csms_shared.contracts.resources_profiles import ProfileSend, StoredChargingProfile
from csms_shared.contracts.rpc_profiles import ComputeComposite, StoreProfile
from csms_shared.ocpp import v16, v201
from csms_shared.ocpp._base import OcppModel, utcnow
from csms_shared.ocpp.version import OcppVersion

from .commands import REQUEST_PREFIX, new_request_id, queue_command, requester
from .db import nodes, stations
from .profiles_db import charging_profiles, profile_revisions
from .settings import Settings

SET = "SetChargingProfile"
CLEAR = "ClearChargingProfile"
# The first key of the stations' advisory locks (pg_advisory_xact_lock(int, int)): a space of
# its own, apart from the one-key locks (migrations take hashtext(schema)).
_LOCK_SPACE = 0x4C4D5001

c = charging_profiles.c


async def lock_station(session: AsyncSession, cp_id: str) -> None:
    """Hold the station's profiles until the transaction ends (also while it has none yet)."""
    await session.execute(select(func.pg_advisory_xact_lock(_LOCK_SPACE, func.hashtext(cp_id))))


def profile_of(row: Any) -> ChargingProfile:
    """The profile a row stores."""
    return ChargingProfile.model_validate(row.profile)


def stored(row: Any) -> StoredChargingProfile:
    """A row of `loads.charging_profiles` as the API shows it."""
    return StoredChargingProfile(
        charge_point_id=row.charge_point_id,
        profile=profile_of(row),
        ocpp_version=row.ocpp_version,
        send=ProfileSend(
            action=row.action,
            status=row.status,
            command_id=row.command_id,
            outcome=row.outcome,
            response=row.response,
            reason=row.reason,
            requested_at=row.requested_at,
            answered_at=row.answered_at,
        ),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _problems(problems: list[ProfileProblem], prefix: str = "") -> str:
    return "; ".join(f"{prefix}{p.field}: {p.message} ({p.rule})" for p in problems)


def command(action: str, profile: ChargingProfile, version: OcppVersion) -> OcppModel:
    """The request of `action` about `profile` in `version` (ValueError: it cannot say it)."""
    if action == SET:
        return to_v16_request(profile) if version is OcppVersion.V16 else to_v201_request(profile)
    if version is OcppVersion.V16:
        return v16.ClearChargingProfileRequest(id=profile.id)
    return v201.ClearChargingProfileRequest(charging_profile_id=profile.id)


async def ask(
    session: AsyncSession, cp_id: str, profile: ChargingProfile, action: str, version: OcppVersion
) -> dict[str, Any]:
    """Queue `action` about `profile` for the station, spoken in `version`; the row's columns
    that say so (`failed`, and nothing queued, when the profile is not valid in `version`)."""
    now = utcnow()
    asked: dict[str, Any] = {
        "action": action,
        "ocpp_version": version.value,
        "request_id": None,
        "command_id": None,
        "outcome": None,
        "response": None,
        "reason": None,
        "requested_at": now,
        "answered_at": None,
        "updated_at": now,
    }
    problems = validate(profile, version) if action == SET else []
    try:
        request = command(action, profile, version)
    except ValueError as exc:
        problems = problems or [ProfileProblem(field="profile", rule="", message=str(exc))]
    if problems:
        # A station that came back speaking the other version: the profile stays, unsent.
        return {
            **asked,
            "status": "failed",
            "answered_at": now,
            "reason": f"not valid in OCPP {version}: {_problems(problems)}",
        }
    asked["request_id"] = new_request_id()
    await queue_command(session, cp_id, action, request, asked["request_id"])
    return {**asked, "status": "pending"}


async def rows_of(session: AsyncSession, cp_id: str) -> list[Any]:
    """A station's rows, in the order they were stored."""
    query = select(charging_profiles).where(c.charge_point_id == cp_id).order_by(c.revision)
    return list((await session.execute(query)).all())


def _key(cp_id: str, profile_id: int) -> Any:
    return (c.charge_point_id == cp_id) & (c.profile_id == profile_id)


async def store(session: AsyncSession, settings: Settings, params: StoreProfile) -> Any:
    """Store a profile (replacing the row of its id) and send it: RpcError invalid when it
    breaks OCPP's rules for the version, conflict when a profile the station holds would make
    it refuse it (2.0.1) or the station has `LOADS_MAX_STATION_PROFILES` already."""
    cp_id, profile, version = params.charge_point_id, params.profile, params.ocpp_version
    problems = validate(profile, version)
    if problems:
        raise RpcError("invalid", _problems(problems, "profile."))
    await lock_station(session, cp_id)
    others = [row for row in await rows_of(session, cp_id) if row.profile_id != profile.id]
    if len(others) >= settings.max_station_profiles:
        raise RpcError(
            "conflict",
            f"charge point {cp_id} has {len(others)} stored profiles, the most it may have;"
            " delete one first",
        )
    # What the station holds or is about to: a rejected profile is not on it, and a cleared
    # one's ClearChargingProfile left before this profile's SetChargingProfile.
    held = [profile_of(row) for row in others if row.action == SET and row.status != "rejected"]
    clash = conflicts(profile, held, version)
    if clash:
        raise RpcError("conflict", "the station would refuse it: " + _problems(clash))
    values = {
        "connector_id": profile.connector_id,
        "purpose": profile.purpose.value,
        "stack_level": profile.stack_level,
        "profile": profile.model_dump(mode="json", by_alias=True, exclude_none=True),
        "revision": profile_revisions.next_value(),
        **await ask(session, cp_id, profile, SET, version),
    }
    upsert = insert(charging_profiles).values(
        charge_point_id=cp_id, profile_id=profile.id, **values
    )
    statement = upsert.on_conflict_do_update(
        index_elements=[c.charge_point_id, c.profile_id], set_=values
    ).returning(charging_profiles)
    return (await session.execute(statement)).one()


async def clear(session: AsyncSession, cp_id: str, profile_id: int) -> Any:
    """Send ClearChargingProfile for a stored profile; its row goes once the station clears it.
    RpcError not_found when there is no such profile."""
    await lock_station(session, cp_id)
    row = (await session.execute(select(charging_profiles).where(_key(cp_id, profile_id)))).first()
    if row is None:
        raise RpcError("not_found", f"charge point {cp_id} has no stored profile {profile_id}")
    values = await ask(session, cp_id, profile_of(row), CLEAR, OcppVersion(row.ocpp_version))
    statement = (
        update(charging_profiles)
        .where(_key(cp_id, profile_id))
        .values(**values)
        .returning(charging_profiles)
    )
    return (await session.execute(statement)).one()


async def resend(
    session: AsyncSession, cp_id: str, version: OcppVersion | None, *, failed_only: bool
) -> int:
    """Ask the station again for every stored profile (`failed_only`: those whose last command
    never got an answer), in `version` (None: each row's): clears first, then the profiles in
    the order they were stored. How many were asked."""
    await lock_station(session, cp_id)
    rows = await rows_of(session, cp_id)
    if failed_only:
        rows = [row for row in rows if row.status == "failed"]
    rows.sort(key=lambda row: (row.action == SET, row.revision))
    for row in rows:
        values = await ask(
            session, cp_id, profile_of(row), row.action, version or OcppVersion(row.ocpp_version)
        )
        await session.execute(
            update(charging_profiles).where(_key(cp_id, row.profile_id)).values(**values)
        )
    return len(rows)


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
    profile's last: a later command (a re-send, a delete) supersedes an earlier one's answer."""
    request_id = event.request_id
    if request_id is None or not request_id.startswith(REQUEST_PREFIX):
        return
    if event.requested_by != requester(settings):
        return  # a back office's request that borrowed our prefix
    by_request = select(charging_profiles).where(c.request_id == request_id)
    row = (await session.execute(by_request)).first()
    if row is None:
        return
    cp_id = row.charge_point_id
    await lock_station(session, cp_id)
    row = (await session.execute(by_request)).first()  # as the lock holder before us left it
    if row is None:
        return
    key = _key(cp_id, row.profile_id)
    answered = {
        "command_id": event.command_id,
        "outcome": event.status,
        "response": event.response,
        "answered_at": event.at,
        "updated_at": func.now(),
    }
    if event.status != "result":
        reason = event.reason or (event.error_code and f"CALLERROR {event.error_code}")
        await session.execute(
            update(charging_profiles)
            .where(key)
            .values(**answered, status="failed", reason=reason or event.status)
        )
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


async def composite(session: AsyncSession, params: ComputeComposite) -> CompositeSchedule:
    """The composite schedule of the stored profiles (those being cleared left out), W and A
    converted at the voltage of the node the station is on (230 V when on none)."""
    cp_id = params.charge_point_id
    rows = await session.execute(
        select(c.profile).where(c.charge_point_id == cp_id, c.action == SET)
    )
    voltage = await session.scalar(
        select(nodes.c.voltage)
        .join(stations, stations.c.node_id == nodes.c.id)
        .where(stations.c.charge_point_id == cp_id)
    )
    return composite_schedule(
        [profile_of(row) for row in rows],
        connector_id=params.connector_id,
        start=params.start,
        duration=params.duration,
        rate_unit=params.rate_unit,
        transaction=params.transaction,
        voltage=DEFAULT_VOLTAGE if voltage is None else Decimal(voltage),
    )
