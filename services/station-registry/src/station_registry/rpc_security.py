"""Charge point security: who may connect how (profiles 0-3), security events."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, TypeVar

from sqlalchemy import String, any_, bindparam, func, select, update
from sqlalchemy.dialects.postgresql import ARRAY

from csms_shared.bus.rpc import RpcError
from csms_shared.contracts import resources as res
from csms_shared.contracts.resources import Approval, NetworkSecurityEvent, Page
from csms_shared.contracts.rpc import (
    AdmissionDecision,
    AdmissionDecisions,
    AuthorizeConnections,
    ChargePointIds,
    Handshake,
    KnownChargePoints,
    OfChargePoint,
    Paged,
    PageOfChargePoint,
    RegistryRpc,
)
from csms_shared.ocpp._base import utcnow

from .credentials import Check, checker, hash_key, needs_rehash
from .db import charge_points, security_events
from .router import Ctx, router
from .security_log import credentials_changed, record_refusal
from .settings import Settings, UnknownChargePointPolicy
from .store import charge_point_page

log = logging.getLogger(__name__)


def _effective_status(stored: str | None, policy: UnknownChargePointPolicy) -> str:
    if stored is not None:
        return stored
    return {
        UnknownChargePointPolicy.ACCEPT: "Accepted",
        UnknownChargePointPolicy.PENDING: "Pending",
        UnknownChargePointPolicy.REJECT: "Rejected",
    }[policy]


# Every handshake reads this: built once, for a whole group of handshakes.
_HANDSHAKES_READ = select(
    charge_points.c.id,
    charge_points.c.security_profile,
    charge_points.c.auth_key_hash,
    charge_points.c.auth_key_pending_hash,
    charge_points.c.registration_status,
    charge_points.c.decommissioned_at,
).where(charge_points.c.id == any_(bindparam("p_ids", type_=ARRAY(String))))

KeyCheck = tuple[Check, str | None] | None


def effective_profile(row: Any, settings: Settings) -> int:
    """The profile a CP must connect with: its own, raised to the suite-wide minimum."""
    return max(row.security_profile if row else 0, settings.min_security_profile)


async def _check_key(handshake: Handshake, row: Any, settings: Settings) -> KeyCheck:
    """The key check a handshake needs (profiles 1 and 2 with a password), else None."""
    password = handshake.password
    if row is None or password is None or effective_profile(row, settings) not in (1, 2):
        return None
    stored = [h for h in (row.auth_key_hash, row.auth_key_pending_hash) if h]
    if not stored:
        return None
    return await checker(settings).check(row.id, password, stored)


async def _admit(ctx: Ctx, handshake: Handshake, row: Any, check: KeyCheck) -> AdmissionDecision:
    """May this handshake open a connection? Checks the CP's security profile."""
    settings = ctx.settings
    cp_id = handshake.id
    password = handshake.password
    tls = handshake.tls
    client_cn = handshake.client_cert_cn
    profile = effective_profile(row, settings)
    status = _effective_status(
        row.registration_status if row else None, settings.unknown_charge_points
    )

    async def refuse(code: int, kind: str, reason: str) -> AdmissionDecision:
        # An id nobody registered gets no row, not even a security event (an attacker could
        # fill the table with made-up ids); the gateway's metrics still count it.
        if row is not None:
            await record_refusal(ctx, cp_id, kind, reason, handshake.address)
        return AdmissionDecision(
            allowed=False,
            status=code,
            reason=reason,
            security_profile=profile,
            known=row is not None,
        )

    if row is None and settings.unknown_charge_points is UnknownChargePointPolicy.REJECT:
        return await refuse(404, "UnknownChargePoint", "unknown charge point id")
    if row is not None and row.decommissioned_at is not None:
        # Not recorded as a security event: a forgotten CP would retry for ever.
        return AdmissionDecision(
            allowed=False,
            status=404,
            reason="the charge point is decommissioned",
            security_profile=profile,
            known=True,
        )
    if profile >= 2 and not tls:
        return await refuse(403, "InsecureConnection", f"security profile {profile} needs TLS")
    authenticated = False
    if profile == 3:
        if client_cn is None:
            return await refuse(401, "MissingClientCertificate", "a client certificate is needed")
        if client_cn != cp_id:
            return await refuse(403, "InvalidClientCertificate", "certificate CN is another CP")
        authenticated = True
    elif profile in (1, 2):
        if password is None:
            return await refuse(401, "MissingCredentials", "HTTP Basic credentials are needed")
        if check is None:
            return await refuse(401, "InvalidCredentials", "no AuthorizationKey is set")
        outcome, matched = check
        if outcome is Check.THROTTLED:
            # Not recorded one by one: that would hand a guesser a cheap way to write rows.
            return AdmissionDecision(
                allowed=False,
                status=429,
                reason="too many failed attempts for this charge point; retry later",
                security_profile=profile,
                known=True,
            )
        if outcome is Check.WRONG:
            return await refuse(401, "InvalidCredentials", "wrong AuthorizationKey")
        await _key_proven(ctx, row, str(password), matched)
        authenticated = True
    return AdmissionDecision(
        allowed=True,
        security_profile=profile,
        registration_status=status,
        authenticated=authenticated,
        known=row is not None,
    )


async def _key_proven(ctx: Ctx, row: Any, password: str, matched: str | None) -> None:
    """A CP that connects with its staged key has it: the staged key becomes its key. A hash
    weaker than the settings ask for is replaced now that the key is known."""
    settings = ctx.settings
    c = charge_points.c
    if matched is not None and matched == row.auth_key_pending_hash:
        await ctx.session.execute(
            update(charge_points)
            .where(c.id == row.id, c.auth_key_pending_hash == matched)
            .values(auth_key_hash=matched, auth_key_pending_hash=None, auth_key_updated_at=utcnow())
        )
        # Gateways may still hold a yes for the old key: they forget it.
        await credentials_changed(ctx, row.id, row.security_profile, disconnect=False)
        log.info("%s connected with its new AuthorizationKey; the old one no longer works", row.id)
    elif matched is not None and needs_rehash(matched, settings):
        stronger = await asyncio.to_thread(hash_key, password, settings)
        await ctx.session.execute(
            update(charge_points)
            .where(c.id == row.id, c.auth_key_hash == matched)
            .values(auth_key_hash=stronger)
        )


@router.rpc(RegistryRpc.authorize_connections, callers={"gateway"})
async def authorize_connections(params: AuthorizeConnections, ctx: Ctx) -> AdmissionDecisions:
    """The handshakes a gateway holds open at once (a reconnect storm): one read for all of
    them, a decision each, in order (`decisions`)."""
    handshakes = params.handshakes
    ids = sorted({h.id for h in handshakes})
    rows = {row.id: row for row in await ctx.session.execute(_HANDSHAKES_READ, {"p_ids": ids})}
    found = [rows.get(h.id) for h in handshakes]
    # The slow key checks run in threads, side by side; the decisions then one by one (they
    # share this message's DB session).
    checks = await asyncio.gather(
        *(_check_key(h, r, ctx.settings) for h, r in zip(handshakes, found, strict=True))
    )
    return AdmissionDecisions(
        decisions=[
            await _admit(ctx, h, r, c) for h, r, c in zip(handshakes, found, checks, strict=True)
        ]
    )


@router.rpc(RegistryRpc.known_charge_points, callers={"gateway"})
async def known_charge_points(params: ChargePointIds, ctx: Ctx) -> KnownChargePoints:
    """Which of these ids are charge points we know: a gateway records the refused handshakes
    of those in their message log, never of made-up ids."""
    c = charge_points.c
    rows = await ctx.session.execute(select(c.id).where(c.id.in_(sorted(set(params.ids)))))
    return KnownChargePoints(known=sorted(row.id for row in rows))


@router.rpc(RegistryRpc.approve_charge_point, callers={"command-api"})
async def approve_charge_point(params: OfChargePoint, ctx: Ctx) -> Approval:
    """An admin accepts a Pending (or Rejected) CP; its next BootNotification is Accepted."""
    cp_id = params.id
    result = await ctx.session.execute(
        update(charge_points)
        .where(charge_points.c.id == cp_id)
        .values(registration_status="Accepted")
        .returning(charge_points.c.online)
    )
    row = result.first()
    if row is None:
        raise RpcError("not_found", f"charge point {cp_id!r} was never seen")
    return Approval(id=cp_id, registration_status="Accepted", online=row.online)


@router.rpc(RegistryRpc.security_events, callers={"command-api"})
async def list_security_events(params: PageOfChargePoint, ctx: Ctx) -> Page[res.SecurityEvent]:
    """A CP's security events, newest first."""
    e = security_events.c
    return await charge_point_page(
        ctx.session,
        security_events,
        params,
        [e.timestamp.desc(), e.id.desc()],
        lambda row: _security_event(row, res.SecurityEvent),
        Page[res.SecurityEvent],
    )


@router.rpc(RegistryRpc.recent_security_events, callers={"command-api"})
async def recent_security_events(params: Paged, ctx: Ctx) -> Page[NetworkSecurityEvent]:
    """The network's security events, newest first (the overview's "needs attention")."""
    e = security_events.c
    total = await ctx.session.scalar(select(func.count()).select_from(security_events))
    rows = await ctx.session.execute(
        select(security_events)
        .order_by(e.timestamp.desc(), e.id.desc())
        .limit(params.limit)
        .offset(params.offset)
    )
    return Page[NetworkSecurityEvent](
        items=[
            _security_event(r, NetworkSecurityEvent, charge_point_id=r.charge_point_id)
            for r in rows
        ],
        total=int(total or 0),
        limit=params.limit,
        offset=params.offset,
    )


E = TypeVar("E", bound=res.SecurityEvent)


def _security_event(r: Any, model: type[E], **extra: str) -> E:
    """A security event row as `model` (one CP's, or the network's with its CP id)."""
    return model(
        type=r.type,
        timestamp=r.timestamp,
        source=r.source,
        count=r.count,
        tech_info=r.tech_info or None,
        address=r.address or None,
        **extra,
    )
