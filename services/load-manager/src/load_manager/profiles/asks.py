"""How a station that came back is asked what it holds, one adapter per protocol version; the
check itself (`profile_checks`: its row, the station's slot, the verdict applied) is written
once and asks `ASKS[version]`.

* 2.0.1 (`ProfilesAsk`): one GetChargingProfiles for the ids of the stored profiles; Accepted
  means the station lists them in ReportChargingProfiles, which follow (`profile_checks.
  reported`), NoProfiles that it holds none of them; the verdict compares what it listed.
* 1.6 (`CompositeAsk`): GetCompositeSchedule for each connector whose composite the CSMS can
  compute, one after the other, each answer compared with the composite of the profiles the
  station should hold; the verdict counts the connectors compared, even when a later ask failed.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from csms_shared.charging import ChargingProfile, RateUnit, composite_from_v16
from csms_shared.contracts.events import CommandCompleted
from csms_shared.contracts.rpc_profiles import ComputeComposite
from csms_shared.ocpp import INT32_MAX, v16, v201
from csms_shared.ocpp._base import OcppModel
from csms_shared.ocpp.version import OcppVersion

from . import compare
from .compare import Row, Verdict
from .store import composite

GET_PROFILES = "GetChargingProfiles"
GET_COMPOSITE = "GetCompositeSchedule"
# GetChargingProfiles' requestId is an OCPP integer.
_MAX_REPORT_ID = INT32_MAX


@dataclass(frozen=True, slots=True)
class Request:
    """One ask: the action, its payload, and the id its reports will carry (2.0.1)."""

    action: str
    payload: OcppModel
    report_id: int | None = None


@dataclass(frozen=True, slots=True)
class Step:
    """What an answer to an ask leads to: `wait` for the reports (the slot stays held), ask
    `next`, `done` (the verdict from what was gathered) or `failed` (as without an answer);
    `changes` go to the check's row first."""

    then: str
    changes: dict[str, Any] = field(default_factory=dict)


WAIT, NEXT, DONE, FAILED = "wait", "next", "done", "failed"


class CheckAsk(Protocol):
    """What differs between the versions in asking a station what it holds."""

    def plan(self, rows: Sequence[Row], allocated: set[int]) -> list[int] | None:
        """The connectors to ask ([] when the ask is not per connector); None when nothing
        can be compared, and the check falls back to sending as without an answer."""
        ...

    def request(self, rows: Sequence[Row], check: Any) -> Request | None:
        """The check's next ask; None when nothing is left to ask."""
        ...

    async def answered(
        self,
        session: AsyncSession,
        cp_id: str,
        rows: Sequence[Row],
        check: Any,
        event: CommandCompleted,
    ) -> Step:
        """What a result (not an error, not a timeout) to the check's ask leads to."""
        ...

    def verdict(self, rows: Sequence[Row], check: Any, *, failed: bool) -> Verdict:
        """The rows to send again, those held, the clears done, from what the check gathered."""
        ...


class ProfilesAsk:
    """2.0.1: GetChargingProfiles, answered by ReportChargingProfiles."""

    version = OcppVersion.V201

    def plan(self, rows: Sequence[Row], allocated: set[int]) -> list[int] | None:
        return None if all(r.waiting for r in rows) else []

    def request(self, rows: Sequence[Row], check: Any) -> Request | None:
        ids = [row.profile.id for row in rows if not row.waiting]
        if not ids:
            return None
        report_id = secrets.randbelow(_MAX_REPORT_ID) + 1
        payload = v201.GetChargingProfilesRequest(
            request_id=report_id,
            charging_profile=v201.ChargingProfileCriterion(charging_profile_id=ids),
        )
        return Request(GET_PROFILES, payload, report_id)

    async def answered(
        self,
        session: AsyncSession,
        cp_id: str,
        rows: Sequence[Row],
        check: Any,
        event: CommandCompleted,
    ) -> Step:
        try:
            status = v201.GetChargingProfilesResponse.model_validate(event.response or {}).status
        except ValidationError:
            return Step(FAILED)
        if status is v201.GetChargingProfileStatusEnum.ACCEPTED:
            return Step(WAIT)  # the reports follow
        return Step(DONE)  # NoProfiles: it holds none of them

    def verdict(self, rows: Sequence[Row], check: Any, *, failed: bool) -> Verdict:
        if failed:
            return compare.fallback(rows, boot=check.boot)
        listed = [ChargingProfile.model_validate(p) for p in check.reported]
        return compare.verdict_v201(rows, listed, self.version, boot=check.boot)


class CompositeAsk:
    """1.6: GetCompositeSchedule (a day, in A) per connector the CSMS can compute."""

    version = OcppVersion.V16

    def plan(self, rows: Sequence[Row], allocated: set[int]) -> list[int] | None:
        connectors = compare.connectors_to_ask(compare.expected(rows, self.version), allocated)
        return connectors or None

    def request(self, rows: Sequence[Row], check: Any) -> Request | None:
        if not check.connectors:
            return None
        payload = v16.GetCompositeScheduleRequest(
            connector_id=check.connectors[0],
            duration=compare.COMPARED_DURATION,
            charging_rate_unit=v16.ChargingRateUnitType.A,
        )
        return Request(GET_COMPOSITE, payload)

    async def answered(
        self,
        session: AsyncSession,
        cp_id: str,
        rows: Sequence[Row],
        check: Any,
        event: CommandCompleted,
    ) -> Step:
        connector, *rest = check.connectors
        matched, differing = list(check.matched), list(check.differing)
        same = await self._same_composite(session, cp_id, rows, event)
        if same is not None:
            (matched if same else differing).append(connector)
        changes = {"connectors": rest, "matched": matched, "differing": differing}
        return Step(NEXT if rest else DONE, changes)

    async def _same_composite(
        self, session: AsyncSession, cp_id: str, rows: Sequence[Row], event: CommandCompleted
    ) -> bool | None:
        """Whether the answer matches the stored profiles' composite over the same window
        (None: it gave none, Rejected or unreadable: not compared)."""
        try:
            asked = v16.GetCompositeScheduleRequest.model_validate(event.request)
            response = v16.GetCompositeScheduleResponse.model_validate(event.response or {})
            station = composite_from_v16(response, asked)
        except (ValidationError, ValueError):
            return None
        if response.status is not v16.GetCompositeScheduleStatus.ACCEPTED or station is None:
            return None
        try:
            window = ComputeComposite(
                charge_point_id=cp_id,
                connector_id=asked.connector_id,
                start=station.schedule_start,
                duration=station.duration,
                rate_unit=RateUnit(station.rate_unit),
            )
        except ValidationError:
            return None  # a window the CSMS does not compute (no duration, longer than a week)
        computed = await composite(session, window, compare.expected(rows, self.version))
        return compare.same_limits(station, computed)

    def verdict(self, rows: Sequence[Row], check: Any, *, failed: bool) -> Verdict:
        # The connectors compared before a failure count; the others go as without an answer.
        return compare.verdict_v16(
            rows, check.matched, check.differing, self.version, boot=check.boot
        )


ASKS: dict[OcppVersion, CheckAsk] = {
    OcppVersion.V16: CompositeAsk(),
    OcppVersion.V201: ProfilesAsk(),
}
