"""Events the session-service follows from the roaming service: the tokens eMSPs pushed."""

from __future__ import annotations

from csms_shared.contracts.roaming_events import RoamingTokenChanged

from . import roaming_tokens
from .router import Ctx, router


@router.event("roaming.token_changed")
async def roaming_token_changed(event: RoamingTokenChanged, ctx: Ctx) -> None:
    """Keep the token: the decision asks it for an id token the list does not hold."""
    await roaming_tokens.follow(ctx.session, event)
