"""The per-version adapters of the check that asks a station what it holds (`profile_asks`):
what each asks, what an answer leads to, and each version's verdict; the check itself
(`profile_checks`, tested against the database) is written once for both."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from csms_shared.charging import from_v201, to_v201
from csms_shared.contracts.events import CommandCompleted
from csms_shared.ocpp import v16, v201
from csms_shared.ocpp.version import OcppVersion
from load_manager.profiles.asks import (
    ASKS,
    DONE,
    FAILED,
    GET_COMPOSITE,
    GET_PROFILES,
    WAIT,
    CompositeAsk,
    ProfilesAsk,
)
from load_manager.profiles.compare import SET, Row

from .test_profile_compare import profile

V16, V201 = OcppVersion.V16, OcppVersion.V201


def row(profile_id: int, version: OcppVersion, *, status: str = "accepted", **kw: Any) -> Row:
    return Row(profile(id=profile_id), SET, status, version, **kw)


def check(**fields: Any) -> Any:
    """A check's row as the adapters read it."""
    base: dict[str, Any] = {
        "boot": False,
        "connectors": [],
        "matched": [],
        "differing": [],
        "reported": [],
    }
    return SimpleNamespace(**(base | fields))


def completed(action: str, request: dict[str, Any], response: dict[str, Any]) -> CommandCompleted:
    return CommandCompleted(
        charge_point_id="CP1",
        action=action,
        request_id="load-manager:check:1",
        status="result",
        request=request,
        response=response,
        ocpp_version=V201 if action == GET_PROFILES else V16,
        requested_by="broker:loads",
    )


def test_every_version_has_an_adapter() -> None:
    assert set(ASKS) == set(OcppVersion)
    assert isinstance(ASKS[V16], CompositeAsk)
    assert isinstance(ASKS[V201], ProfilesAsk)


def test_2_0_1_asks_for_the_ids_of_the_rows_not_waiting_in_one_request() -> None:
    rows = [row(1, V201), row(2, V201, waiting=True), row(3, V201)]
    assert ProfilesAsk().plan(rows, set()) == []
    ask = ProfilesAsk().request(rows, check())
    assert ask is not None and ask.action == GET_PROFILES
    assert isinstance(ask.payload, v201.GetChargingProfilesRequest)
    assert ask.payload.charging_profile.charging_profile_id == [1, 3]
    assert ask.report_id == ask.payload.request_id


def test_2_0_1_with_every_row_waiting_asks_nothing() -> None:
    rows = [row(1, V201, waiting=True)]
    assert ProfilesAsk().plan(rows, set()) is None
    assert ProfilesAsk().request(rows, check()) is None


def test_1_6_asks_a_composite_per_connector_and_none_for_the_allocators() -> None:
    rows = [row(1, V16)]  # connector 1
    assert CompositeAsk().plan(rows, set()) == [1]
    assert CompositeAsk().plan(rows, {1}) is None  # the allocator's own profile is there
    ask = CompositeAsk().request(rows, check(connectors=[1]))
    assert ask is not None and ask.action == GET_COMPOSITE and ask.report_id is None
    assert isinstance(ask.payload, v16.GetCompositeScheduleRequest)
    assert ask.payload.connector_id == 1
    assert CompositeAsk().request(rows, check(connectors=[])) is None


@pytest.mark.parametrize(
    ("status", "then"), [("Accepted", WAIT), ("NoProfiles", DONE), ("Bogus", FAILED)]
)
async def test_2_0_1_answer_waits_for_reports_or_ends(status: str, then: str) -> None:
    event = completed(GET_PROFILES, {}, {"status": status})
    step = await ProfilesAsk().answered(None, "CP1", [], check(), event)  # type: ignore[arg-type]
    assert step.then == then and step.changes == {}


def test_each_versions_verdict() -> None:
    # 2.0.1: a profile listed as stored is held; after a failure, as without an answer.
    rows = [row(1, V201, status="failed"), row(2, V201)]
    held = from_v201(to_v201(profile(id=1)), 1)  # as the station reports it
    listed = [held.model_dump(mode="json", by_alias=True, exclude_none=True)]
    verdict = ProfilesAsk().verdict(rows, check(reported=listed), failed=False)
    assert verdict.held == {1} and verdict.resend == {2}
    assert ProfilesAsk().verdict(rows, check(), failed=True).resend == {1}
    # 1.6: the connectors compared count even when a later ask failed.
    rows = [row(1, V16, status="failed")]
    for failed in (False, True):
        verdict = CompositeAsk().verdict(rows, check(matched=[1]), failed=failed)
        assert verdict.held == {1} and verdict.resend == set()
