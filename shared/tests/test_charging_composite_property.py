"""The composite schedule against the profiles evaluated one by one, for random valid profile sets.

The oracle below reads the stacking rules off the composite module's docstring and applies them
to each profile directly, instant by instant, without the breakpoints the composite is built
from: at every whole second of the window the two must agree.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from csms_shared.charging import (
    ActiveTransaction,
    ChargingProfile,
    ChargingSchedule,
    CompositeSchedule,
    ProfileKind,
    ProfilePurpose,
    RateUnit,
    RecurrencyKind,
    SchedulePeriod,
    composite_schedule,
    convert,
    validate,
)
from csms_shared.ocpp.version import OcppVersion

BASE = datetime(2026, 3, 2, tzinfo=UTC)
DAY_S = 86400
CONNECTOR = 1
STEP = {RecurrencyKind.DAILY: timedelta(days=1), RecurrencyKind.WEEKLY: timedelta(days=7)}

# Instants within three days of BASE, on whole seconds or (less often) on milliseconds.
offsets_ms = st.one_of(
    st.integers(-3 * DAY_S, 3 * DAY_S).map(lambda s: s * 1000),
    st.integers(-3 * DAY_S * 1000, 3 * DAY_S * 1000),
)
instants = offsets_ms.map(lambda ms: BASE + timedelta(milliseconds=ms))


@st.composite
def schedules(
    draw: st.DrawFn, kind: ProfileKind, recurrency: RecurrencyKind | None, schedule_id: int
) -> ChargingSchedule:
    unit = draw(st.sampled_from(RateUnit))
    top = 1000 if unit is RateUnit.A else 500_000
    starts = sorted(draw(st.sets(st.integers(1, 2 * DAY_S), max_size=4)))
    periods = tuple(
        SchedulePeriod(
            start_period=start,
            limit=Decimal(draw(st.integers(0, top))).scaleb(-1),
            number_phases=draw(st.none() | st.integers(1, 3)),
        )
        for start in [0, *starts]
    )
    longest = int(STEP[recurrency].total_seconds()) if recurrency else 3 * DAY_S
    return ChargingSchedule(
        id=schedule_id,
        start_schedule=None if kind is ProfileKind.RELATIVE else draw(instants),
        duration=draw(st.none() | st.integers(1, longest)),
        rate_unit=unit,
        periods=periods,
    )


@st.composite
def profiles(draw: st.DrawFn, profile_id: int) -> ChargingProfile:
    purpose = draw(st.sampled_from(ProfilePurpose))
    kinds = list(ProfileKind)
    if purpose is ProfilePurpose.STATION_MAX:
        kinds.remove(ProfileKind.RELATIVE)  # K01.FR.38
    kind = draw(st.sampled_from(kinds))
    recurrency = draw(st.sampled_from(RecurrencyKind)) if kind is ProfileKind.RECURRING else None
    connector = {
        ProfilePurpose.STATION_MAX: st.just(0),
        ProfilePurpose.EXTERNAL_CONSTRAINTS: st.integers(0, 2),
        ProfilePurpose.TX_DEFAULT: st.integers(0, 2),
        ProfilePurpose.TX: st.integers(1, 2),
    }[purpose]
    valid_from, valid_to = draw(st.none() | instants), draw(st.none() | instants)
    if valid_from is not None and valid_to is not None and valid_to <= valid_from:
        valid_from, valid_to = valid_to, valid_from + timedelta(seconds=1)
    count = draw(st.integers(1, 3)) if purpose is ProfilePurpose.TX else 1
    return ChargingProfile(
        id=profile_id,
        stack_level=draw(st.integers(0, 3)),
        purpose=purpose,
        kind=kind,
        recurrency_kind=recurrency,
        valid_from=valid_from,
        valid_to=valid_to,
        transaction_id=draw(st.sampled_from(["T1", "T2"]))
        if purpose is ProfilePurpose.TX
        else None,
        connector_id=draw(connector),
        schedules=tuple(draw(schedules(kind, recurrency, n)) for n in range(1, count + 1)),
    )


@st.composite
def profile_sets(draw: st.DrawFn) -> list[ChargingProfile]:
    count = draw(st.integers(0, 6))
    return [draw(profiles(n)) for n in range(1, count + 1)]


def _transaction(transaction_id: str, started_at: datetime) -> ActiveTransaction:
    return ActiveTransaction(transaction_id=transaction_id, started_at=started_at)


# Built through a function, not st.builds on the model: its signature names the aliases.
transactions = st.none() | st.builds(_transaction, st.sampled_from(["T1", "T2"]), instants)


# --- the oracle ---------------------------------------------------------------------------------

Value = tuple[Decimal, int]


def one_profile(
    profile: ChargingProfile, at: datetime, unit: RateUnit, relative_start: datetime
) -> Value | None:
    """What `profile` alone sets at `at`, walking its schedules the long way."""
    if profile.valid_from is not None and at < profile.valid_from:
        return None
    if profile.valid_to is not None and at >= profile.valid_to:
        return None
    best: Value | None = None
    for schedule in profile.schedules:
        begin = schedule.start_schedule
        if profile.kind is ProfileKind.RELATIVE or begin is None:
            begin = relative_start
        elif profile.recurrency_kind is not None and profile.kind is ProfileKind.RECURRING:
            step = STEP[profile.recurrency_kind]
            while begin > at:
                begin -= step
            while begin + step <= at:
                begin += step
        if at < begin:
            continue
        if schedule.duration is not None and at >= begin + timedelta(seconds=schedule.duration):
            continue
        started = [p for p in schedule.periods if begin + timedelta(seconds=p.start_period) <= at]
        if not started:
            continue
        phases = started[-1].number_phases or 3
        value = (convert(started[-1].limit, schedule.rate_unit, unit, phases=phases), phases)
        if best is None or value[0] > best[0]:
            best = value
    return best


def applies(profile: ChargingProfile, transaction: ActiveTransaction | None) -> bool:
    if profile.purpose is ProfilePurpose.STATION_MAX:
        return profile.connector_id == 0
    if profile.purpose is not ProfilePurpose.TX:
        return profile.connector_id in (0, CONNECTOR)
    return (
        profile.connector_id == CONNECTOR
        and transaction is not None
        and profile.transaction_id in (None, transaction.transaction_id)
    )


def oracle(
    profiles: list[ChargingProfile],
    at: datetime,
    unit: RateUnit,
    transaction: ActiveTransaction | None,
    window_start: datetime,
) -> Value | None:
    relative_start = transaction.started_at if transaction else window_start
    winners: dict[ProfilePurpose, tuple[int, int, Value]] = {}
    for profile in profiles:
        if not applies(profile, transaction):
            continue
        value = one_profile(profile, at, unit, relative_start)
        if value is None:
            continue
        level, own = profile.stack_level, int(profile.connector_id != 0)
        held = winners.get(profile.purpose)
        if (
            held is None
            or (level, own) > held[:2]
            or ((level, own) == held[:2] and value[0] < held[2][0])
        ):
            winners[profile.purpose] = (level, own, value)
    tx = winners.get(ProfilePurpose.TX) or winners.get(ProfilePurpose.TX_DEFAULT)
    chosen = [
        held[2]
        for held in (
            winners.get(ProfilePurpose.STATION_MAX),
            winners.get(ProfilePurpose.EXTERNAL_CONSTRAINTS),
            tx,
        )
        if held is not None
    ]
    if not chosen:
        return None
    return min(v[0] for v in chosen), min(v[1] for v in chosen)


def composite_at(composite: CompositeSchedule, offset: int) -> Value | None:
    running = [p for p in composite.periods if p.start_period <= offset][-1]
    if running.limit is None:
        return None
    assert running.number_phases is not None
    return running.limit, running.number_phases


@settings(deadline=None)
@given(
    profile_sets(),
    transactions,
    instants,
    st.integers(1, 3 * DAY_S),
    st.sampled_from(RateUnit),
    st.lists(st.floats(0, 1, exclude_max=True), max_size=20),
)
def test_the_composite_is_the_stacked_minimum_of_the_profiles_at_every_instant(
    profiles: list[ChargingProfile],
    transaction: ActiveTransaction | None,
    start: datetime,
    duration: int,
    unit: RateUnit,
    fractions: list[float],
) -> None:
    for profile in profiles:
        # Valid as a 2.0.1 station holds them: ExternalConstraints come from its report.
        problems = validate(profile, OcppVersion.V201)
        assert [p for p in problems if p.rule != "2.0.1 ChargingProfilePurposeEnumType"] == []
    composite = composite_schedule(
        profiles,
        connector_id=CONNECTOR,
        start=start,
        duration=duration,
        rate_unit=unit,
        transaction=transaction,
    )
    starts = [p.start_period for p in composite.periods]
    assert starts[0] == 0
    assert starts == sorted(set(starts))
    assert starts[-1] < duration
    changes = list(zip(composite.periods, composite.periods[1:], strict=False))
    assert all((a.limit, a.number_phases) != (b.limit, b.number_phases) for a, b in changes)
    # Around every change, and at random seconds in between.
    sampled = {int(f * duration) for f in fractions} | {duration - 1}
    sampled |= {max(0, s + d) for s in starts for d in (-1, 0, 1) if s + d < duration}
    for offset in sorted(sampled):
        expected = oracle(profiles, start + timedelta(seconds=offset), unit, transaction, start)
        assert composite_at(composite, offset) == expected, offset
