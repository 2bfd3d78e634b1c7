"""Charge point security: who may connect how (profiles 0-3), keys, security events."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import String, any_, bindparam, func, select, update
from sqlalchemy.dialects.postgresql import ARRAY, insert

from csms_shared.bus.events import event_body
from csms_shared.bus.router import Context
from csms_shared.bus.rpc import RpcError
from csms_shared.ocpp._base import format_datetime, utcnow

from .db import charge_points, security_events
from .queries import charge_point_page
from .router import router
from .settings import Settings, UnknownChargePointPolicy

# Security whitepaper: the Basic password (AuthorizationKey) is 16 to 40 characters.
KEY_MIN, KEY_MAX = 16, 40


def hash_key(key: str, iterations: int) -> str:
    """PBKDF2-SHA256 with a random salt, in `pbkdf2_sha256$<iterations>$<salt>$<hash>` form."""
    salt = secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", key.encode(), salt, iterations)
    b64 = base64.b64encode
    return f"pbkdf2_sha256${iterations}${b64(salt).decode()}${b64(digest).decode()}"


def verify_key(key: str, stored: str) -> bool:
    """True when `key` matches the stored hash (constant-time)."""
    try:
        scheme, iterations, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "pbkdf2_sha256":
        return False
    candidate = hashlib.pbkdf2_hmac("sha256", key.encode(), base64.b64decode(salt), int(iterations))
    return hmac.compare_digest(candidate, base64.b64decode(digest))


async def record_security_event(
    ctx: Context,
    cp_id: str,
    kind: str,
    tech_info: str | None,
    source: str = "csms",
    at: datetime | None = None,
) -> None:
    """Keep a security event and publish it as `security.event`."""
    at = at or utcnow()
    await ctx.session.execute(
        insert(security_events).values(
            charge_point_id=cp_id, type=kind, tech_info=tech_info, source=source, timestamp=at
        )
    )
    await ctx.emit(
        "security.event",
        event_body(
            "security.event",
            at=at,
            chargePointId=cp_id,
            type=kind,
            techInfo=tech_info,
            source=source,
        ),
    )


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
    charge_points.c.registration_status,
).where(charge_points.c.id == any_(bindparam("p_ids", type_=ARRAY(String))))


async def _admit(ctx: Context, handshake: dict[str, Any], row: Any) -> dict[str, Any]:
    """May this handshake open a connection? Checks the CP's security profile."""
    settings: Settings = ctx.settings
    cp_id = str(handshake.get("id", ""))
    password = handshake.get("password")
    tls = bool(handshake.get("tls"))
    client_cn = handshake.get("clientCertCn")
    profile = row.security_profile if row else 0
    status = _effective_status(
        row.registration_status if row else None, settings.unknown_charge_points
    )

    async def refuse(code: int, kind: str, reason: str) -> dict[str, Any]:
        await record_security_event(ctx, cp_id, kind, reason)
        return {"allowed": False, "status": code, "reason": reason, "securityProfile": profile}

    if profile >= 2 and not tls:
        return await refuse(403, "InsecureConnection", f"security profile {profile} needs TLS")
    if profile == 3:
        if client_cn is None:
            return await refuse(401, "MissingClientCertificate", "a client certificate is needed")
        if client_cn != cp_id:
            return await refuse(403, "InvalidClientCertificate", "certificate CN is another CP")
    elif profile in (1, 2):
        if password is None:
            return await refuse(401, "MissingCredentials", "HTTP Basic credentials are needed")
        if row is None or row.auth_key_hash is None or not verify_key(password, row.auth_key_hash):
            return await refuse(401, "InvalidCredentials", "wrong AuthorizationKey")
    return {"allowed": True, "securityProfile": profile, "registrationStatus": status}


# Handshakes one admission asks about, at most (a gateway sends fewer).
MAX_HANDSHAKES = 500


@router.rpc("authorize_connections", callers={"gateway"})
async def authorize_connections(params: dict[str, Any], ctx: Context) -> dict[str, Any]:
    """The handshakes a gateway holds open at once (a reconnect storm): one read for all of
    them, a decision each, in order (`decisions`)."""
    handshakes = params.get("handshakes")
    if not isinstance(handshakes, list) or not all(isinstance(h, dict) for h in handshakes):
        raise RpcError("invalid", "handshakes is a list of objects")
    if len(handshakes) > MAX_HANDSHAKES:
        raise RpcError("invalid", f"at most {MAX_HANDSHAKES} handshakes at once")
    ids = sorted({str(h.get("id", "")) for h in handshakes})
    rows = {row.id: row for row in await ctx.session.execute(_HANDSHAKES_READ, {"p_ids": ids})}
    return {"decisions": [await _admit(ctx, h, rows.get(str(h.get("id", "")))) for h in handshakes]}


@router.rpc("authorize_connection", callers={"gateway"})
async def authorize_connection(params: dict[str, Any], ctx: Context) -> dict[str, Any]:
    """One handshake (`authorize_connections` of one; gateways of the previous version)."""
    result = await authorize_connections({"handshakes": [params]}, ctx)
    decision: dict[str, Any] = result["decisions"][0]
    return decision


@router.rpc("update_charge_point_settings", callers={"command-api"})
async def update_charge_point_settings(params: dict[str, Any], ctx: Context) -> dict[str, Any]:
    """An admin registers a CP or sets its security profile and AuthorizationKey."""
    settings: Settings = ctx.settings
    cp_id = str(params.get("id", ""))
    profile = params.get("securityProfile")
    key = params.get("authorizationKey")
    if profile is not None and (type(profile) is not int or not 0 <= profile <= 3):
        raise RpcError("invalid", "securityProfile is 0, 1, 2 or 3")
    if key is not None and (not isinstance(key, str) or not KEY_MIN <= len(key) <= KEY_MAX):
        raise RpcError("invalid", f"authorizationKey is {KEY_MIN} to {KEY_MAX} characters")
    await ctx.session.execute(
        insert(charge_points)
        .values(id=cp_id, registration_status="Accepted")
        .on_conflict_do_nothing()
    )
    row = (
        await ctx.session.execute(
            select(charge_points).where(charge_points.c.id == cp_id).with_for_update()
        )
    ).one()
    values: dict[str, Any] = {}
    if row.registration_status in (None, "Pending"):
        # Registering a CP is approving it.
        values["registration_status"] = "Accepted"
    if key is not None:
        values["auth_key_hash"] = hash_key(key, settings.auth_hash_iterations)
        values["auth_key_updated_at"] = func.now()
    new_profile = row.security_profile if profile is None else profile
    if new_profile in (1, 2) and key is None and row.auth_key_hash is None:
        raise RpcError("invalid", f"security profile {new_profile} needs an authorizationKey")
    if profile is not None:
        values["security_profile"] = profile
    if values:
        await ctx.session.execute(
            update(charge_points).where(charge_points.c.id == cp_id).values(**values)
        )
    # Gateways drop cached handshake decisions for this CP (never the key itself).
    await ctx.emit(
        "station.credentials_changed",
        event_body("station.credentials_changed", chargePointId=cp_id, securityProfile=new_profile),
    )
    return {
        "id": cp_id,
        "securityProfile": new_profile,
        "registrationStatus": values.get("registration_status", row.registration_status),
        "authorizationKeySet": key is not None or row.auth_key_hash is not None,
    }


@router.rpc("approve_charge_point", callers={"command-api"})
async def approve_charge_point(params: dict[str, Any], ctx: Context) -> dict[str, Any]:
    """An admin accepts a Pending (or Rejected) CP; its next BootNotification is Accepted."""
    cp_id = str(params.get("id", ""))
    result = await ctx.session.execute(
        update(charge_points)
        .where(charge_points.c.id == cp_id)
        .values(registration_status="Accepted")
        .returning(charge_points.c.online)
    )
    row = result.first()
    if row is None:
        raise RpcError("not_found", f"charge point {cp_id!r} was never seen")
    return {"id": cp_id, "registrationStatus": "Accepted", "online": row.online}


@router.rpc("security_events", callers={"command-api"})
async def list_security_events(params: dict[str, Any], ctx: Context) -> dict[str, Any]:
    """A CP's security events, newest first."""
    e = security_events.c
    return await charge_point_page(
        ctx.session,
        security_events,
        params,
        [e.timestamp.desc(), e.id.desc()],
        lambda r: {
            "type": r.type,
            "timestamp": format_datetime(r.timestamp),
            "source": r.source,
            **({"techInfo": r.tech_info} if r.tech_info else {}),
        },
    )
