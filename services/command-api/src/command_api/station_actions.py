"""Operator actions that mean the same whatever OCPP version a station speaks, and the command
each one is in the station's version.

An operator starts a session, stops a transaction, resets, unlocks, changes availability,
reserves or asks for a status; 1.6 and 2.0.1 spell each differently (RemoteStartTransaction
with an idTag, RequestStartTransaction with an idToken and a remoteStartId). Each body here
says what the operator means and `command(version)` spells it for the station. Where 2.0.1
names an EVSE and 1.6 a connector, a `connectorId` alone names the EVSE of that number (with
its connector 1 where 2.0.1 wants a connector): the layout of most stations, one connector per
EVSE; `evseId` says otherwise.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pydantic.alias_generators import to_camel

from csms_shared.ocpp._base import DateTime, OcppModel, format_datetime
from csms_shared.ocpp.v16 import messages as v16
from csms_shared.ocpp.v16.datatypes import V16Model
from csms_shared.ocpp.v201 import messages as v201
from csms_shared.ocpp.v201.enums import IdTokenEnum
from csms_shared.ocpp.version import OcppVersion

# Id numbers as both versions' schemas take them (a 32-bit signed integer, positive).
Number = Annotated[int, Field(ge=1, lt=2**31)]
IdTag = Annotated[str, StringConstraints(min_length=1, max_length=36)]


@dataclass(frozen=True)
class Translated:
    """The command an operator action is in one version: the action and its request."""

    action: str
    payload: OcppModel

    @property
    def version(self) -> OcppVersion:
        """The version the request is of."""
        return OcppVersion.V16 if isinstance(self.payload, V16Model) else OcppVersion.V201


class OperatorAction(BaseModel):
    """What an operator asks of a station, in the terms of neither version."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, alias_generator=to_camel)

    def command(self, version: OcppVersion) -> Translated:
        """The command in `version`; pydantic's ValidationError when that version's schema
        does not take what the body says (a 21-character idTag for a 1.6 station)."""
        raise NotImplementedError


def _request(model: type[OcppModel], payload: dict[str, Any]) -> OcppModel:
    """`model` of `payload` without the fields the operator left out (OCPP refuses null)."""
    return model.model_validate({k: v for k, v in payload.items() if v is not None})


def _evse(evse_id: int | None, connector_id: int | None) -> dict[str, Any] | None:
    """2.0.1's EVSEType for an operator's evseId and/or connectorId (None: the station)."""
    if evse_id is not None:
        return {"id": evse_id, **({"connectorId": connector_id} if connector_id else {})}
    return {"id": connector_id} if connector_id else None


def _id_token(tag: str, kind: IdTokenEnum) -> dict[str, str]:
    return {"idToken": tag, "type": kind.value}


class StartSession(OperatorAction):
    """Start charging for an id tag, on a connector (1.6) or EVSE (2.0.1); the station picks
    one when neither is given."""

    connector_id: Number | None = None
    evse_id: Number | None = Field(default=None, description="2.0.1: the EVSE")
    id_tag: IdTag = Field(description="1.6: at most 20 characters")
    id_token_type: IdTokenEnum = Field(
        default=IdTokenEnum.ISO14443, description="2.0.1: the idToken's type"
    )

    def command(self, version: OcppVersion) -> Translated:
        """RemoteStartTransaction (1.6); RequestStartTransaction with a new remoteStartId."""
        if version is OcppVersion.V16:
            payload = {"idTag": self.id_tag, "connectorId": self.connector_id or self.evse_id}
            request: OcppModel = _request(v16.RemoteStartTransactionRequest, payload)
            return Translated("RemoteStartTransaction", request)
        request = _request(
            v201.RequestStartTransactionRequest,
            {
                "idToken": _id_token(self.id_tag, self.id_token_type),
                # The station echoes it in the TransactionEvent that starts the session.
                "remoteStartId": secrets.randbelow(2**31 - 1) + 1,
                "evseId": self.evse_id or self.connector_id,
            },
        )
        return Translated("RequestStartTransaction", request)


class StopTransaction(OperatorAction):
    """Stop a transaction: its `transactionId` as `/transactions` lists it (for a 2.0.1
    station the route sends the station's own id, `stationTransactionId`, found from it), or
    a 2.0.1 station's own id as a string."""

    transaction_id: int | Annotated[str, StringConstraints(min_length=1, max_length=36)]

    def command(self, version: OcppVersion) -> Translated:
        """RemoteStopTransaction (1.6), RequestStopTransaction (2.0.1)."""
        if version is OcppVersion.V16:
            payload = {"transactionId": self.transaction_id}
            return Translated(
                "RemoteStopTransaction",
                _request(v16.RemoteStopTransactionRequest, payload),
            )
        payload = {"transactionId": str(self.transaction_id)}
        return Translated(
            "RequestStopTransaction",
            _request(v201.RequestStopTransactionRequest, payload),
        )


# soft: let what charges finish as the version allows (1.6 Soft stops transactions and
# restarts the application; 2.0.1 OnIdle waits for them); hard: now (Hard reboots, Immediate
# ends transactions first).
_RESET = {
    OcppVersion.V16: {"soft": "Soft", "hard": "Hard"},
    OcppVersion.V201: {"soft": "OnIdle", "hard": "Immediate"},
}


class ResetStation(OperatorAction):
    """Restart the station: soft (1.6 Soft, 2.0.1 OnIdle) or hard (Hard, Immediate)."""

    type: Literal["soft", "hard"]

    def command(self, version: OcppVersion) -> Translated:
        """Reset, its type spelt the version's way."""
        model = v16.ResetRequest if version is OcppVersion.V16 else v201.ResetRequest
        return Translated("Reset", _request(model, {"type": _RESET[version][self.type]}))


class Unlock(OperatorAction):
    """Unlock a connector (2.0.1: connector `connectorId` of EVSE `evseId`)."""

    connector_id: Number
    evse_id: Number | None = Field(default=None, description="2.0.1: the EVSE")

    def command(self, version: OcppVersion) -> Translated:
        """UnlockConnector."""
        if version is OcppVersion.V16:
            payload: dict[str, Any] = {"connectorId": self.connector_id}
            return Translated("UnlockConnector", _request(v16.UnlockConnectorRequest, payload))
        if self.evse_id is None:
            payload = {"evseId": self.connector_id, "connectorId": 1}
        else:
            payload = {"evseId": self.evse_id, "connectorId": self.connector_id}
        return Translated("UnlockConnector", _request(v201.UnlockConnectorRequest, payload))


class Availability(OperatorAction):
    """Make a connector (or EVSE, or with connectorId 0 the whole station) operative or not."""

    connector_id: Annotated[int, Field(ge=0, lt=2**31)] = 0
    evse_id: Number | None = Field(default=None, description="2.0.1: the EVSE")
    operative: bool

    def command(self, version: OcppVersion) -> Translated:
        """ChangeAvailability: Operative or Inoperative, for what the body names."""
        status = "Operative" if self.operative else "Inoperative"
        if version is OcppVersion.V16:
            payload: dict[str, Any] = {"connectorId": self.connector_id, "type": status}
            model: type[OcppModel] = v16.ChangeAvailabilityRequest
        else:
            payload = {"operationalStatus": status}
            evse = _evse(self.evse_id, self.connector_id or None)
            if evse:
                payload["evse"] = evse
            model = v201.ChangeAvailabilityRequest
        return Translated("ChangeAvailability", _request(model, payload))


class Reserve(OperatorAction):
    """Reserve a connector (1.6; 0: any) or EVSE (2.0.1; none: any) for an id tag until
    `expiryDate`."""

    reservation_id: Annotated[int, Field(ge=0, lt=2**31)]
    connector_id: Annotated[int, Field(ge=0, lt=2**31)] = 0
    evse_id: Number | None = Field(default=None, description="2.0.1: the EVSE")
    id_tag: IdTag = Field(description="1.6: at most 20 characters")
    id_token_type: IdTokenEnum = Field(
        default=IdTokenEnum.ISO14443, description="2.0.1: the idToken's type"
    )
    parent_id_tag: IdTag | None = Field(default=None, description="2.0.1: the group id token")
    expiry_date: DateTime

    def command(self, version: OcppVersion) -> Translated:
        """ReserveNow."""
        expiry = format_datetime(self.expiry_date)
        if version is OcppVersion.V16:
            payload: dict[str, Any] = {
                "connectorId": self.connector_id or self.evse_id or 0,
                "expiryDate": expiry,
                "idTag": self.id_tag,
                "reservationId": self.reservation_id,
                "parentIdTag": self.parent_id_tag,
            }
            return Translated("ReserveNow", _request(v16.ReserveNowRequest, payload))
        payload = {
            "id": self.reservation_id,
            "expiryDateTime": expiry,
            "idToken": _id_token(self.id_tag, self.id_token_type),
            "evseId": self.evse_id or self.connector_id or None,
        }
        if self.parent_id_tag is not None:
            # The group's type is not the operator's to say: Central, the central system's.
            payload["groupIdToken"] = _id_token(self.parent_id_tag, IdTokenEnum.CENTRAL)
        return Translated("ReserveNow", _request(v201.ReserveNowRequest, payload))


class TriggerStatus(OperatorAction):
    """Ask the station to send a StatusNotification (of a connector or EVSE; none: all)."""

    connector_id: Number | None = None
    evse_id: Number | None = Field(default=None, description="2.0.1: the EVSE")

    def command(self, version: OcppVersion) -> Translated:
        """TriggerMessage of StatusNotification."""
        if version is OcppVersion.V16:
            payload: dict[str, Any] = {
                "requestedMessage": "StatusNotification",
                "connectorId": self.connector_id or self.evse_id,
            }
            return Translated("TriggerMessage", _request(v16.TriggerMessageRequest, payload))
        payload = {"requestedMessage": "StatusNotification"}
        evse = _evse(self.evse_id, self.connector_id)
        if evse:
            payload["evse"] = evse
        return Translated("TriggerMessage", _request(v201.TriggerMessageRequest, payload))


# The routes' names (POST /charge-points/{id}/actions/<name>) and their bodies.
ACTIONS: dict[str, type[OperatorAction]] = {
    "start-session": StartSession,
    "stop-transaction": StopTransaction,
    "reset": ResetStation,
    "unlock": Unlock,
    "availability": Availability,
    "reserve": Reserve,
    "trigger-status": TriggerStatus,
}
