"""A connector's composite schedule on a station's page: an operator asks the station
(GetCompositeSchedule, through the function of the `/charge-points/{id}/composite-schedule` REST
route) and sees its periods beside those computed from the stored profiles, offset by offset,
each offset where the two differ marked."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from csms_shared.charging import DEFAULT_PHASES, CompositePeriod, CompositeSchedule, RateUnit
from csms_shared.contracts.rpc_profiles import MAX_COMPOSITE_DURATION
from csms_shared.ocpp import INT32_MAX
from csms_shared.ocpp._base import format_datetime
from csms_shared.ocpp.identity import CHARGE_POINT_ID_PATTERN

from ..api import charging_profiles as profile_api
from .forms import OUTCOMES
from .web import OperatorPage

router = APIRouter(include_in_schema=False)
CpId = Annotated[str, Path(pattern=CHARGE_POINT_ID_PATTERN)]
NOT_COVERED = "\u2013"  # an en dash: an offset past the end of a schedule's window


class CompositeAsk(BaseModel):
    """The form: which connector (EVSE in 2.0.1; 0 the station), how long, in which unit."""

    model_config = ConfigDict(extra="ignore")

    connector_id: int = Field(alias="connectorId", ge=0, le=INT32_MAX)
    duration: int = Field(ge=1, le=MAX_COMPOSITE_DURATION)
    rate_unit: RateUnit = Field(alias="rateUnit")


@dataclass(frozen=True)
class Row:
    """One offset where a period of either schedule starts: what each has in force there
    (`starts`: a period of that side begins at this offset, it does not carry on)."""

    offset: int
    station: str
    computed: str
    station_starts: bool
    computed_starts: bool
    differs: bool


def in_force(schedule: CompositeSchedule, offset: int) -> CompositePeriod | None:
    """The period running `offset` seconds into the window, None past its end."""
    if offset >= schedule.duration:
        return None
    running = [p for p in schedule.periods if p.start_period <= offset]
    return running[-1] if running else None


def _amount(value: Decimal) -> str:
    return format(value.normalize(), "f")


def described(period: CompositePeriod | None, unit: RateUnit) -> str:
    """`16 A, 3 phases`; `no limit` when no profile limits the period; a dash outside."""
    if period is None:
        return NOT_COVERED
    if period.limit is None:
        return "no limit"
    phases = period.number_phases
    text = f"{_amount(period.limit)} {unit.value}"
    if phases is None:
        return text
    return f"{text}, {phases} phase{'' if phases == 1 else 's'}"


def _same(
    station: CompositePeriod | None,
    station_unit: RateUnit,
    computed: CompositePeriod | None,
    computed_unit: RateUnit,
) -> bool:
    """Whether both limit alike: same rate in the same unit, the same phases (a period that
    leaves them out allows 3, as OCPP has it), or neither covers the offset."""
    if station is None or computed is None:
        return station is None and computed is None
    return (station.limit, station_unit, station.number_phases or DEFAULT_PHASES) == (
        computed.limit,
        computed_unit,
        computed.number_phases or DEFAULT_PHASES,
    )


def side_by_side(station: CompositeSchedule | None, computed: CompositeSchedule) -> list[Row]:
    """Every offset where a period of either schedule starts, in order, with what each has in
    force there; none is marked as differing when the station gave no schedule."""
    schedules = [computed] if station is None else [station, computed]
    offsets = sorted(
        {p.start_period for s in schedules for p in s.periods if p.start_period < s.duration}
    )
    rows = []
    for offset in offsets:
        ours = in_force(computed, offset)
        theirs = None if station is None else in_force(station, offset)
        rows.append(
            Row(
                offset=offset,
                station="" if station is None else described(theirs, station.rate_unit),
                computed=described(ours, computed.rate_unit),
                station_starts=theirs is not None and theirs.start_period == offset,
                computed_starts=ours is not None and ours.start_period == offset,
                differs=station is not None
                and not _same(theirs, station.rate_unit, ours, computed.rate_unit),
            )
        )
    return rows


@router.post("/charge-points/{cp_id}/composite-schedule")
async def ask_composite(page: OperatorPage, cp_id: CpId) -> Response:
    """Ask the station for a connector's composite schedule and show its periods beside the
    computed ones; when it gave none, why in words (offline, rejected, no answer in time...)."""
    form = await page.form()
    try:
        ask = CompositeAsk.model_validate(dict(form))
    except ValidationError as exc:
        return page.refused("Not asked", exc)
    async with page.state.sessions() as session:
        try:
            answer = await profile_api.get_composite_schedule(
                page.state,
                session,
                page.principal,
                cp_id,
                connector_id=ask.connector_id,
                duration=ask.duration,
                rate_unit=ask.rate_unit,
            )
        except HTTPException as exc:  # unknown or never connected station, a service down
            return page.outcome(exc.status_code, ok=False, text=f"Not asked: {exc.detail}")
    failed = answer.station_error
    return page.render(
        "cp_composite_answer.html",
        station=answer.station,
        computed=answer.computed,
        window_start=format_datetime(answer.computed.schedule_start),
        rows=side_by_side(answer.station, answer.computed),
        station_error=None if failed is None else OUTCOMES.get(failed.outcome, failed.detail),
        command_id=answer.command_id,
    )
