"""Stored charging profiles: what storing, clearing and re-sending one writes.

A row holds the profile the CSMS wants the station to have and the last command about it:
SetChargingProfile once stored (again when the station comes back without it), ClearChargingProfile
once deleted. The command is written to the command outbox in the same transaction (`commands`);
its outcome lands on the row through `profile_answers`. Every change to a station's profiles
first takes the station's lock, so each sees what the one before it left.

A station has at most one command about its profiles on its way (`profile_stations`): a Set and
a Clear sent together could reach it in either order (command-api runs requests concurrently),
leaving it a profile the rows say it dropped. A command decided while another is outstanding
waits on its row, `pending` without a requestId, and is sent when the outstanding one is
settled (`profile_answers.release`): clears first, then by revision.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, TypedDict

from sqlalchemy import ARRAY, Text, cast, column, delete, func, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from csms_shared.bus.rpc import RpcError
from csms_shared.charging import (
    DEFAULT_VOLTAGE,
    ChargingProfile,
    CompositeSchedule,
    ProfileProblem,
    ProfilePurpose,
    composite_schedule,
    conflicts,
    to_v16_request,
    to_v201_request,
    validate,
)
from csms_shared.contracts.resources_profiles import (
    ProfileSend,
    ProfileSendStatus,
    StoredChargingProfile,
)
from csms_shared.contracts.rpc_profiles import ComputeComposite, StoreProfile
from csms_shared.ocpp import JsonObject, OcppModel, utcnow, v16, v201
from csms_shared.ocpp.version import OcppVersion

from ..commands import new_request_id, queue_command
from ..db import charging_profiles, nodes, profile_revisions, profile_stations, stations
from ..settings import Settings
from .managed import refusal

SET = "SetChargingProfile"
CLEAR = "ClearChargingProfile"
# The first key of the stations' advisory locks (pg_advisory_xact_lock(int, int)): a space of
# its own, apart from the one-key locks (migrations take hashtext(schema)).
_LOCK_SPACE = 0x4C4D5001

# Outcomes of a command that never reached the station (command-api's statuses).
NO_ANSWER = frozenset({"offline", "timeout", "lost"})

c = charging_profiles.c
ps = profile_stations.c


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


async def outstanding(session: AsyncSession, cp_id: str) -> str | None:
    """The requestId of the station's command on its way, if any (under the station's lock)."""
    return await session.scalar(select(ps.request_id).where(ps.charge_point_id == cp_id))


async def hold(session: AsyncSession, cp_id: str, request_id: str | None, at: Any) -> None:
    """Mark `request_id` (None: nothing) as the station's command on its way."""
    upsert = insert(profile_stations).values(
        charge_point_id=cp_id, request_id=request_id, requested_at=at
    )
    await session.execute(
        upsert.on_conflict_do_update(
            index_elements=[ps.charge_point_id],
            set_={"request_id": request_id, "requested_at": at},
        )
    )


async def connected(session: AsyncSession, connections: Iterable[tuple[str, Any]]) -> None:
    """Remember each station's newest connection (`station.connected`: station, connected at),
    in one statement, the stations in id order."""
    newest: dict[str, Any] = {}
    for cp_id, at in connections:
        known = newest.get(cp_id)
        newest[cp_id] = at if known is None or (at is not None and at > known) else known
    if not newest:
        return
    rows = [{"charge_point_id": cp_id, "connected_at": newest[cp_id]} for cp_id in sorted(newest)]
    upsert = insert(profile_stations).values(rows)
    await session.execute(
        upsert.on_conflict_do_update(
            index_elements=[ps.charge_point_id],
            set_={"connected_at": func.greatest(ps.connected_at, upsert.excluded.connected_at)},
        )
    )


class Asked(TypedDict):
    """The columns of a `charging_profiles` row that say which command about it was asked
    last, and where it stands (ProfileSend)."""

    action: str
    ocpp_version: str
    request_id: str | None
    command_id: str | None
    outcome: str | None
    response: JsonObject | None
    reason: str | None
    requested_at: datetime
    answered_at: datetime | None
    updated_at: datetime
    status: ProfileSendStatus


async def ask(
    session: AsyncSession,
    settings: Settings,
    cp_id: str,
    profile: ChargingProfile,
    action: str,
    version: OcppVersion,
) -> Asked:
    """Queue `action` about `profile` for the station, spoken in `version`, or keep it waiting
    while another command is on its way (`pending`, no requestId); the row's columns that say
    so (`failed`, and nothing queued, when the profile is not valid in `version`). The caller
    holds the station's lock."""
    now = utcnow()
    asked = Asked(
        action=action,
        ocpp_version=version.value,
        request_id=None,
        command_id=None,
        outcome=None,
        response=None,
        reason=None,
        requested_at=now,
        answered_at=None,
        updated_at=now,
        status="pending",
    )
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
    if await outstanding(session, cp_id) is not None:
        return asked  # sent when the outstanding one is settled
    request_id = asked["request_id"] = new_request_id()
    await queue_command(session, settings, cp_id, action, request, request_id)
    await hold(session, cp_id, request_id, now)
    return asked


def sending_order(row: Any) -> tuple[bool, int]:
    # Clears first: a station that holds the most profiles it may gets room for the new ones.
    return (row.action == SET, row.revision)


async def rows_of(session: AsyncSession, cp_id: str) -> list[Any]:
    """A station's rows, in the order they were stored."""
    query = select(charging_profiles).where(c.charge_point_id == cp_id).order_by(c.revision)
    return list((await session.execute(query)).all())


def key_of(cp_id: str, profile_id: int) -> Any:
    return (c.charge_point_id == cp_id) & (c.profile_id == profile_id)


async def store(session: AsyncSession, settings: Settings, params: StoreProfile) -> Any:
    """Store a profile (replacing the row of its id) and send it: RpcError invalid when it
    breaks OCPP's rules for the version or would take over the site allocator's profile
    (`managed_profiles`), conflict when a profile the station holds would make it refuse it
    (2.0.1) or the station has `LOADS_MAX_STATION_PROFILES` already."""
    cp_id, profile, version = params.charge_point_id, params.profile, params.ocpp_version
    problems = validate(profile, version)
    if problems:
        raise RpcError("invalid", _problems(problems, "profile."))
    await lock_station(session, cp_id)
    # Under the station's lock, which its placement on a site takes too.
    on_site = await session.scalar(
        select(stations.c.site_id).where(stations.c.charge_point_id == cp_id)
    )
    if (why := refusal(profile, settings, on_site is not None)) is not None:
        raise RpcError("invalid", why)
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
        **await ask(session, settings, cp_id, profile, SET, version),
    }
    upsert = insert(charging_profiles).values(
        charge_point_id=cp_id, profile_id=profile.id, **values
    )
    statement = upsert.on_conflict_do_update(
        index_elements=[c.charge_point_id, c.profile_id], set_=values
    ).returning(charging_profiles)
    return (await session.execute(statement)).one()


async def clear(session: AsyncSession, settings: Settings, cp_id: str, profile_id: int) -> Any:
    """Send ClearChargingProfile for a stored profile; its row goes once the station clears it.
    RpcError not_found when there is no such profile."""
    await lock_station(session, cp_id)
    row = (
        await session.execute(select(charging_profiles).where(key_of(cp_id, profile_id)))
    ).first()
    if row is None:
        raise RpcError("not_found", f"charge point {cp_id} has no stored profile {profile_id}")
    version = OcppVersion(row.ocpp_version)
    values = await ask(session, settings, cp_id, profile_of(row), CLEAR, version)
    statement = (
        update(charging_profiles)
        .where(key_of(cp_id, profile_id))
        .values(**values)
        .returning(charging_profiles)
    )
    return (await session.execute(statement)).one()


def waiting(row: Any) -> bool:
    """Whether a row's command waits for the station's outstanding one (sent by `release`)."""
    return bool(row.status == "pending" and row.request_id is None)


async def send_again(
    session: AsyncSession,
    settings: Settings,
    cp_id: str,
    rows: list[Any],
    version: OcppVersion | None,
) -> int:
    """Ask the station again for the last command of each of `rows`, in `version` (None: each
    row's): clears first, then the profiles in the order they were stored. How many were
    asked. The caller holds the station's lock."""
    for row in sorted(rows, key=sending_order):
        values = await ask(
            session,
            settings,
            cp_id,
            profile_of(row),
            row.action,
            version or OcppVersion(row.ocpp_version),
        )
        await session.execute(
            update(charging_profiles).where(key_of(cp_id, row.profile_id)).values(**values)
        )
    return len(rows)


async def resend(
    session: AsyncSession,
    settings: Settings,
    cp_id: str,
    version: OcppVersion | None,
    *,
    failed_only: bool,
) -> int:
    """Ask the station again for every stored profile (`failed_only`: those whose last command
    never got an answer), in `version` (None: each row's). How many were asked."""
    await lock_station(session, cp_id)
    rows = await rows_of(session, cp_id)
    if failed_only:
        rows = [row for row in rows if row.status == "failed"]
    return await send_again(session, settings, cp_id, rows, version)


async def lock_stations(session: AsyncSession, cp_ids: Iterable[str]) -> None:
    """`lock_station` for several stations in one statement, in id order (as a group of events
    is followed, `by_charge_point`), so two transactions locking some of the same stations
    never wait for each other in a circle."""
    await session.execute(
        select(func.pg_advisory_xact_lock(_LOCK_SPACE, func.hashtext(column("cp")))).select_from(
            func.unnest(cast(sorted(set(cp_ids)), ARRAY(Text))).alias("cp")
        )
    )


async def end_transactions(session: AsyncSession, ended: Sequence[tuple[str, str]]) -> int:
    """Drop the TxProfiles of transactions that ended, each a (station, station transaction
    id): the station discards a TxProfile itself when its transaction ends, so no Clear is
    sent. Two statements for any number of them (the stations locked, the rows deleted); how
    many rows went."""
    if not ended:
        return 0
    await lock_stations(session, (cp_id for cp_id, _ in ended))
    gone = await session.execute(
        delete(charging_profiles)
        .where(
            c.purpose == ProfilePurpose.TX.value,
            tuple_(c.charge_point_id, c.profile["transactionId"].astext).in_(list(ended)),
        )
        .returning(c.profile_id)
    )
    return len(gone.all())


async def composite(
    session: AsyncSession,
    params: ComputeComposite,
    profiles: list[ChargingProfile] | None = None,
) -> CompositeSchedule:
    """The composite schedule of `profiles` (None: the stored ones, those being cleared left
    out), W and A converted at the voltage of the node the station is on (230 V when on none)."""
    cp_id = params.charge_point_id
    if profiles is None:
        rows = await session.execute(
            select(c.profile).where(c.charge_point_id == cp_id, c.action == SET)
        )
        profiles = [profile_of(row) for row in rows]
    voltage = await session.scalar(
        select(nodes.c.voltage)
        .join(stations, stations.c.node_id == nodes.c.id)
        .where(stations.c.charge_point_id == cp_id)
    )
    return composite_schedule(
        profiles,
        connector_id=params.connector_id,
        start=params.start,
        duration=params.duration,
        rate_unit=params.rate_unit,
        transaction=params.transaction,
        voltage=DEFAULT_VOLTAGE if voltage is None else Decimal(voltage),
    )
