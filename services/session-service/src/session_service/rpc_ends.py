"""RPC methods the gateways ask when they answer a transaction's end apart from its owner,
which is behind a bulk backlog (docs/ARCHITECTURE.md, "Decisions first"): the decision about
the token the end names, judged as the end's own handling will judge it once stored. They
read only, on the RPC lane, which no bulk backlog is in front of."""

from __future__ import annotations

from datetime import datetime

from csms_shared.contracts.rpc import (
    EndedIdToken,
    EndedIdTokenInfo,
    SessionsRpc,
    StopIdTag,
    StopIdTagInfo,
)
from csms_shared.ocpp.v201.datatypes import IdTokenInfo

from . import id_tokens
from . import tx_event_store as store
from .auth import same_id_tag
from .checks import timestamp_checks
from .end_tokens import stop_tag_decision
from .id_tags import load_id_tag
from .roaming_tokens import Asker
from .router import Ctx, router
from .tx_event_store import StartedWith
from .tx_event_values import FirstToken, first_token_decision, later_token_info


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
    """The idTokenInfo a 2.0.1 TransactionEvent Ended's answer carries, as the event's own
    handling will judge its idToken: the transaction's first token (its transaction not
    stored yet, or stored without a judged token) as a start on its EVSE
    (`first_token_decision`, read only: nothing is consumed or locked), any other as
    `later_token_info` judges it."""
    session, settings = ctx.session, ctx.settings
    cp, token = params.charge_point_id, (params.id_token, params.type)
    started = await store.started_with(session, cp, params.transaction_id)
    _, at = timestamp_checks(params.timestamp, params.received_at, settings.clock_skew)
    asker = Asker.of(ctx)
    if started is None or started.status is None:
        first_token = started is None or same_id_tag(started.id_tag or token[0], token[0])
        if first_token:
            return EndedIdTokenInfo(id_token_info=await _as_first(params, started, ctx, at))
    known = (started.id_tag, started.status) if started is not None else (None, None)
    info = await later_token_info(session, settings, cp, known, token, at, asker=asker)
    return EndedIdTokenInfo(id_token_info=info)


async def _as_first(
    params: EndedIdToken, started: StartedWith | None, ctx: Ctx, at: datetime
) -> IdTokenInfo:
    """The Ended's idToken judged as its transaction's first, as its own handling will: on
    the EVSE the transaction has (or the Ended names), with the reservation either names."""
    connector = (started.connector_id if started else 0) or params.evse_id or 0
    reserved = params.reservation_id or (started.reservation_id if started else None)
    first = FirstToken(connector, params.id_token, params.type, reserved)
    judged, tag, _ = await first_token_decision(
        ctx.session,
        ctx.settings,
        params.charge_point_id,
        first,
        at,
        [],
        asker=Asker.of(ctx),
        lock=False,
    )
    return id_tokens.token_info(judged, tag) if judged is not None else id_tokens.accepted()
