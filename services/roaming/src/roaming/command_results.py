"""The CommandResult of an eMSP's command: what command-api's `command.completed` says, stored
once and POSTed to the command's `response_url` through the push outbox."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from csms_shared.contracts.session_events import CommandCompleted

from .command_store import REQUEST_PREFIX
from .db import commands
from .ocpi.commands import CommandResult, CommandResultType, CommandType
from .ocpi.types import DisplayText
from .ocpi.versions import ModuleId
from .platforms import now
from .push_queue import Push, enqueue


def _message(event: CommandCompleted) -> list[DisplayText]:
    said = event.reason or event.error_code or (event.response or {}).get("status")
    if not said:
        return []
    return [DisplayText(language="en", text=f"{event.status}: {said}"[:512])]


async def answer(session: AsyncSession, event: CommandCompleted) -> bool:
    """Store the command's result and POST it to the eMSP; False for a command not ours or
    answered already (a redelivery)."""
    assert event.request_id is not None
    command_id = event.request_id.removeprefix(REQUEST_PREFIX)
    row = (
        await session.execute(select(commands).where(commands.c.id == command_id).with_for_update())
    ).first()
    if row is None or row.result is not None:
        return False
    result = CommandResult(
        result=result_of(CommandType(row.command), event), message=_message(event)
    )
    await session.execute(
        update(commands)
        .where(commands.c.id == command_id)
        .values(result=result.result.value, answered_at=now())
    )
    await enqueue(
        session,
        Push(
            module=ModuleId.COMMANDS,
            object_key=f"command:{command_id}",
            method="POST",
            path=row.response_url,
            body=result.wire(),
            to=(row.country_code, row.party_id),
        ),
        [row.platform_id],
    )
    return True


# A station's answer status -> the CommandResult (CancelReservation's has its own words).
_ANSWERS = {
    "Accepted": CommandResultType.ACCEPTED,
    "Rejected": CommandResultType.REJECTED,
    "Unlocked": CommandResultType.ACCEPTED,
    "UnlockFailed": CommandResultType.FAILED,
    "OngoingAuthorizedTransaction": CommandResultType.REJECTED,
    "UnknownConnector": CommandResultType.REJECTED,
    "NotSupported": CommandResultType.NOT_SUPPORTED,
    "Occupied": CommandResultType.EVSE_OCCUPIED,
    "Faulted": CommandResultType.EVSE_INOPERATIVE,
    "Unavailable": CommandResultType.EVSE_INOPERATIVE,
}


def result_of(command: CommandType, event: CommandCompleted) -> CommandResultType:
    """What command-api's outcome means to the eMSP."""
    if event.status == "result":
        answer = str((event.response or {}).get("status", ""))
        if command is CommandType.CANCEL_RESERVATION:
            if answer == "Accepted":
                return CommandResultType.CANCELED_RESERVATION
            return CommandResultType.UNKNOWN_RESERVATION
        return _ANSWERS.get(answer, CommandResultType.FAILED)
    if event.status in ("timeout", "lost"):
        return CommandResultType.TIMEOUT
    if event.error_code in ("NotImplemented", "NotSupported"):
        return CommandResultType.NOT_SUPPORTED
    return CommandResultType.FAILED
