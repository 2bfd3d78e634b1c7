"""A CP's Local Authorization List synchronised from the id tags (SendLocalList), with the
roaming tokens a station may accept if asked, by an operator (`POST
/charge-points/{id}/local-list/sync`) or again when they change (`resync`); a 2.0.1 station
gets the same list as idTokens (`csms_shared.ocpp.local_list`)."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from fastapi import HTTPException, status
from pydantic import Field
from sqlalchemy import case, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from csms_shared.contracts.resources import ConfigurationEntry, Resource
from csms_shared.contracts.rpc import (
    BuildLocalList,
    ListVariables,
    OfChargePoint,
    RegistryRpc,
    SessionsRpc,
)
from csms_shared.ocpp._base import OcppModel
from csms_shared.ocpp.local_list import to_v16, to_v201
from csms_shared.ocpp.v16.messages import SendLocalListResponse
from csms_shared.ocpp.v201.messages import SendLocalListResponse as V201SendLocalListResponse
from csms_shared.ocpp.version import OcppVersion
from csms_shared.vocabulary.local_lists import LocalList

from .api.command_sending import send_command
from .api.deps import AppState, call
from .auth import Principal
from .db import local_list_syncs
from .problems import TYPES, ProblemError
from .versions import known_version


def _status(answer: OcppModel | None) -> str:
    """A SendLocalList answer's status in either version ("" when there is none to read)."""
    if isinstance(answer, SendLocalListResponse | V201SendLocalListResponse):
        return answer.status.value
    return ""


def _config_int(config: list[ConfigurationEntry], key: str) -> int | None:
    for entry in config:
        if entry.key == key:
            try:
                return max(1, int(str(entry.value)))
            except ValueError:
                return None
    return None


s = local_list_syncs.c

# Where each version says how long a CP's list may be, and how much of it one message holds.
_V16_LIMITS = ("LocalAuthListMaxLength", "SendLocalListMaxLength")
_V201_LIMITS = ("LocalAuthListCtrlr.Entries maxLimit", "LocalAuthListCtrlr.ItemsPerMessage")


def _configuration_limits(config: list[ConfigurationEntry]) -> tuple[int | None, int | None]:
    """A 1.6 CP's limits, from its configuration snapshot (None: not known)."""
    return _config_int(config, _V16_LIMITS[0]), _config_int(config, _V16_LIMITS[1])


async def _device_model_limits(
    state: AppState, cp_id: str
) -> tuple[int | None, int | None, tuple[str, str]]:
    """A 2.0.1 station's limits, from its device model (its NotifyReport at boot): the
    maximum of LocalAuthListCtrlr.Entries and the value of LocalAuthListCtrlr.ItemsPerMessage."""
    listing = ListVariables(id=cp_id, component="LocalAuthListCtrlr", limit=100)
    page = await call(state, RegistryRpc.list_variables, listing)
    most = per_message = None
    for found in page.items:
        if found.component != "LocalAuthListCtrlr" or found.attribute_type != "Actual":
            continue
        if found.variable == "Entries" and found.max_limit is not None:
            most = max(1, int(found.max_limit))
        elif found.variable == "ItemsPerMessage" and found.value is not None:
            per_message = _positive(found.value)
    return most, per_message, _V201_LIMITS


def _positive(value: str) -> int | None:
    try:
        return max(1, int(value))
    except ValueError:
        return None


class SentPart(Resource):
    """One SendLocalList of the synchronisation and the CP's answer."""

    command_id: str
    list_version: int
    update_type: str
    entries: int
    status: str = Field(description="The CP's UpdateStatus: Accepted, Failed, VersionMismatch, ...")


class LocalListSyncResult(Resource):
    """What was sent; `complete` when the CP accepted every part."""

    list_version: int = Field(description="The version the CP holds now, if complete")
    update_type: str
    size: int = Field(description="id tags (and roaming tokens) in the CP's list once complete")
    left_out: int = Field(
        default=0,
        description="id tags (and roaming tokens) a 1.6 CP cannot hold (over 20 characters, or"
        " in such a group), left out of its list",
    )
    complete: bool
    parts: list[SentPart]


async def _generation(session: AsyncSession, cp_id: str) -> int:
    """How often the CP's list was marked stale so far (0: never, or never synchronised)."""
    async with session.begin():
        seen = await session.scalar(select(s.generation).where(s.charge_point_id == cp_id))
    return seen or 0


async def _remember(
    session: AsyncSession,
    cp_id: str,
    parents: list[str] | None,
    roaming_tokens: bool,
    seen: int,
    delay: timedelta,
) -> None:
    """The scope the CP's list was synchronised to: up to date, until one of its tags (or
    roaming tokens) changes. A change while the list was being sent (marked since `seen`)
    keeps it stale."""
    scope = None if parents is None else sorted({p.lower() for p in parents})
    stmt = insert(local_list_syncs).values(
        charge_point_id=cp_id,
        parent_id_tags=scope,
        roaming_tokens=roaming_tokens,
        synced_at=func.now(),
        stale=False,
    )
    unchanged = s.generation == seen
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["charge_point_id"],
            set_={
                "parent_id_tags": stmt.excluded.parent_id_tags,
                "roaming_tokens": stmt.excluded.roaming_tokens,
                "synced_at": stmt.excluded.synced_at,
                "stale": case((unchanged, False), else_=s.stale),
                # Due again as after any change, not when the lease of a resync ends.
                "due_at": case((unchanged, None), else_=func.least(s.due_at, func.now() + delay)),
            },
        )
    )
    await session.commit()


async def synchronise(
    state: AppState,
    session: AsyncSession,
    principal: Principal,
    cp_id: str,
    parent_id_tags: list[str] | None,
    update_type: Literal["Full", "Differential"] | None,
    *,
    roaming_tokens: bool = False,
    skip_unchanged: bool = False,
) -> LocalListSyncResult:
    """Send the CP its Local Authorization List built from the id tags (all, or those under
    `parent_id_tags`) and, with `roaming_tokens`, the tokens eMSPs pushed that a station may
    accept, within its SendLocalListMaxLength per message and LocalAuthListMaxLength in all;
    with `skip_unchanged`, nothing when a Differential would change nothing. Raises
    HTTPException (404, 409, 503, ...) when nothing could be sent."""
    seen = await _generation(session, cp_id)
    cp = await call(state, RegistryRpc.get_charge_point, OfChargePoint(id=cp_id))
    spoken = known_version(cp)
    if spoken is None:
        raise ProblemError(
            409,
            f"Charge point {cp_id!r} never connected: its OCPP version, and so its list's shape,"
            " is not known yet",
            type=TYPES + "ocpp-version-unknown",
            title="The charge point's OCPP version is not known yet",
        )
    v201 = spoken is OcppVersion.V201
    building = BuildLocalList(
        charge_point_id=cp_id,
        ocpp_version=spoken,
        parent_id_tags=parent_id_tags,
        update_type=update_type,
        # Set only when asked: a session-service older than the field refuses it.
        **({"roaming_tokens": True} if roaming_tokens else {}),
    )
    plan = await call(state, SessionsRpc.build_local_list, building)
    delay = timedelta(seconds=state.settings.local_list_resync_delay)
    if skip_unchanged and plan.update_type == "Differential" and not plan.entries:
        # A change that leaves the list as it is (a roaming token it never held) sends nothing.
        await _remember(session, cp_id, parent_id_tags, roaming_tokens, seen, delay)
        return LocalListSyncResult(
            list_version=plan.list_version - 1,
            update_type=plan.update_type,
            size=plan.size,
            left_out=plan.left_out,
            complete=True,
            parts=[],
        )
    most, per_part, names = (
        await _device_model_limits(state, cp_id)
        if v201
        else (*_configuration_limits(cp.configuration or []), _V16_LIMITS)
    )
    if most is not None and plan.size > most:
        fewer = "leave out roamingTokens" if roaming_tokens else "choose fewer with parentIdTags"
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"the list would hold {plan.size} id tags; {cp_id!r} holds at most {most} "
            f"({names[0]}): {fewer}",
        )
    entries = plan.entries
    per_message = per_part or max(1, len(entries))
    # A list longer than one message goes as its first part (Full or Differential) and then
    # differences adding the rest, each a version after the one before.
    chunks = [entries[i : i + per_message] for i in range(0, len(entries), per_message)] or [[]]
    version, kind_first = plan.list_version, plan.update_type
    parts: list[SentPart] = []
    for n, chunk in enumerate(chunks):
        kind = kind_first if n == 0 else "Differential"
        listed = LocalList(version=version + n, update_type=kind, entries=chunk)
        request: OcppModel = to_v201(listed) if v201 else to_v16(listed)
        # The list is the id tags' (not the caller's): an operator may send it.
        sent = await send_command(
            state, session, principal, cp_id, "SendLocalList", request, None, True,
            built_by_csms=True,
        )  # fmt: skip
        answer = _status(sent.answer())
        parts.append(
            SentPart(
                command_id=sent.command_id,
                list_version=version + n,
                update_type=kind,
                entries=len(chunk),
                status=answer,
            )
        )
        if answer != "Accepted":
            break
    complete = all(part.status == "Accepted" for part in parts) and len(parts) == len(chunks)
    await _remember(session, cp_id, parent_id_tags, roaming_tokens, seen, delay)
    return LocalListSyncResult(
        list_version=parts[-1].list_version,
        update_type=kind_first,
        size=plan.size,
        left_out=plan.left_out,
        complete=complete,
        parts=parts,
    )
