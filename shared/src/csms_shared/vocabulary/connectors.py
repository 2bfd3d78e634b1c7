"""What a connector is doing (its status), what a car on it is doing (the transaction's
charging state), and what is wrong with it (an error code of the project's own)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from ..ocpp.v16.enums import ChargePointErrorCode, ChargePointStatus
from ..ocpp.v201.enums import ChargingStateEnum, ConnectorStatusEnum


class ConnectorState(StrEnum):
    """A connector's status (2.0.1's ConnectorStatusEnum: 1.6's car states are Occupied plus a
    `ChargingState`)."""

    AVAILABLE = "Available"
    OCCUPIED = "Occupied"
    RESERVED = "Reserved"
    UNAVAILABLE = "Unavailable"
    FAULTED = "Faulted"


class ChargingState(StrEnum):
    """What the car of a transaction is doing (2.0.1's ChargingStateEnum)."""

    EV_CONNECTED = "EVConnected"
    CHARGING = "Charging"
    SUSPENDED_EV = "SuspendedEV"
    SUSPENDED_EVSE = "SuspendedEVSE"
    IDLE = "Idle"


class ErrorCode(StrEnum):
    """What is wrong with a connector or station (1.6's ChargePointErrorCode names, which
    2.0.1 stations' error strings are matched against; anything else is OtherError)."""

    NO_ERROR = "NoError"
    CONNECTOR_LOCK_FAILURE = "ConnectorLockFailure"
    EV_COMMUNICATION_ERROR = "EVCommunicationError"
    GROUND_FAILURE = "GroundFailure"
    HIGH_TEMPERATURE = "HighTemperature"
    INTERNAL_ERROR = "InternalError"
    LOCAL_LIST_CONFLICT = "LocalListConflict"
    OTHER_ERROR = "OtherError"
    OVER_CURRENT_FAILURE = "OverCurrentFailure"
    OVER_VOLTAGE = "OverVoltage"
    POWER_METER_FAILURE = "PowerMeterFailure"
    POWER_SWITCH_FAILURE = "PowerSwitchFailure"
    READER_FAILURE = "ReaderFailure"
    RESET_FAILURE = "ResetFailure"
    UNDER_VOLTAGE = "UnderVoltage"
    WEAK_SIGNAL = "WeakSignal"

    @classmethod
    def parse(cls, text: str | None) -> ErrorCode:
        """A station's error string (2.0.1 has no enum for it): one of ours matched without
        regard to case or separators, NoError for none, else OtherError."""
        if not text:
            return cls.NO_ERROR
        key = "".join(c for c in text if c.isalnum()).casefold()
        return _BY_KEY.get(key, cls.OTHER_ERROR)


_BY_KEY = {code.value.casefold(): code for code in ErrorCode}

# 1.6 statuses of a car at the connector: Occupied, and what the car is doing.
_V16_OCCUPIED: dict[ChargePointStatus, ChargingState] = {
    ChargePointStatus.PREPARING: ChargingState.EV_CONNECTED,
    ChargePointStatus.CHARGING: ChargingState.CHARGING,
    ChargePointStatus.SUSPENDED_EV: ChargingState.SUSPENDED_EV,
    ChargePointStatus.SUSPENDED_EVSE: ChargingState.SUSPENDED_EVSE,
    ChargePointStatus.FINISHING: ChargingState.EV_CONNECTED,
}


@dataclass(frozen=True, slots=True)
class StatusReport:
    """A connector's status as a station reported it, in our terms."""

    status: ConnectorState
    charging_state: ChargingState | None = None
    error_code: ErrorCode = ErrorCode.NO_ERROR

    @classmethod
    def from_v16(cls, status: ChargePointStatus, error: ChargePointErrorCode) -> StatusReport:
        """1.6 StatusNotification: Preparing, Charging, SuspendedEV, SuspendedEVSE and
        Finishing are Occupied with the car's charging state."""
        state = _V16_OCCUPIED.get(status)
        ours = ConnectorState.OCCUPIED if state is not None else ConnectorState(status.value)
        return cls(ours, state, ErrorCode(error.value))

    @classmethod
    def from_v201(
        cls, status: ConnectorStatusEnum, charging: ChargingStateEnum | None = None
    ) -> StatusReport:
        """2.0.1 StatusNotification (no error code: NotifyEvent says what is wrong; a Faulted
        connector is OtherError, as 1.6 never pairs Faulted with NoError), with the charging
        state of a transaction on the connector when one is known."""
        state = ChargingState(charging.value) if charging is not None else None
        ours = ConnectorState(status.value)
        faulted = ours is ConnectorState.FAULTED
        return cls(ours, state, ErrorCode.OTHER_ERROR if faulted else ErrorCode.NO_ERROR)

    def to_v16(self) -> ChargePointStatus:
        """The 1.6 status that says the same (Occupied without a charging state: Preparing)."""
        if self.status is not ConnectorState.OCCUPIED:
            return ChargePointStatus(self.status.value)
        return _TO_V16.get(self.charging_state, ChargePointStatus.PREPARING)


_TO_V16: dict[ChargingState | None, ChargePointStatus] = {
    ChargingState.CHARGING: ChargePointStatus.CHARGING,
    ChargingState.SUSPENDED_EV: ChargePointStatus.SUSPENDED_EV,
    ChargingState.SUSPENDED_EVSE: ChargePointStatus.SUSPENDED_EVSE,
}

# The EVSE's status from its connectors': the first of this order any connector has (an EVSE
# with one connector in use is in use; one with every connector faulted is faulted).
_EVSE_ORDER = (
    ConnectorState.OCCUPIED,
    ConnectorState.RESERVED,
    ConnectorState.AVAILABLE,
    ConnectorState.UNAVAILABLE,
    ConnectorState.FAULTED,
)


def evse_status(connectors: Iterable[ConnectorState]) -> ConnectorState | None:
    """An EVSE's status, derived from its connectors' (None: no connector reported)."""
    found = set(connectors)
    return next((status for status in _EVSE_ORDER if status in found), None)
