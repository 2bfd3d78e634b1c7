"""Connector and EVSE numbers are 32-bit: a station's larger one is refused where it arrives,
with the error that names it, instead of failing the call in the service that stores it."""

from __future__ import annotations

from typing import Any

import pytest

from csms_shared.ocpp import v16, v201
from csms_shared.ocpp.errors import PropertyConstraintViolation
from csms_shared.ocpp.framing import validate_payload

STATUS_16 = {"connectorId": 1, "errorCode": "NoError", "status": "Available"}
STATUS_201 = {
    "timestamp": "2026-11-28T10:00:00Z",
    "connectorStatus": "Available",
    "evseId": 1,
    "connectorId": 1,
}
STARTED = {
    "eventType": "Started",
    "timestamp": "2026-11-28T10:00:00Z",
    "triggerReason": "Authorized",
    "seqNo": 0,
    "transactionInfo": {"transactionId": "TX"},
    "evse": {"id": 1, "connectorId": 1},
}


@pytest.mark.parametrize(
    ("model", "payload", "where"),
    [
        (v16.StatusNotificationRequest, STATUS_16 | {"connectorId": 2**31}, "connectorId"),
        (v201.StatusNotificationRequest, STATUS_201 | {"evseId": 2**31}, "evseId"),
        (v201.StatusNotificationRequest, STATUS_201 | {"connectorId": -(2**31) - 1}, "connectorId"),
        (v201.TransactionEventRequest, STARTED | {"evse": {"id": 2**31}}, "evse.id"),
        (
            v201.TransactionEventRequest,
            STARTED | {"evse": {"id": 1, "connectorId": 2**40}},
            "evse.connectorId",
        ),
    ],
)
def test_a_number_past_32_bits_is_refused_by_name(
    model: type[Any], payload: dict[str, Any], where: str
) -> None:
    with pytest.raises(PropertyConstraintViolation, match=rf"^{where}: "):
        validate_payload(model, payload)


def test_the_32_bit_ends_are_taken() -> None:
    assert validate_payload(v16.StatusNotificationRequest, STATUS_16 | {"connectorId": 2**31 - 1})
    evse = {"id": 2**31 - 1, "connectorId": -(2**31)}
    started = validate_payload(v201.TransactionEventRequest, STARTED | {"evse": evse})
    assert started.evse is not None and started.evse.id == 2**31 - 1
