"""The content digest that recognises a re-sent or redelivered message."""

from __future__ import annotations

from csms_shared.ocpp.v16.messages import MeterValuesRequest
from session_service.transactions import digest


def _meter_values(timestamp: str, value: str = "1") -> MeterValuesRequest:
    return MeterValuesRequest.model_validate(
        {
            "connectorId": 1,
            "transactionId": 7,
            "meterValue": [
                {"timestamp": timestamp, "sampledValue": [{"value": value, "unit": "kWh"}]}
            ],
        }
    )


def _of(request: MeterValuesRequest) -> bytes:
    return digest(request.model_dump(by_alias=True, exclude_none=True))


def test_the_same_content_has_the_same_digest_whatever_its_spelling() -> None:
    a = _meter_values("2026-11-22T10:00:00Z")
    b = _meter_values("2026-11-22T11:00:00+01:00")
    assert _of(a) == _of(b)
    assert len(_of(a)) == 32


def test_any_difference_changes_the_digest() -> None:
    base = _of(_meter_values("2026-11-22T10:00:00.000001Z"))
    assert base != _of(_meter_values("2026-11-22T10:00:00.000002Z"))
    assert base != _of(_meter_values("2026-11-22T10:00:00.000001Z", value="2"))


def test_key_order_does_not_matter() -> None:
    assert digest({"a": 1, "b": [1, 2]}) == digest({"b": [1, 2], "a": 1})
    assert digest({"a": [1, 2]}) != digest({"a": [2, 1]})
