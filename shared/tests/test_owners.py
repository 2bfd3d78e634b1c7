"""Owner beacons (bus/owners.py): what a process tells, and what a gateway concludes."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from csms_shared.bus.owners import (
    BEACON_LIFETIME,
    LISTENING_GRACE,
    BeaconSender,
    Owners,
    Verdict,
    process_name,
)
from csms_shared.contracts.envelopes import BadEnvelope, OwnerBeacon

DECISIONS = "ocpp.decisions"
CALLS = "ocpp.calls"
START = "v16.StartTransaction"


def beacon(
    process: str = "session-service@a",
    *,
    ready: bool = True,
    leaving: bool = False,
    lanes: dict[str, list[str]] | None = None,
) -> OwnerBeacon:
    return OwnerBeacon(
        service="session-service",
        process=process,
        lanes=lanes if lanes is not None else {DECISIONS: [START], CALLS: [START]},
        ready=ready,
        lifetime=BEACON_LIFETIME,
        leaving=leaving,
    )


def listening(at: float = 0.0) -> Owners:
    owners = Owners()
    owners.listening(at)
    return owners


# The first moment a gateway that began listening at 0 judges anything.
JUDGING = LISTENING_GRACE


def others_beat(owners: Owners, start: float, end: float) -> None:
    """Another service's process beats once a second from `start` to `end` (both included):
    the gateway is hearing, so a silent owner is judged."""
    registry = OwnerBeacon(
        service="station-registry",
        process="station-registry@r",
        lanes={DECISIONS: ["v16.BootNotification"]},
        ready=True,
        lifetime=BEACON_LIFETIME,
    )
    at = start
    while at < end:
        owners.heard(registry, at)
        at += 1.0
    owners.heard(registry, end)


def test_nothing_is_judged_before_the_grace_of_listening() -> None:
    owners = listening()
    owners.heard(beacon(ready=False), JUDGING - 1)
    assert owners.verdict(DECISIONS, START, JUDGING - 0.01) is None
    assert owners.verdict(DECISIONS, START, JUDGING) is Verdict.NOT_READY


def test_nothing_is_judged_before_listening_at_all() -> None:
    owners = Owners()
    owners.heard(beacon(ready=False), 0.0)
    assert owners.verdict(DECISIONS, START, 100.0) is None


def test_a_key_no_beacon_named_is_sent_as_before() -> None:
    """A service of a version before beacons, or a test's stand-in, still gets its calls."""
    owners = listening()
    owners.heard(beacon(lanes={DECISIONS: ["v16.Authorize"]}), JUDGING)
    assert owners.verdict(DECISIONS, START, JUDGING) is None
    assert owners.verdict(CALLS, "v16.Authorize", JUDGING) is None


def test_a_live_ready_owner_takes_the_call() -> None:
    owners = listening()
    owners.heard(beacon(), JUDGING)
    assert owners.verdict(DECISIONS, START, JUDGING + 1) is None


def test_an_owner_is_gone_once_others_were_heard_for_a_lifetime_after_its_last_beacon() -> None:
    owners = listening()
    owners.heard(beacon(), JUDGING)
    others_beat(owners, JUDGING, JUDGING + BEACON_LIFETIME - 0.01)
    assert owners.verdict(DECISIONS, START, JUDGING + 10) is None
    others_beat(owners, JUDGING + BEACON_LIFETIME - 0.01, JUDGING + BEACON_LIFETIME)
    assert owners.verdict(DECISIONS, START, JUDGING + 10) is Verdict.GONE


def test_a_gateway_that_hears_nothing_judges_no_one_gone() -> None:
    """Its loop stalled or its consumer is behind: by its own clock every owner looks silent,
    but no other beacon was heard after theirs either; they are heard again in the order they
    were sent."""
    owners = listening()
    owners.heard(beacon(), JUDGING)
    others_beat(owners, JUDGING, JUDGING + 0.9)
    assert owners.verdict(DECISIONS, START, JUDGING + 60) is None
    owners.heard(beacon(), JUDGING + 60)  # the backlog: its beacon, then the others'
    others_beat(owners, JUDGING + 60, JUDGING + 60.1)
    assert owners.verdict(DECISIONS, START, JUDGING + 60.1) is None


def test_a_leaving_owner_is_gone_at_once_and_its_successor_takes_over() -> None:
    owners = listening()
    owners.heard(beacon("old"), JUDGING)
    owners.heard(beacon("old", leaving=True, ready=False), JUDGING + 0.1)
    assert owners.verdict(DECISIONS, START, JUDGING + 0.1) is Verdict.GONE
    owners.heard(beacon("new"), JUDGING + 0.2)
    assert owners.verdict(DECISIONS, START, JUDGING + 0.2) is None


def test_one_ready_owner_among_several_is_enough() -> None:
    owners = listening()
    owners.heard(beacon("a", ready=False), JUDGING)
    assert owners.verdict(DECISIONS, START, JUDGING) is Verdict.NOT_READY
    owners.heard(beacon("b"), JUDGING)
    assert owners.verdict(DECISIONS, START, JUDGING) is None


def test_lanes_are_told_apart() -> None:
    """A process consuming only the bulk lane owns nothing on the decisions' exchange."""
    owners = listening()
    owners.heard(beacon("all"), 0.0)
    owners.heard(beacon("all", leaving=True), 1.0)
    owners.heard(beacon("bulk", lanes={CALLS: [START]}), 1.0)
    assert owners.verdict(CALLS, START, JUDGING) is None
    assert owners.verdict(DECISIONS, START, JUDGING) is Verdict.GONE


def test_a_beacon_that_drops_a_key_no_longer_owns_it() -> None:
    owners = listening()
    owners.heard(beacon("a"), JUDGING)
    owners.heard(beacon("a", lanes={CALLS: [START]}), JUDGING + 0.5)
    assert owners.verdict(DECISIONS, START, JUDGING + 0.5) is Verdict.GONE


def test_listening_again_gives_the_owners_a_grace_to_be_heard() -> None:
    """Back from a lost broker connection: the beacons missed meanwhile say nothing."""
    owners = listening()
    owners.heard(beacon(), 1.0)
    owners.listening(60.0)
    others_beat(owners, 60.0, 60.0 + LISTENING_GRACE)
    assert owners.verdict(DECISIONS, START, 60.0 + LISTENING_GRACE - 0.01) is None
    assert owners.verdict(DECISIONS, START, 60.0 + LISTENING_GRACE) is Verdict.GONE


def test_forget_expired_names_the_processes_and_keeps_judging_their_keys() -> None:
    owners = listening()
    owners.heard(beacon("a"), 0.0)
    owners.heard(beacon("b"), 2.0)
    others_beat(owners, 2.0, BEACON_LIFETIME + 0.5)
    assert owners.forget_expired() == ["a"]
    assert owners.services() == {"session-service": (1, 1), "station-registry": (1, 1)}
    others_beat(owners, 4.0, JUDGING)
    assert owners.forget_expired() == ["b"]
    assert owners.services() == {"station-registry": (1, 1)}
    assert owners.verdict(DECISIONS, START, JUDGING) is Verdict.GONE


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "c"]),
            st.booleans(),  # ready
            st.booleans(),  # leaving
            st.floats(min_value=0, max_value=2),  # time since the step before
        ),
        max_size=30,
    ),
    st.floats(min_value=0, max_value=10),
)
def test_the_verdict_is_that_of_the_last_beacon_of_each_process(
    steps: list[tuple[str, bool, bool, float]], after: float
) -> None:
    owners = listening()
    now = 0.0
    last: dict[str, tuple[bool, bool, float]] = {}
    named = False  # a leaving beacon of a process never heard names nothing
    for process, ready, leaving, step in steps:
        now += step
        owners.heard(beacon(process, ready=ready, leaving=leaving), now)
        last[process] = (ready, leaving, now)
        named = named or not leaving
    at = now + after
    # Gone: a whole lifetime of others' beacons after its own last one.
    live = [
        ready
        for ready, leaving, when in last.values()
        if not leaving and now - when < BEACON_LIFETIME
    ]
    if at < JUDGING or not named:
        expected = None
    elif not live:
        expected = Verdict.GONE
    else:
        expected = None if any(live) else Verdict.NOT_READY
    assert owners.verdict(DECISIONS, START, at) is expected


def test_a_beacon_is_read_back_and_a_bad_one_refused() -> None:
    sent = beacon()
    assert OwnerBeacon.decode(sent.encode()) == sent
    with pytest.raises(BadEnvelope):
        OwnerBeacon.decode(b'{"service": "x", "process": "p", "lanes": {}, "ready": true}')
    with pytest.raises(BadEnvelope):
        OwnerBeacon.decode(b"not json")


def test_process_names_differ_per_process_start() -> None:
    assert process_name("x") != process_name("x")


class Wire:
    def __init__(self, fail: bool = False) -> None:
        self.sent: list[OwnerBeacon] = []
        self.fail = fail

    async def publish(self, body: bytes, lifetime: float) -> None:
        if self.fail:
            raise ConnectionError("the broker is away")
        beacon = OwnerBeacon.decode(body)
        assert lifetime == beacon.lifetime
        self.sent.append(beacon)


async def test_the_sender_tells_whether_its_database_answers() -> None:
    wire = Wire()
    answers = True

    async def database() -> None:
        if not answers:
            raise OSError("connection refused")

    lanes = {DECISIONS: [START, "v16.Authorize"]}
    sender = BeaconSender("session-service", lanes, wire.publish, database)
    await sender.tell()
    answers = False
    await sender.tell()
    answers = True
    await sender.tell()
    await sender.leave()
    assert [(b.ready, b.leaving) for b in wire.sent] == [
        (True, False),
        (False, False),
        (True, False),
        (False, True),
    ]
    assert wire.sent[0].lanes == {DECISIONS: ["v16.Authorize", START]}
    assert {b.process for b in wire.sent} == {sender.process}


async def test_a_database_slow_twice_in_a_row_counts_as_down_once_is_forgiven() -> None:
    wire = Wire()
    hang = True

    async def database() -> None:
        if hang:
            await asyncio.Event().wait()

    sender = BeaconSender("x", {CALLS: [START]}, wire.publish, database, check_timeout=0.01)
    await sender.tell()  # slow once: a busy loop, not a dead database
    await sender.tell()  # twice
    hang = False
    await sender.tell()
    assert [b.ready for b in wire.sent] == [True, False, True]


async def test_a_beacon_the_broker_cannot_take_is_dropped_and_the_next_goes_out() -> None:
    wire = Wire(fail=True)
    sender = BeaconSender("x", {CALLS: [START]}, wire.publish)
    await sender.tell()
    await sender.leave()
    wire.fail = False
    await sender.tell()
    assert [b.ready for b in wire.sent] == [True]


async def test_the_sender_beats_while_its_database_check_hangs() -> None:
    """The beat does not wait for the check: a slow database never silences a process."""
    wire = Wire()
    three = asyncio.Event()

    async def publish(body: bytes, lifetime: float) -> None:
        await wire.publish(body, lifetime)
        if len(wire.sent) == 3:
            three.set()

    async def hangs() -> None:
        await asyncio.Event().wait()

    sender = BeaconSender("x", {CALLS: [START]}, publish, hangs, interval=0.01, check_timeout=60)
    beating = asyncio.create_task(sender.run())
    try:
        await asyncio.wait_for(three.wait(), 5)
    finally:
        beating.cancel()
    assert all(b.ready for b in wire.sent)
