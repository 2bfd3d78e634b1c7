"""Events the roaming service follows from command-api: the outcome of each command an eMSP
sent, POSTed to the eMSP as its CommandResult."""

from __future__ import annotations

from csms_shared.contracts.session_events import CommandCompleted

from . import command_results
from .command_payloads import ACTIONS
from .command_store import REQUEST_PREFIX
from .router import Ctx, router


# The outcomes of the actions it sends alone reach the queue (bus/stations.py).
@router.event("command.completed", actions=ACTIONS)
async def command_completed(event: CommandCompleted, ctx: Ctx) -> None:
    if event.request_id and event.request_id.startswith(REQUEST_PREFIX):
        await command_results.answer(ctx.session, event)
