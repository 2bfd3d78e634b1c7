"""Charging profiles as data (load-manager): stored per station, checked against OCPP's rules for
the version the station speaks, sent to it through the command path and answered on their row;
and a connector's composite schedule as the station answers it, beside the one the CSMS computes
from the stored profiles. Viewers read; operators store, delete and ask the station."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import HTTPException, Path, Query, status
from pydantic import ValidationError

from csms_shared.charging import (
    ActiveTransaction,
    ChargingProfile,
    CompositeSchedule,
    ProfileProblem,
    RateUnit,
    composite_from_v16,
    composite_from_v201,
    to_v16_request,
    to_v201_request,
    validate,
)
from csms_shared.contracts.resources import Page
from csms_shared.contracts.resources_profiles import (
    CompositeSchedules,
    StationCompositeError,
    StoredChargingProfile,
)
from csms_shared.contracts.rpc import ListTransactions, SessionsRpc
from csms_shared.contracts.rpc_base import BIGINT, REGISTRY
from csms_shared.contracts.rpc_profiles import (
    MAX_COMPOSITE_DURATION,
    ComputeComposite,
    ListStationProfiles,
    OfStationProfile,
    ProfilesRpc,
    StoreProfile,
)
from csms_shared.ocpp import INT32_MAX, v16, v201
from csms_shared.ocpp._base import JsonObject, OcppModel, utcnow
from csms_shared.ocpp.identity import CHARGE_POINT_ID_PATTERN
from csms_shared.ocpp.version import OcppVersion

from .. import problems
from ..problems import TYPES, ProblemError
from ..versions import read_station_version
from .command_sending import CommandFailed, Station, send_command
from .deps import (
    MAX_OFFSET,
    AppState,
    Operator,
    Session,
    State,
    Viewer,
    api_router,
    call,
    rpc_errors,
)

router = api_router(404, 503, tags=["charging profiles"])

CpId = Annotated[str, Path(alias="id", pattern=CHARGE_POINT_ID_PATTERN)]
ProfileId = Annotated[int, Path(alias="profileId", ge=1, le=BIGINT)]
Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET)]
_INDEX = re.compile(r"\[(\d+)\]")


class InvalidChargingProfile(ProblemError):
    """422: the profile breaks OCPP's rules for the version the station speaks; `errors` names
    each field (as the body spells it), the rule and what is wrong."""

    def __init__(self, cp_id: str, version: OcppVersion, found: list[ProfileProblem]) -> None:
        super().__init__(
            422,
            f"The profile breaks OCPP {version}'s rules, which charge point {cp_id!r} speaks: "
            + "; ".join(f"{p.field or 'body'}: {p.message} ({p.rule})" for p in found),
            type=TYPES + "invalid-charging-profile",
            title="The charging profile breaks OCPP's rules for the charge point's version",
            ocppVersion=version.value,
            errors=[
                {
                    "type": "charging_profile_rule",
                    "loc": ["body", *_path(p.field)],
                    "msg": p.message,
                    "field": p.field,
                    "rule": p.rule,
                }
                for p in found
            ],
        )


def _path(field: str) -> list[str | int]:
    """`schedules[0].periods[1].limit` as a 422's `loc`: ["schedules", 0, "periods", 1, ...]."""
    path: list[str | int] = []
    for part in field.split(".") if field else []:
        name, *indices = _INDEX.split(part)
        path += [name] if name else []
        path += [int(index) for index in indices if index]
    return path


async def station_version(state: AppState, cp_id: str) -> OcppVersion:
    """The version the station's connection speaks: 404 for a CP the registry does not know,
    409 for one that never connected (its version is not known yet)."""
    with rpc_errors(REGISTRY):
        found = await read_station_version(state, cp_id)
    if not found.known:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"charge point {cp_id!r} was never seen")
    if found.ocpp_version is None:
        raise ProblemError(
            409,
            f"Charge point {cp_id!r} never connected: the OCPP version its profiles are checked "
            "against is the one it speaks, not known yet",
            type=TYPES + "ocpp-version-unknown",
            title="The charge point's OCPP version is not known yet",
        )
    return found.ocpp_version


def check_profile(cp_id: str, profile: ChargingProfile, version: OcppVersion) -> None:
    """InvalidChargingProfile unless `profile` keeps OCPP's rules in `version` and its request
    can be spelt in that version's schema."""
    found = validate(profile, version)
    if not found:
        try:
            to_v16_request(profile) if version is OcppVersion.V16 else to_v201_request(profile)
        except ValueError as exc:  # a number beyond the schema's integers, say
            found = [ProfileProblem(field="", rule=f"OCPP {version} schema", message=str(exc))]
    if found:
        raise InvalidChargingProfile(cp_id, version, found)


@router.get("/charge-points/{id}/charging-profiles", response_model=Page[StoredChargingProfile])
async def list_charging_profiles(
    state: State, principal: Viewer, cp_id: CpId, limit: Limit = 50, offset: Offset = 0
) -> Page[StoredChargingProfile]:
    """The profiles stored for a CP, by connector and id, each with the last command sent about
    it and the CP's answer (`send`)."""
    listing = ListStationProfiles(charge_point_id=cp_id, limit=limit, offset=offset)
    return await call(state, ProfilesRpc.list_profiles, listing)


@router.post(
    "/charge-points/{id}/charging-profiles",
    status_code=status.HTTP_201_CREATED,
    response_model=StoredChargingProfile,
    responses=problems.responses(409),
)
async def create_charging_profile(
    state: State, principal: Operator, cp_id: CpId, body: ChargingProfile
) -> StoredChargingProfile:
    """Store a profile for a CP (replacing the stored one of its id) and send it as
    SetChargingProfile in the version the CP speaks; its answer lands on `send`. 422 names each
    rule of that version it breaks, and the field of a profile that would take the site
    allocator's place (its ids; on a CP of a site a TxDefaultProfile at its stack level or
    above, or a TxProfile); 409 when the CP never connected, when a profile it holds would make
    it refuse this one (2.0.1: same purpose and stack level), or when it has the most profiles
    it may."""
    version = await station_version(state, cp_id)
    check_profile(cp_id, body, version)
    storing = StoreProfile(charge_point_id=cp_id, ocpp_version=version, profile=body)
    return await call(state, ProfilesRpc.store_profile, storing)


@router.delete(
    "/charge-points/{id}/charging-profiles/{profileId}",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=StoredChargingProfile,
)
async def delete_charging_profile(
    state: State, principal: Operator, cp_id: CpId, profile_id: ProfileId
) -> StoredChargingProfile:
    """Send ClearChargingProfile for a stored profile: 202 with the profile as it is now
    (`send.action` ClearChargingProfile); it is gone once the CP clears it."""
    clearing = OfStationProfile(charge_point_id=cp_id, profile_id=profile_id)
    return await call(state, ProfilesRpc.clear_profile, clearing)


def _composite_request(
    version: OcppVersion, connector_id: int, duration: int, unit: RateUnit | None
) -> OcppModel:
    if version is OcppVersion.V16:
        rate16 = None if unit is None else v16.ChargingRateUnitType(unit.value)
        return v16.GetCompositeScheduleRequest(
            connector_id=connector_id, duration=duration, charging_rate_unit=rate16
        )
    rate201 = None if unit is None else v201.ChargingRateUnitEnum(unit.value)
    return v201.GetCompositeScheduleRequest(
        evse_id=connector_id, duration=duration, charging_rate_unit=rate201
    )


def _station_answer(
    version: OcppVersion, asked: OcppModel, response: JsonObject
) -> tuple[CompositeSchedule | None, StationCompositeError | None]:
    """The schedule a GetCompositeSchedule answer gives, or why it gives none (an answer the
    suite cannot read as a schedule, e.g. a negative 1.6 limit, is such a why, not a 500)."""
    try:
        return _read_answer(asked, response)
    except (ValidationError, ValueError) as exc:
        return None, StationCompositeError(
            outcome="Unreadable",
            detail=f"The charge point's answer is not a schedule the suite can read: {exc}"[:500],
        )


def _read_answer(
    asked: OcppModel, response: JsonObject
) -> tuple[CompositeSchedule | None, StationCompositeError | None]:
    if isinstance(asked, v16.GetCompositeScheduleRequest):
        answer16 = v16.GetCompositeScheduleResponse.model_validate(response)
        answered, why = answer16.status.value, ""
        schedule = composite_from_v16(answer16, asked)
    else:
        answer201 = v201.GetCompositeScheduleResponse.model_validate(response)
        answered, info = answer201.status.value, answer201.status_info
        why = "" if info is None else f" ({info.reason_code})"
        schedule = composite_from_v201(answer201)
    if answered != "Accepted":
        return None, StationCompositeError(
            outcome=answered, detail=f"The charge point answered {answered}{why}"
        )
    if schedule is None:
        return None, StationCompositeError(
            outcome=answered, detail="The charge point accepted but gave no schedule placed in time"
        )
    return schedule, None


async def _transaction(state: AppState, cp_id: str, connector_id: int) -> ActiveTransaction | None:
    """The transaction running on the connector (its TxProfiles count), if any."""
    if connector_id == 0:
        return None
    running = await call(
        state,
        SessionsRpc.list_transactions,
        ListTransactions(charge_point_id=cp_id, connector_id=connector_id, active=True, limit=1),
    )
    if not running.items:
        return None
    tx = running.items[0]
    return ActiveTransaction(transaction_id=tx.station_transaction_id, started_at=tx.start_time)


@router.get(
    "/charge-points/{id}/composite-schedule",
    response_model=CompositeSchedules,
    responses=problems.responses(409),
)
async def get_composite_schedule(
    state: State,
    session: Session,
    principal: Operator,
    cp_id: CpId,
    connector_id: Annotated[
        int, Query(alias="connectorId", ge=0, le=INT32_MAX, description="0: the CP as a whole")
    ] = 0,
    duration: Annotated[
        int, Query(ge=1, le=MAX_COMPOSITE_DURATION, description="Seconds from now")
    ] = 3600,
    rate_unit: Annotated[
        RateUnit | None, Query(alias="rateUnit", description="A or W (absent: the CP's choice)")
    ] = None,
    timeout: Annotated[
        float | None, Query(gt=0, description="Seconds to wait for the CP (default 30)")
    ] = None,
) -> CompositeSchedules:
    """Ask the CP for a connector's composite schedule (GetCompositeSchedule in its version,
    audited as any command) and show its answer beside the one computed from the stored
    profiles over the same window; `station` is null, and `stationError` says why, when the
    CP gave none (it rejected, is offline, did not answer in time, ...)."""
    version = await station_version(state, cp_id)
    asked = _composite_request(version, connector_id, duration, rate_unit)
    schedule: CompositeSchedule | None = None
    error: StationCompositeError | None = None
    command_id: str | None = None
    try:
        sent = await send_command(
            state, session, principal, cp_id, "GetCompositeSchedule", asked, timeout, True,
            station=Station(version),
        )  # fmt: skip
    except CommandFailed as exc:
        command_id = exc.command_id
        error = StationCompositeError(outcome=exc.outcome, detail=exc.detail, command_id=command_id)
    except ProblemError as exc:  # refused before it was sent: a feature profile not supported
        error = StationCompositeError(outcome=exc.type.removeprefix(TYPES), detail=exc.detail)
    else:
        command_id = sent.command_id
        schedule, error = _station_answer(version, asked, sent.response or {})
        if error is not None:
            error.command_id = command_id
    # The station's window when it gave one, else from now (to the second: OCPP counts seconds).
    start = schedule.schedule_start if schedule is not None else utcnow().replace(microsecond=0)
    unit = rate_unit or (schedule.rate_unit if schedule is not None else RateUnit.A)
    computing = ComputeComposite(
        charge_point_id=cp_id,
        connector_id=connector_id,
        start=start,
        duration=duration,
        rate_unit=unit,
        transaction=await _transaction(state, cp_id, connector_id),
    )
    return CompositeSchedules(
        station=schedule,
        station_error=error,
        command_id=command_id,
        computed=await call(state, ProfilesRpc.composite, computing),
    )
