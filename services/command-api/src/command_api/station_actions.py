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
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pydantic.alias_generators import to_camel

from csms_shared.ocpp import INT32_MAX, v16, v201
from csms_shared.ocpp._base import DateTime, OcppModel
from csms_shared.ocpp.v16.datatypes import V16Model
from csms_shared.ocpp.version import OcppVersion

# Id numbers as both versions' schemas take them (a 32-bit signed integer, positive).
Number = Annotated[int, Field(ge=1, le=INT32_MAX)]
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
        does not take what the body says (a 21-character idTag for a 1.6 station). The
        requests are built in Python: a field left None is left out, as OCPP refuses null."""
        raise NotImplementedError


def _evse(evse_id: int | None, connector_id: int | None) -> v201.EVSE | None:
    """2.0.1's EVSEType for an operator's evseId and/or connectorId (None: the station)."""
    if evse_id is not None:
        return v201.EVSE(id=evse_id, connector_id=connector_id or None)
    return v201.EVSE(id=connector_id) if connector_id else None


def _id_token(tag: str, kind: v201.IdTokenEnum) -> v201.IdToken:
    return v201.IdToken(id_token=tag, type=kind)


class StartSession(OperatorAction):
    """Start charging for an id tag, on a connector (1.6) or EVSE (2.0.1); the station picks
    one when neither is given."""

    connector_id: Number | None = None
    evse_id: Number | None = Field(default=None, description="2.0.1: the EVSE")
    id_tag: IdTag = Field(description="1.6: at most 20 characters")
    id_token_type: v201.IdTokenEnum = Field(
        default=v201.IdTokenEnum.ISO14443, description="2.0.1: the idToken's type"
    )

    def command(self, version: OcppVersion) -> Translated:
        """RemoteStartTransaction (1.6); RequestStartTransaction with a new remoteStartId."""
        if version is OcppVersion.V16:
            return Translated(
                "RemoteStartTransaction",
                v16.RemoteStartTransactionRequest(
                    id_tag=self.id_tag, connector_id=self.connector_id or self.evse_id
                ),
            )
        return Translated(
            "RequestStartTransaction",
            v201.RequestStartTransactionRequest(
                id_token=_id_token(self.id_tag, self.id_token_type),
                # The station echoes it in the TransactionEvent that starts the session.
                remote_start_id=secrets.randbelow(INT32_MAX) + 1,
                evse_id=self.evse_id or self.connector_id,
            ),
        )


class StopTransaction(OperatorAction):
    """Stop a transaction: its `transactionId` as `/transactions` lists it (for a 2.0.1
    station the route sends the station's own id, `stationTransactionId`, found from it), or
    a 2.0.1 station's own id as a string."""

    transaction_id: int | Annotated[str, StringConstraints(min_length=1, max_length=36)]

    def command(self, version: OcppVersion) -> Translated:
        """RemoteStopTransaction (1.6), RequestStopTransaction (2.0.1)."""
        if version is OcppVersion.V16:
            # A string (a 2.0.1 station's id) is refused: 1.6 ids are integers.
            request = v16.RemoteStopTransactionRequest(transaction_id=self.transaction_id)
            return Translated("RemoteStopTransaction", request)
        return Translated(
            "RequestStopTransaction",
            v201.RequestStopTransactionRequest(transaction_id=str(self.transaction_id)),
        )


# soft: let what charges finish as the version allows (1.6 Soft stops transactions and
# restarts the application; 2.0.1 OnIdle waits for them); hard: now (Hard reboots, Immediate
# ends transactions first).
_V16_RESET = {"soft": v16.ResetType.SOFT, "hard": v16.ResetType.HARD}
_V201_RESET = {"soft": v201.ResetEnum.ON_IDLE, "hard": v201.ResetEnum.IMMEDIATE}


class ResetStation(OperatorAction):
    """Restart the station: soft (1.6 Soft, 2.0.1 OnIdle) or hard (Hard, Immediate)."""

    type: Literal["soft", "hard"]

    def command(self, version: OcppVersion) -> Translated:
        """Reset, its type spelt the version's way."""
        if version is OcppVersion.V16:
            return Translated("Reset", v16.ResetRequest(type=_V16_RESET[self.type]))
        return Translated("Reset", v201.ResetRequest(type=_V201_RESET[self.type]))


class Unlock(OperatorAction):
    """Unlock a connector (2.0.1: connector `connectorId` of EVSE `evseId`)."""

    connector_id: Number
    evse_id: Number | None = Field(default=None, description="2.0.1: the EVSE")

    def command(self, version: OcppVersion) -> Translated:
        """UnlockConnector."""
        if version is OcppVersion.V16:
            request: OcppModel = v16.UnlockConnectorRequest(connector_id=self.connector_id)
        elif self.evse_id is None:
            request = v201.UnlockConnectorRequest(evse_id=self.connector_id, connector_id=1)
        else:
            request = v201.UnlockConnectorRequest(
                evse_id=self.evse_id, connector_id=self.connector_id
            )
        return Translated("UnlockConnector", request)


class Availability(OperatorAction):
    """Make a connector (or EVSE, or with connectorId 0 the whole station) operative or not."""

    connector_id: Annotated[int, Field(ge=0, le=INT32_MAX)] = 0
    evse_id: Number | None = Field(default=None, description="2.0.1: the EVSE")
    operative: bool

    def command(self, version: OcppVersion) -> Translated:
        """ChangeAvailability: Operative or Inoperative, for what the body names."""
        if version is OcppVersion.V16:
            kind = v16.AvailabilityType
            request: OcppModel = v16.ChangeAvailabilityRequest(
                connector_id=self.connector_id,
                type=kind.OPERATIVE if self.operative else kind.INOPERATIVE,
            )
        else:
            status = v201.OperationalStatusEnum
            request = v201.ChangeAvailabilityRequest(
                operational_status=status.OPERATIVE if self.operative else status.INOPERATIVE,
                evse=_evse(self.evse_id, self.connector_id or None),
            )
        return Translated("ChangeAvailability", request)


class Reserve(OperatorAction):
    """Reserve a connector (1.6; 0: any) or EVSE (2.0.1; none: any) for an id tag until
    `expiryDate`."""

    reservation_id: Annotated[int, Field(ge=0, le=INT32_MAX)]
    connector_id: Annotated[int, Field(ge=0, le=INT32_MAX)] = 0
    evse_id: Number | None = Field(default=None, description="2.0.1: the EVSE")
    id_tag: IdTag = Field(description="1.6: at most 20 characters")
    id_token_type: v201.IdTokenEnum = Field(
        default=v201.IdTokenEnum.ISO14443, description="2.0.1: the idToken's type"
    )
    parent_id_tag: IdTag | None = Field(default=None, description="2.0.1: the group id token")
    expiry_date: DateTime

    def command(self, version: OcppVersion) -> Translated:
        """ReserveNow."""
        if version is OcppVersion.V16:
            request: OcppModel = v16.ReserveNowRequest(
                connector_id=self.connector_id or self.evse_id or 0,
                expiry_date=self.expiry_date,
                id_tag=self.id_tag,
                reservation_id=self.reservation_id,
                parent_id_tag=self.parent_id_tag,
            )
        else:
            request = v201.ReserveNowRequest(
                id=self.reservation_id,
                expiry_date_time=self.expiry_date,
                id_token=_id_token(self.id_tag, self.id_token_type),
                evse_id=self.evse_id or self.connector_id or None,
                # The group's type is not the operator's to say: Central, the central system's.
                group_id_token=None
                if self.parent_id_tag is None
                else _id_token(self.parent_id_tag, v201.IdTokenEnum.CENTRAL),
            )
        return Translated("ReserveNow", request)


class TriggerStatus(OperatorAction):
    """Ask the station to send a StatusNotification (of a connector or EVSE; none: all)."""

    connector_id: Number | None = None
    evse_id: Number | None = Field(default=None, description="2.0.1: the EVSE")

    def command(self, version: OcppVersion) -> Translated:
        """TriggerMessage of StatusNotification."""
        if version is OcppVersion.V16:
            request: OcppModel = v16.TriggerMessageRequest(
                requested_message=v16.MessageTrigger.STATUS_NOTIFICATION,
                connector_id=self.connector_id or self.evse_id,
            )
        else:
            request = v201.TriggerMessageRequest(
                requested_message=v201.MessageTriggerEnum.STATUS_NOTIFICATION,
                evse=_evse(self.evse_id, self.connector_id),
            )
        return Translated("TriggerMessage", request)


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
