"""Each eMSP command in each OCPP version: the action and payload a station of that version is
sent (written once per version, the rest of the command path shared)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from csms_shared.ocpp.version import OcppVersion

from .ocpi.commands import ReserveNow
from .ocpi.tokens import Token, TokenType
from .ocpi.types import format_datetime

if TYPE_CHECKING:
    from .command_store import Target

# Every action these send, in either version: the roaming service follows their outcomes alone
# (`follow_commands`, bus/stations.py).
ACTIONS = (
    "RemoteStartTransaction",
    "RequestStartTransaction",
    "ReserveNow",
    "CancelReservation",
    "UnlockConnector",
    "RemoteStopTransaction",
    "RequestStopTransaction",
)


def id_token(token: Token) -> dict[str, str]:
    """A 2.0.1 idToken: a card's uid is ISO14443 (as the session-service reads it), the rest
    Central."""
    kind = "ISO14443" if token.type is TokenType.RFID else "Central"
    return {"idToken": token.uid, "type": kind}


def start(target: Target, token: Token, number: int) -> tuple[str, dict[str, Any]]:
    if target.version is OcppVersion.V16:
        return "RemoteStartTransaction", {"connectorId": target.evse_id, "idTag": token.uid}
    return "RequestStartTransaction", {
        "evseId": target.evse_id,
        "remoteStartId": number,
        "idToken": id_token(token),
    }


def reserve(target: Target, body: ReserveNow, number: int) -> tuple[str, dict[str, Any]]:
    expiry = format_datetime(body.expiry_date)
    if target.version is OcppVersion.V16:
        return "ReserveNow", {
            "connectorId": target.evse_id or 0,
            "expiryDate": expiry,
            "idTag": body.token.uid,
            "reservationId": number,
        }
    payload: dict[str, Any] = {
        "id": number,
        "expiryDateTime": expiry,
        "idToken": id_token(body.token),
    }
    if target.evse_id is not None:
        payload["evseId"] = target.evse_id
    return "ReserveNow", payload


def unlock(target: Target) -> tuple[str, dict[str, Any]]:
    if target.version is OcppVersion.V16:
        return "UnlockConnector", {"connectorId": target.evse_id}
    return "UnlockConnector", {"evseId": target.evse_id, "connectorId": target.connector_id or 1}


def stop(version: OcppVersion, transaction_id: int, station_tx: str) -> tuple[str, dict[str, Any]]:
    if version is OcppVersion.V16:
        return "RemoteStopTransaction", {"transactionId": transaction_id}
    return "RequestStopTransaction", {"transactionId": station_tx}


def cancel(reserved_as: int) -> tuple[str, dict[str, Any]]:
    """CancelReservation: the same in both versions."""
    return "CancelReservation", {"reservationId": reserved_as}
