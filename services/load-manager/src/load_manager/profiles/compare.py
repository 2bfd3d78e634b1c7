"""What a station that came back still holds of its stored profiles, and which to send again:
the rules of the comparison (`profile_checks` asks and records; this module decides, no I/O).

2.0.1 lists what it holds (GetChargingProfiles, answered by ReportChargingProfiles): a profile
is held when the station lists its id on its EVSE with the same content, read back the way the
station reads a SetChargingProfile (`to_v201` then `from_v201`: a schedule without an id gets
its position). 1.6 cannot list them; it answers GetCompositeSchedule per connector, which is
compared with the composite the CSMS computes from the profiles the station should hold
(`same_limits`): equal limits and phases at every instant of the window. A connector whose
composite cannot be computed from here is not asked (`connectors_to_ask`): one with a TxProfile
(its transaction's start is not known here), one under a Relative schedule that changes over
time (it counts from a transaction's start), one the allocator holds a limit on (its own
profile is on the station, not in the stored rows).

`verdict_*` turn an answer into the rows to send again, those found held (a row whose last
command got no answer becomes `accepted`), and the clears already done. A row whose command
waits for the outstanding one is left alone: it is sent anyway. A rejected profile is sent again
only after a boot, as before; a profile stored in the other version is always sent again, in the
station's.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from csms_shared.charging import (
    DEFAULT_PHASES,
    STATION,
    ChargingProfile,
    CompositeSchedule,
    ProfileKind,
    ProfilePurpose,
    concerns,
    from_v201,
    to_v201,
)
from csms_shared.ocpp.version import OcppVersion

SET = "SetChargingProfile"
CLEAR = "ClearChargingProfile"
# The window a 1.6 connector is compared over (seconds): a day covers a daily recurrence.
COMPARED_DURATION = 86_400


@dataclass(frozen=True, slots=True)
class Row:
    """A stored profile as the comparison sees it: the profile, its last command and state."""

    profile: ChargingProfile
    action: str
    status: str
    version: OcppVersion
    waiting: bool = False


@dataclass(slots=True)
class Verdict:
    """What a comparison decided, by profile id."""

    resend: set[int] = field(default_factory=set)
    held: set[int] = field(default_factory=set)
    gone: set[int] = field(default_factory=set)


def fallback(rows: Iterable[Row], *, boot: bool) -> Verdict:
    """Without an answer: every profile again after a boot, else those whose last command got
    no answer (`failed`)."""
    return Verdict(
        resend={r.profile.id for r in rows if not r.waiting and (boot or r.status == "failed")}
    )


def _lacking(row: Row, *, boot: bool) -> bool:
    """Whether a Set the station does not hold as stored is sent again."""
    return row.status != "rejected" or boot


def same_profile(stored: ChargingProfile, reported: ChargingProfile) -> bool:
    """Whether a 2.0.1 station's reported profile is the stored one, as it would read it."""
    return from_v201(to_v201(stored), stored.connector_id) == reported


def verdict_v201(
    rows: Iterable[Row], reported: Sequence[ChargingProfile], version: OcppVersion, *, boot: bool
) -> Verdict:
    """The verdict on a 2.0.1 station's rows from the profiles it reported holding."""
    held_ids = {p.id for p in reported}
    verdict = Verdict()
    for row in rows:
        pid = row.profile.id
        if row.waiting:
            continue
        if row.action == CLEAR:
            (verdict.resend if pid in held_ids else verdict.gone).add(pid)
        elif row.version is not version:
            verdict.resend.add(pid)
        elif any(same_profile(row.profile, p) for p in reported if p.id == pid):
            if row.status != "accepted":
                verdict.held.add(pid)
        elif _lacking(row, boot=boot):
            verdict.resend.add(pid)
    return verdict


def expected(rows: Iterable[Row], version: OcppVersion) -> list[ChargingProfile]:
    """The profiles a station should hold: the Sets not rejected nor waiting, of its version."""
    return [
        r.profile
        for r in rows
        if r.action == SET and not r.waiting and r.status != "rejected" and r.version is version
    ]


def _steady(profile: ChargingProfile) -> bool:
    """Whether the CSMS computes the limits `profile` sets without knowing when a transaction
    started: Absolute or Recurring with a start, or one endless period from whenever it
    starts."""
    for schedule in profile.schedules:
        anchored = profile.kind is not ProfileKind.RELATIVE and schedule.start_schedule is not None
        if not anchored and (len(schedule.periods) > 1 or schedule.duration is not None):
            return False
    return True


def connectors_to_ask(profiles: Iterable[ChargingProfile], skip: Iterable[int] = ()) -> list[int]:
    """The 1.6 connectors whose composite schedule tells whether the station holds `profiles`
    (0 for a charge point maximum; connector 1 for a TxDefaultProfile on connector 0 alone),
    leaving out those the CSMS cannot compute (`skip`: the allocator's)."""
    wanted: set[int] = set()
    unknown: set[int] = set(skip)
    on_all = False  # a profile on connector 0 that each connector counts
    unsteady_on_all = False
    for profile in profiles:
        target = profile.connector_id
        if profile.purpose is ProfilePurpose.TX:
            unknown.add(target)
            continue
        station_wide = target == STATION and profile.purpose is not ProfilePurpose.STATION_MAX
        if not _steady(profile):
            if station_wide:
                unsteady_on_all = True
            unknown.add(target)
            continue
        if station_wide:
            on_all = True
        else:
            wanted.add(target)
    if on_all and not any(c != STATION for c in wanted):
        wanted.add(1)
    if unsteady_on_all:
        unknown |= {c for c in wanted if c != STATION}
    return sorted(wanted - unknown)


def _limit_at(schedule: CompositeSchedule, offset: int) -> tuple[Decimal | None, int | None]:
    running = None
    for period in schedule.periods:
        if period.start_period > offset:
            break
        running = period
    if running is None or running.limit is None:
        return None, None
    return running.limit, running.number_phases or DEFAULT_PHASES


def same_limits(station: CompositeSchedule, computed: CompositeSchedule) -> bool:
    """Whether a station's composite schedule sets the limits (and phases: none given counts 3)
    of the computed one at every instant of their common window, in the same unit."""
    if station.rate_unit != computed.rate_unit or station.schedule_start != computed.schedule_start:
        return False
    end = min(station.duration, computed.duration)
    offsets = {0} | {p.start_period for p in (*station.periods, *computed.periods)}
    return all(_limit_at(station, t) == _limit_at(computed, t) for t in offsets if t < end)


def verdict_v16(
    rows: Iterable[Row],
    matched: Iterable[int],
    differing: Iterable[int],
    version: OcppVersion,
    *,
    boot: bool,
) -> Verdict:
    """The verdict on a 1.6 charge point's rows from the connectors whose composite matched
    and those where it differed: a profile on a connector that differs is sent again, one whose
    every connector matched is held, the rest (not compared, and clears, which a composite
    cannot show) as without an answer."""
    same, other = set(matched), set(differing)
    asked = same | other
    verdict = Verdict()
    for row in rows:
        pid = row.profile.id
        if row.waiting:
            continue
        if row.version is not version:
            verdict.resend.add(pid)
            continue
        counted = (
            {c for c in asked if concerns(row.profile, c, None)} if row.action == SET else set()
        )
        if row.status == "rejected":
            if boot:
                verdict.resend.add(pid)
        elif counted & other:
            verdict.resend.add(pid)
        elif counted:
            if row.status != "accepted":
                verdict.held.add(pid)
        elif boot or row.status == "failed":
            verdict.resend.add(pid)
    return verdict
