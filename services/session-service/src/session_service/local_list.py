"""The version of each CP's Local Authorization List and what it holds, from its answers to our
commands (either version's list read in our terms: `csms_shared.ocpp.local_list`)."""

from __future__ import annotations

import logging

from pydantic import ValidationError
from sqlalchemy import BindParameter, all_, any_, delete, func, literal
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import String

from csms_shared.contracts.events import CommandCompleted
from csms_shared.ocpp import v201 as v201m
from csms_shared.ocpp.local_list import from_v16, from_v201
from csms_shared.ocpp.v16.enums import UpdateStatus
from csms_shared.ocpp.v16.messages import (
    GetLocalListVersionRequest,
    GetLocalListVersionResponse,
    SendLocalListRequest,
    SendLocalListResponse,
)
from csms_shared.ocpp.version import OcppVersion
from csms_shared.vocabulary.local_lists import LocalList

from .db import local_list_entries, local_list_versions

log = logging.getLogger(__name__)


async def record(session: AsyncSession, event: CommandCompleted) -> None:
    """A SendLocalList the CP accepted, or a GetLocalListVersion it answered."""
    action, at, cp_id = event.action, event.at, event.charge_point_id
    if cp_id is None:
        return
    sent: LocalList | None = None
    v201 = event.ocpp_version is OcppVersion.V201
    try:
        if action == "SendLocalList" and v201:
            spelt, took = event.read(v201m.SendLocalListRequest, v201m.SendLocalListResponse)
            if took.status is not v201m.SendLocalListStatusEnum.ACCEPTED:
                return
            sent = from_v201(spelt)
            version = sent.version
        elif action == "SendLocalList":
            told, answer = event.read(SendLocalListRequest, SendLocalListResponse)
            if answer.status is not UpdateStatus.ACCEPTED:
                return
            sent = from_v16(told)
            version = sent.version
        elif action == "GetLocalListVersion" and v201:
            _, said = event.read(
                v201m.GetLocalListVersionRequest, v201m.GetLocalListVersionResponse
            )
            version = said.version_number
        elif action == "GetLocalListVersion":
            _, held = event.read(GetLocalListVersionRequest, GetLocalListVersionResponse)
            version = held.list_version
        else:
            return
    except ValidationError as exc:
        # Never requeue a malformed event: it would fail the same way every time.
        log.warning("command.completed %s for %s is malformed; ignored: %s", action, cp_id, exc)
        return
    values = {"list_version": version, "source": action, "updated_at": at}
    newer = (
        await session.execute(
            insert(local_list_versions)
            .values(charge_point_id=cp_id, **values)
            .on_conflict_do_update(
                index_elements=[local_list_versions.c.charge_point_id],
                set_=values,
                # A late redelivery of an older answer does not roll the version back.
                where=local_list_versions.c.updated_at <= at,
            )
            .returning(local_list_versions.c.charge_point_id)
        )
    ).first()
    if newer is not None and sent is not None:
        await apply_entries(session, cp_id, sent)


def _tags(tags: list[str]) -> BindParameter[list[str]]:
    """One array parameter, however many tags a list holds."""
    return literal(tags, ARRAY(String))


async def apply_entries(session: AsyncSession, cp_id: str, sent: LocalList) -> None:
    """What the CP's list holds after it accepted `sent` (a Full list or a difference)."""
    e = local_list_entries.c
    if sent.update_type == "Full":
        await session.execute(delete(local_list_entries).where(e.charge_point_id == cp_id))
    elif sent.entries:
        # The CP compares tokens without case: one it held in another case is the one sent.
        spelt = [entry.token.value for entry in sent.entries]
        await session.execute(
            delete(local_list_entries).where(
                e.charge_point_id == cp_id,
                func.lower(e.id_tag) == any_(_tags([tag.lower() for tag in spelt])),
                e.id_tag != all_(_tags(spelt)),
            )
        )
    for entry in sent.entries:
        tag = entry.token.value
        if entry.decision is None:
            # A differential entry without idTagInfo removes the idTag (OCPP 1.6, 5.15).
            await session.execute(
                delete(local_list_entries).where(e.charge_point_id == cp_id, e.id_tag == tag)
            )
            continue
        row = {
            "status": entry.decision.value,
            "expiry_date": entry.expiry,
            "parent_id_tag": entry.group.value if entry.group else None,
            "id_token_type": entry.token.type.value,
        }
        await session.execute(
            insert(local_list_entries)
            .values(charge_point_id=cp_id, id_tag=tag, **row)
            .on_conflict_do_update(index_elements=[e.charge_point_id, e.id_tag], set_=row)
        )
