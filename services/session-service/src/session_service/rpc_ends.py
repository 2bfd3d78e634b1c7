"""RPC methods the gateways ask when they answer a transaction's end apart from its owner,
which is behind a bulk backlog (docs/ARCHITECTURE.md, "Decisions first"): the decision about
the token the end names, judged as the end's own handling will judge it once stored. They
read only, on the RPC lane, which no bulk backlog is in front of."""

from __future__ import annotations

from csms_shared.contracts.rpc import (
    EndedIdToken,
    EndedIdTokenInfo,
    SessionsRpc,
    StopIdTag,
    StopIdTagInfo,
)

from . import tx_event_store as store
from .checks import timestamp_checks
from .end_tokens import stop_tag_decision
from .id_tags import load_id_tag
from .roaming_tokens import Asker
from .router import Ctx, router
from .tx_event_values import later_token_info


@router.rpc(SessionsRpc.stop_id_tag_info, callers={"gateway"})
async def stop_id_tag_info(params: StopIdTag, ctx: Ctx) -> StopIdTagInfo:
    """The idTagInfo a 1.6 StopTransaction's answer carries (`stop_tag_decision`)."""
    tag = await load_id_tag(ctx.session, params.id_tag)
    _, info = stop_tag_decision(
        ctx.settings, params.id_tag, tag, params.timestamp, params.received_at
    )
    assert info is not None  # an idTag was named
    return StopIdTagInfo(id_tag_info=info.to_v16())


@router.rpc(SessionsRpc.ended_id_token_info, callers={"gateway"})
async def ended_id_token_info(params: EndedIdToken, ctx: Ctx) -> EndedIdTokenInfo:
    """The idTokenInfo a 2.0.1 TransactionEvent Ended's answer carries: as the event's own
    handling judges a token that is not its transaction's first decision
    (`later_token_info`)."""
    session, settings = ctx.session, ctx.settings
    cp = params.charge_point_id
    started = await store.started_with(session, cp, params.transaction_id)
    _, at = timestamp_checks(params.timestamp, params.received_at, settings.clock_skew)
    token = (params.id_token, params.type)
    info = await later_token_info(session, settings, cp, started, token, at, asker=Asker.of(ctx))
    return EndedIdTokenInfo(id_token_info=info)
