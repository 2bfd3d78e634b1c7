"""The command audit log: a row per command, its outcome, and `command.completed`."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import Row, and_, bindparam, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from csms_shared.bus.outbox import emit
from csms_shared.contracts.envelopes import CommandOutcome
from csms_shared.contracts.events import CommandCompleted
from csms_shared.ocpp._base import JsonObject
from csms_shared.ocpp.version import OcppVersion

from .db import commands, outbox
from .models import Command, CommandError

PENDING = "pending"
# Outcomes the gateway reports, and those command-api decides itself.
GATEWAY_OUTCOMES = frozenset(
    {"result", "error", "invalid", "timeout", "disconnected", "busy", "rejected"}
)


# Built once: each command runs both (SQLAlchemy's construction of a statement costs about
# what its execution does). An outcome's columns are bound as `new_<column>`.
_RECORD_SENT = insert(commands)
_OUTCOME_COLUMNS = (
    "status",
    "response",
    "error_code",
    "error_description",
    "error_details",
    "gateway_latency_ms",
)
_RECORD_OUTCOME = (
    update(commands)
    .where(and_(commands.c.id == bindparam("command_id"), commands.c.status == PENDING))
    .values(
        {c: bindparam(f"new_{c}", type_=commands.c[c].type) for c in _OUTCOME_COLUMNS}
        | {"completed_at": func.now()}
    )
    .returning(commands)
)


async def record_sent(
    session: AsyncSession | AsyncConnection,
    *,
    command_id: str,
    charge_point_id: str,
    action: str,
    request: JsonObject,
    requested_by: str,
    timeout: float,
    request_id: str | None = None,
    batch_id: str | None = None,
    ocpp_version: OcppVersion | None = None,
) -> None:
    """A command about to be published (IntegrityError: `request_id` already seen)."""
    await session.execute(
        _RECORD_SENT,
        {
            "id": command_id,
            "charge_point_id": charge_point_id,
            "action": action,
            "request": request,
            "status": PENDING,
            "requested_by": requested_by,
            "timeout_seconds": timeout,
            "request_id": request_id,
            "batch_id": batch_id,
            "ocpp_version": ocpp_version,
        },
    )


async def record_outcome(
    session: AsyncSession, command_id: str, outcome: CommandOutcome
) -> Row[Any] | None:
    """Store the outcome of a pending command and queue `command.completed`; None if not pending."""
    params = {
        "command_id": command_id,
        "new_status": outcome.status,
        "new_response": outcome.response,
        "new_error_code": outcome.error_code,
        "new_error_description": outcome.error_description or outcome.reason,
        "new_error_details": outcome.error_details,
        "new_gateway_latency_ms": outcome.latency_ms,
    }
    row: Row[Any] | None = (await session.execute(_RECORD_OUTCOME, params)).first()
    if row is None:
        return None
    event = completed_event(row)
    await emit(session, outbox, event)
    return row


def completed_event(row: Row[Any]) -> CommandCompleted:
    """The `command.completed` event of a finished command."""
    event = CommandCompleted(
        at=row.completed_at,
        command_id=row.id,
        charge_point_id=row.charge_point_id,
        action=row.action,
        request=row.request,
        status=row.status,
        requested_by=row.requested_by,
    )
    if row.response is not None:
        event.response = row.response
    if row.error_code is not None:
        event.error_code = row.error_code
    elif row.error_description is not None:
        event.reason = row.error_description  # why there is no answer: offline, refused
    if row.request_id is not None:
        event.request_id = row.request_id
    if row.batch_id is not None:
        event.batch_id = row.batch_id
    if row.ocpp_version is not None:
        event.ocpp_version = OcppVersion(row.ocpp_version)
    return event


async def expire_lost(session: AsyncSession, grace_seconds: float) -> int:
    """Commands still pending well past their timeout: their asker died; mark them `lost`."""
    rows = (
        await session.execute(
            update(commands)
            .where(
                and_(
                    commands.c.status == PENDING,
                    commands.c.created_at
                    < func.now()
                    - func.make_interval(
                        0, 0, 0, 0, 0, 0, commands.c.timeout_seconds + grace_seconds
                    ),
                )
            )
            .values(status="lost", completed_at=func.now())
            .returning(commands)
        )
    ).all()
    for row in rows:
        event = completed_event(row)
        await emit(session, outbox, event)
    return len(rows)


def command_of(row: Row[Any]) -> Command:
    """A command as the REST API shows it."""
    failed = row.error_code is not None or row.error_description is not None
    return Command(
        command_id=row.id,
        charge_point_id=row.charge_point_id,
        action=row.action,
        request=row.request,
        status=row.status,
        requested_by=row.requested_by,
        created_at=row.created_at,
        timeout=row.timeout_seconds,
        completed_at=row.completed_at,
        latency_ms=None
        if row.completed_at is None
        else round((row.completed_at - row.created_at).total_seconds() * 1000, 3),
        charge_point_latency_ms=row.gateway_latency_ms,
        response=row.response,
        request_id=row.request_id,
        batch_id=row.batch_id,
        ocpp_version=OcppVersion(row.ocpp_version) if row.ocpp_version else None,
        error=CommandError(
            code=row.error_code,
            description=row.error_description,
            details=row.error_details or {},
        )
        if failed
        else None,
    )


async def get_command(session: AsyncSession, command_id: str) -> Row[Any] | None:
    """One command."""
    return (await session.execute(select(commands).where(commands.c.id == command_id))).first()


async def find_request(
    session: AsyncSession, requested_by: str, request_id: str
) -> Row[Any] | None:
    """The command a back office's request became, if it was seen before."""
    return (
        await session.execute(
            select(commands).where(
                commands.c.requested_by == requested_by, commands.c.request_id == request_id
            )
        )
    ).first()


async def list_commands(
    session: AsyncSession,
    *,
    limit: int,
    offset: int,
    charge_point_id: str | None = None,
    action: str | None = None,
    status: str | None = None,
) -> tuple[list[Row[Any]], int]:
    """A page of the audit log, newest first, and the total."""
    where = []
    if charge_point_id is not None:
        where.append(commands.c.charge_point_id == charge_point_id)
    if action is not None:
        where.append(commands.c.action == action)
    if status is not None:
        where.append(commands.c.status == status)
    total = await session.scalar(select(func.count()).select_from(commands).where(*where))
    rows = (
        await session.execute(
            select(commands)
            .where(*where)
            .order_by(commands.c.created_at.desc(), commands.c.id)
            .limit(limit)
            .offset(offset)
        )
    ).all()
    return list(rows), int(total or 0)


RETENTION_BATCH = 5_000


async def prune(session: AsyncSession, days: float) -> int:
    """Delete up to RETENTION_BATCH finished commands older than `days`; how many went."""
    old = (
        select(commands.c.id)
        .where(
            commands.c.created_at < func.now() - timedelta(days=days),
            commands.c.status != PENDING,
        )
        .limit(RETENTION_BATCH)
    )
    result = await session.execute(delete(commands).where(commands.c.id.in_(old)))
    return int(result.rowcount)  # type: ignore[attr-defined]
