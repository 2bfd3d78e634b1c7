"""The project's own nouns, shaped for the richest OCPP version: what the core speaks whatever
version a station connects with. Each version is an adapter at the edge (`from_v16`,
`from_v201`, `to_v16`, ...); docs/vocabulary.md tables every mapping."""

from __future__ import annotations

from .authorization import AuthorizationDecision
from .connectors import ChargingState, ConnectorState, ErrorCode, StatusReport, evse_status
from .evses import ConnectorRef
from .readings import Measurand, Reading, ReadingContext, SignedData
from .tokens import MAX_TOKEN_LENGTH, IdToken, IdTokenType
from .transactions import StoppedReason, TriggerReason, TxEventKind

__all__ = [
    "MAX_TOKEN_LENGTH",
    "AuthorizationDecision",
    "ChargingState",
    "ConnectorRef",
    "ConnectorState",
    "ErrorCode",
    "IdToken",
    "IdTokenType",
    "Measurand",
    "Reading",
    "ReadingContext",
    "SignedData",
    "StatusReport",
    "StoppedReason",
    "TriggerReason",
    "TxEventKind",
    "evse_status",
]
