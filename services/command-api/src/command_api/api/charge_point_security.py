"""An admin's say over a charge point's credentials and admission: its security profile and
AuthorizationKey (set, rotated as OCPP intends, revoked) and its approval, through
station-registry over RPC."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Body, HTTPException, Path, Query, status
from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic.alias_generators import to_camel

from csms_shared.contracts.rpc import (
    OfChargePoint,
    RegistryRpc,
    StageAuthorizationKey,
    UpdateChargePointSettings,
)
from csms_shared.ocpp import v201
from csms_shared.ocpp._base import OcppModel
from csms_shared.ocpp.framing import find_nul
from csms_shared.ocpp.identity import CHARGE_POINT_ID_PATTERN
from csms_shared.ocpp.v16.enums import MessageTrigger
from csms_shared.ocpp.v16.messages import (
    ChangeConfigurationRequest,
    ChangeConfigurationResponse,
    TriggerMessageRequest,
)
from csms_shared.ocpp.version import OcppVersion

from .. import problems
from ..models import Approval, ChargePointSecurity, KeyRotationResult
from ..problems import TYPES, ProblemError
from ..versions import station_version
from .command_sending import CommandFailed, Station, send_command
from .deps import Admin, Session, State, api_router, call

router = api_router(404, 503, tags=["charge points"])

CpId = Annotated[str, Path(alias="id", pattern=CHARGE_POINT_ID_PATTERN)]


class ChargePointSettings(BaseModel):
    """What an admin sets for a CP: its security profile and its AuthorizationKey (write-only)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, alias_generator=to_camel)

    security_profile: int | None = Field(default=None, ge=0, le=3)
    authorization_key: SecretStr | None = Field(
        default=None,
        min_length=16,
        max_length=40,
        description="The CP's HTTP Basic password (profiles 1 and 2); never echoed",
    )


@router.put("/charge-points/{id}", response_model=ChargePointSecurity)
async def register_charge_point(
    state: State, principal: Admin, cp_id: CpId, body: ChargePointSettings
) -> ChargePointSecurity:
    """Register a CP or change its security settings (registering a CP accepts it)."""
    key = body.authorization_key.get_secret_value() if body.authorization_key else None
    if key is not None and find_nul(key):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "authorizationKey has U+0000")
    settings = UpdateChargePointSettings(
        id=cp_id, security_profile=body.security_profile, authorization_key=key
    )
    return await call(state, RegistryRpc.update_charge_point_settings, settings)


class KeyRotation(BaseModel):
    """A new AuthorizationKey for a CP: given, or generated (160 random bits, hex)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, alias_generator=to_camel)

    authorization_key: SecretStr | None = Field(
        default=None,
        min_length=16,
        max_length=40,
        description="The new key; left out, the central system generates one. Never echoed",
    )


def key_change(version: OcppVersion | None, key: str) -> tuple[str, OcppModel]:
    """The command that hands a CP its new key in its version (1.6 when not known yet)."""
    if version is OcppVersion.V201:
        setting = v201.SetVariableData(
            attribute_value=key,
            component=v201.Component(name="SecurityCtrlr"),
            variable=v201.Variable(name="BasicAuthPassword"),
        )
        return "SetVariables", v201.SetVariablesRequest(set_variable_data=[setting])
    return "ChangeConfiguration", ChangeConfigurationRequest(key="AuthorizationKey", value=key)


def key_answer(answer: OcppModel | None) -> str | None:
    """The CP's answer to `key_change`: 1.6's status, or 2.0.1's attributeStatus of the one
    variable set (Accepted, RebootRequired, Rejected, UnknownVariable, ...); None when there is
    none to read."""
    if isinstance(answer, v201.SetVariablesResponse):
        return answer.set_variable_result[0].attribute_status.value
    if isinstance(answer, ChangeConfigurationResponse):
        return answer.status.value
    return None


@router.post(
    "/charge-points/{id}/authorization-key",
    response_model=KeyRotationResult,
    responses=problems.responses(409, 502, 504),
)
async def rotate_authorization_key(
    state: State,
    session: Session,
    principal: Admin,
    cp_id: CpId,
    body: Annotated[KeyRotation | None, Body()] = None,
    timeout: Annotated[float | None, Query(gt=0, description="Seconds to wait for the CP")] = None,
) -> KeyRotationResult:
    """Rotate the CP's AuthorizationKey as OCPP intends: send it (1.6: ChangeConfiguration
    AuthorizationKey; 2.0.1: SetVariables SecurityCtrlr.BasicAuthPassword) and store it once
    the CP accepts; the old key keeps working until then."""
    given = body.authorization_key if body is not None else None
    key = given.get_secret_value() if given is not None else secrets.token_hex(20)
    if find_nul(key) or not key.isprintable():
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "authorizationKey: printable")
    # Staged first: a CP that applies the key and reconnects at once is let in with it.
    staging = StageAuthorizationKey(id=cp_id, authorization_key=key)
    await call(state, RegistryRpc.stage_authorization_key, staging)
    staged = (
        "The new key is staged: the old and the new key both work until the charge point "
        "connects with the new one"
    )
    action, request = key_change(await station_version(state, cp_id), key)
    try:
        sent = await send_command(
            state, session, principal, cp_id, action, request, timeout=timeout, wait=True
        )
    except CommandFailed as failed:
        if failed.outcome == "timeout":
            # The CP may use the new key from its next start, or did not say: both keys work,
            # and its first connection with the new one makes that the only one.
            raise CommandFailed(failed.command_id, "timeout", staged, keyStored=False) from None
        await call(state, RegistryRpc.discard_authorization_key, OfChargePoint(id=cp_id))
        raise CommandFailed(
            failed.command_id,
            failed.outcome,
            f"{failed.detail}; the key was not delivered and the old key stays",
            keyStored=False,
            **{k: v for k, v in failed.extensions.items() if k not in ("commandId", "outcome")},
        ) from None
    answer = key_answer(sent.answer())
    if answer == "Accepted":
        await call(state, RegistryRpc.commit_authorization_key, OfChargePoint(id=cp_id))
        return KeyRotationResult(command_id=sent.command_id, status=answer, key_stored=True)
    if answer == "RebootRequired":
        return KeyRotationResult(
            command_id=sent.command_id, status=answer, key_stored=False, detail=staged
        )
    await call(state, RegistryRpc.discard_authorization_key, OfChargePoint(id=cp_id))
    raise ProblemError(
        status.HTTP_409_CONFLICT,
        f"The charge point answered {answer}; its old key stays",
        type=TYPES + "key-refused",
        title="The charge point refused its new AuthorizationKey",
        commandId=sent.command_id,
        answer=answer,
        keyStored=False,
    )


@router.delete("/charge-points/{id}/authorization-key", response_model=ChargePointSecurity)
async def revoke_authorization_key(
    state: State, principal: Admin, cp_id: CpId
) -> ChargePointSecurity:
    """Withdraw the CP's key: at profile 1 or 2 it cannot connect until it gets a new one, and
    its live connections are closed."""
    return await call(state, RegistryRpc.revoke_authorization_key, OfChargePoint(id=cp_id))


@router.post("/charge-points/{id}/approve", response_model=Approval)
async def approve_charge_point(
    state: State, session: Session, principal: Admin, cp_id: CpId
) -> Approval:
    """Accept a Pending CP; if it is connected it is asked to boot again (TriggerMessage)."""
    result = await call(state, RegistryRpc.approve_charge_point, OfChargePoint(id=cp_id))
    if result.online:
        # TriggerMessage of BootNotification, spelt in the station's version.
        known = await station_version(state, cp_id)
        request = (
            v201.TriggerMessageRequest(requested_message=v201.MessageTriggerEnum.BOOT_NOTIFICATION)
            if known is OcppVersion.V201
            else TriggerMessageRequest(requested_message=MessageTrigger.BOOT_NOTIFICATION)
        )
        try:
            trigger = await send_command(
                state,
                session,
                principal,
                cp_id,
                "TriggerMessage",
                request,
                timeout=None,
                wait=False,
                station=Station(known),
            )
        except CommandFailed as failed:
            # The approval stands; the CP that just went away is Accepted at its next boot.
            result.trigger_command_id = failed.command_id
        else:
            result.trigger_command_id = trigger.command_id
    return result
