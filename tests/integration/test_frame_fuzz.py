"""Arbitrary frames at a gateway: every CALL gets an answer and the connection stays open."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from csms_shared.ocpp.v16.actions import ACTIONS
from tests.integration.support import ChargePointClient

pytestmark = pytest.mark.integration

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
field_names = st.sampled_from(
    ["connectorId", "idTag", "status", "errorCode", "meterValue", "timestamp", "vendorId", "x"]
)
payloads = st.dictionaries(field_names | st.text(max_size=10), json_values, max_size=6)
actions = st.sampled_from(sorted(ACTIONS)) | st.text(max_size=20)
calls = st.builds(lambda a, p: [2, "fuzz", a, p], actions, payloads)
frames = calls | st.lists(json_values, max_size=6) | json_values


@pytest.fixture(scope="module")
def loose_gateway(suite: Any) -> Any:
    process, port = suite.extra_gateway(
        "gateway-fuzz",
        GATEWAY_RATE_LIMIT_PER_SECOND="10000",
        GATEWAY_RATE_LIMIT_BURST="10000",
        GATEWAY_HANDSHAKE_BURST_PER_CHARGE_POINT="1000",
    )
    yield f"ws://127.0.0.1:{port}"
    process.stop()


def test_every_frame_is_answered_and_the_connection_survives(loose_gateway: str) -> None:
    async def run(frames_sent: list[Any]) -> None:
        cp = await ChargePointClient.connect(loose_gateway, "FUZZ-CP")
        try:
            for frame in frames_sent:
                await cp.ws.send(orjson.dumps(frame).decode())
            await cp.ws.send(orjson.dumps([2, "final", "Heartbeat", {}]).decode())
            answers: list[list[Any]] = []
            while not answers or answers[-1][1] != "final":
                answers.append(await cp.next_answer(30))
            assert all(answer[0] in (3, 4) for answer in answers), answers
            assert answers[-1][0] == 3  # the connection still works after all that
            # Every CALL the fuzzer sent got its own answer, in order.
            calls_sent = sum(1 for f in frames_sent if isinstance(f, list) and f[:2] == [2, "fuzz"])
            assert sum(1 for a in answers if a[1] == "fuzz") == calls_sent
        finally:
            await cp.close()

    @given(st.lists(frames, min_size=1, max_size=20))
    @settings(
        max_examples=15,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def exercise(batch: list[Any]) -> None:
        sendable = [f for f in batch if _sendable(f)]
        asyncio.run(run(sendable))

    exercise()


def _sendable(frame: Any) -> bool:
    try:
        orjson.dumps(frame)
    except TypeError:
        return False  # integers beyond 64 bits: orjson cannot write them, a CP cannot either
    return True
