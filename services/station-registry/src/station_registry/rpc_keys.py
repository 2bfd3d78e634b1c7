"""An admin's changes to a CP's credentials: profile, AuthorizationKey (set, staged, revoked)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, func, select, update
from sqlalchemy.dialects.postgresql import insert

from csms_shared.bus.rpc import RpcError
from csms_shared.contracts.resources import ChargePointSecurity
from csms_shared.contracts.rpc import (
    KeyCommitted,
    KeyDiscarded,
    KeyStaged,
    OfChargePoint,
    RegistryRpc,
    StageAuthorizationKey,
    UpdateChargePointSettings,
)

from .credentials import hash_key
from .db import charge_points
from .router import Ctx, router
from .security_log import credentials_changed


async def _locked(ctx: Ctx, cp_id: str) -> Row[Any]:
    row = (
        await ctx.session.execute(
            select(charge_points).where(charge_points.c.id == cp_id).with_for_update()
        )
    ).first()
    if row is None:
        raise RpcError("not_found", f"charge point {cp_id!r} was never seen")
    return row


@router.rpc(RegistryRpc.update_charge_point_settings, callers={"command-api"})
async def update_charge_point_settings(
    params: UpdateChargePointSettings, ctx: Ctx
) -> ChargePointSecurity:
    """An admin registers a CP or sets its security profile and AuthorizationKey."""
    settings = ctx.settings
    cp_id = params.id
    profile = params.security_profile
    key = params.authorization_key
    created = (
        await ctx.session.execute(
            insert(charge_points)
            .values(id=cp_id, registration_status="Accepted")
            .on_conflict_do_nothing()
            .returning(charge_points.c.id)
        )
    ).first() is not None
    row = await _locked(ctx, cp_id)
    values: dict[str, str | int | ColumnElement[datetime] | None] = {}
    if row.registration_status in (None, "Pending"):
        # Registering a CP is approving it.
        values["registration_status"] = "Accepted"
    if row.decommissioned_at is not None:
        # Registering a decommissioned CP puts it back in service.
        values["decommissioned_at"] = None
        values["registration_status"] = "Accepted"
    if key is not None:
        values["auth_key_hash"] = await asyncio.to_thread(hash_key, key, settings)
        values["auth_key_pending_hash"] = None
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
    # A raised profile or a replaced key: connections made with the old ones are closed (a CP
    # registered just now has none).
    raised = new_profile > row.security_profile
    replaced = key is not None and row.auth_key_hash is not None
    await credentials_changed(
        ctx, cp_id, new_profile, disconnect=not created and (raised or replaced)
    )
    return ChargePointSecurity(
        id=cp_id,
        security_profile=new_profile,
        registration_status=values.get("registration_status", row.registration_status),
        authorization_key_set=key is not None or row.auth_key_hash is not None,
    )


@router.rpc(RegistryRpc.revoke_authorization_key, callers={"command-api"})
async def revoke_authorization_key(params: OfChargePoint, ctx: Ctx) -> ChargePointSecurity:
    """An admin withdraws a CP's key: at profile 1 or 2 it can no longer connect, and its live
    connections are closed."""
    cp_id = params.id
    row = await _locked(ctx, cp_id)
    await ctx.session.execute(
        update(charge_points)
        .where(charge_points.c.id == cp_id)
        .values(auth_key_hash=None, auth_key_pending_hash=None, auth_key_updated_at=func.now())
    )
    await credentials_changed(ctx, cp_id, row.security_profile, disconnect=True)
    return ChargePointSecurity(
        id=cp_id, security_profile=row.security_profile, authorization_key_set=False
    )


@router.rpc(RegistryRpc.stage_authorization_key, callers={"command-api"})
async def stage_authorization_key(params: StageAuthorizationKey, ctx: Ctx) -> KeyStaged:
    """A new key about to be sent to the CP: accepted beside the current one until the CP
    confirms it (`commit_authorization_key`) or refuses it (`discard_authorization_key`)."""
    settings = ctx.settings
    cp_id = params.id
    key = params.authorization_key
    await _locked(ctx, cp_id)
    staged = await asyncio.to_thread(hash_key, key, settings)
    await ctx.session.execute(
        update(charge_points)
        .where(charge_points.c.id == cp_id)
        .values(auth_key_pending_hash=staged)
    )
    return KeyStaged(id=cp_id, staged=True)


@router.rpc(RegistryRpc.commit_authorization_key, callers={"command-api"})
async def commit_authorization_key(params: OfChargePoint, ctx: Ctx) -> KeyCommitted:
    """The CP accepted its new key: from now on only that one works; its connections made with
    the old one are closed."""
    cp_id = params.id
    row = await _locked(ctx, cp_id)
    if row.auth_key_pending_hash is not None:
        await ctx.session.execute(
            update(charge_points)
            .where(charge_points.c.id == cp_id)
            .values(
                auth_key_hash=row.auth_key_pending_hash,
                auth_key_pending_hash=None,
                auth_key_updated_at=func.now(),
            )
        )
    # Without a staged key the CP has already connected with the new one (it became its key).
    await credentials_changed(ctx, cp_id, row.security_profile, disconnect=True)
    return KeyCommitted(id=cp_id, committed=True)


@router.rpc(RegistryRpc.discard_authorization_key, callers={"command-api"})
async def discard_authorization_key(params: OfChargePoint, ctx: Ctx) -> KeyDiscarded:
    """The CP refused its new key: the current one stays the only one."""
    cp_id = params.id
    await _locked(ctx, cp_id)
    await ctx.session.execute(
        update(charge_points).where(charge_points.c.id == cp_id).values(auth_key_pending_hash=None)
    )
    return KeyDiscarded(id=cp_id, discarded=True)
