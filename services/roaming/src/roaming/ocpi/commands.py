"""OCPI 2.2.1's Commands module (mod_commands.asciidoc): the commands an eMSP sends to the CPO
(StartSession, StopSession, ReserveNow, CancelReservation, UnlockConnector), the CPO's direct
CommandResponse, and the CommandResult it later posts to the command's `response_url`."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Self

from pydantic import Field, model_validator

from roaming.ocpi.tokens import Token
from roaming.ocpi.types import CiString36, DateTime, DisplayText, OcpiModel, Url


class CommandType(StrEnum):
    """CommandType: the command requested, the last segment of the commands URL."""

    CANCEL_RESERVATION = "CANCEL_RESERVATION"
    RESERVE_NOW = "RESERVE_NOW"
    START_SESSION = "START_SESSION"
    STOP_SESSION = "STOP_SESSION"
    UNLOCK_CONNECTOR = "UNLOCK_CONNECTOR"


class CommandResponseType(StrEnum):
    """CommandResponseType: whether the CPO accepted a command request (not its outcome)."""

    NOT_SUPPORTED = "NOT_SUPPORTED"
    REJECTED = "REJECTED"
    ACCEPTED = "ACCEPTED"
    UNKNOWN_SESSION = "UNKNOWN_SESSION"


class CommandResultType(StrEnum):
    """CommandResultType: the outcome of a command at the Charge Point."""

    ACCEPTED = "ACCEPTED"
    CANCELED_RESERVATION = "CANCELED_RESERVATION"
    EVSE_OCCUPIED = "EVSE_OCCUPIED"
    EVSE_INOPERATIVE = "EVSE_INOPERATIVE"
    FAILED = "FAILED"
    NOT_SUPPORTED = "NOT_SUPPORTED"
    REJECTED = "REJECTED"
    TIMEOUT = "TIMEOUT"
    UNKNOWN_RESERVATION = "UNKNOWN_RESERVATION"


class CommandResponse(OcpiModel):
    """CommandResponse: the CPO's direct answer to a command, with the timeout of its result."""

    result: CommandResponseType
    timeout: Annotated[int, Field(ge=0)]
    message: list[DisplayText] = Field(default_factory=list)


class CommandResult(OcpiModel):
    """CommandResult: the Charge Point's outcome of a command, posted to its `response_url`."""

    result: CommandResultType
    message: list[DisplayText] = Field(default_factory=list)


class CancelReservation(OcpiModel):
    """CancelReservation: the eMSP's request to cancel a reservation it made with ReserveNow."""

    response_url: Url
    reservation_id: CiString36


class ReserveNow(OcpiModel):
    """ReserveNow: the eMSP's request to reserve an EVSE (or any at a Location) for a Token."""

    response_url: Url
    token: Token
    expiry_date: DateTime
    reservation_id: CiString36
    location_id: CiString36
    evse_uid: CiString36 | None = None
    authorization_reference: CiString36 | None = None


class StartSession(OcpiModel):
    """StartSession: the eMSP's request to start a session at a Location for a Token."""

    response_url: Url
    token: Token
    location_id: CiString36
    evse_uid: CiString36 | None = None
    connector_id: CiString36 | None = None
    authorization_reference: CiString36 | None = None

    @model_validator(mode="after")
    def _connector_needs_evse(self) -> Self:
        if self.connector_id is not None and self.evse_uid is None:
            raise ValueError("evse_uid is required when connector_id is set")
        return self


class StopSession(OcpiModel):
    """StopSession: the eMSP's request to stop a running Session."""

    response_url: Url
    session_id: CiString36


class UnlockConnector(OcpiModel):
    """UnlockConnector: the eMSP's request to unlock a Connector that stayed locked."""

    response_url: Url
    location_id: CiString36
    evse_uid: CiString36
    connector_id: CiString36


# The body each command's POST carries: `POST {commands_endpoint_url}/{command}`.
COMMAND_BODIES: dict[CommandType, type[OcpiModel]] = {
    CommandType.CANCEL_RESERVATION: CancelReservation,
    CommandType.RESERVE_NOW: ReserveNow,
    CommandType.START_SESSION: StartSession,
    CommandType.STOP_SESSION: StopSession,
    CommandType.UNLOCK_CONNECTOR: UnlockConnector,
}
