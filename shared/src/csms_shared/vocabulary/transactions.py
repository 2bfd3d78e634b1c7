"""A transaction's lifecycle: Started, Updated, Ended events with the project's own trigger and
stopped reasons, which 1.6's StartTransaction, MeterValues and StopTransaction become too."""

from __future__ import annotations

from enum import StrEnum

from ..ocpp.v16.enums import Reason
from ..ocpp.v201.enums import ReasonEnum, TriggerReasonEnum


class TxEventKind(StrEnum):
    STARTED = "Started"
    UPDATED = "Updated"
    ENDED = "Ended"


class TriggerReason(StrEnum):
    """Why a transaction event was sent (2.0.1's TriggerReasonEnum; a 1.6 StartTransaction is
    Authorized, its MeterValues MeterValuePeriodic, its StopTransaction by its reason)."""

    AUTHORIZED = "Authorized"
    CABLE_PLUGGED_IN = "CablePluggedIn"
    CHARGING_RATE_CHANGED = "ChargingRateChanged"
    CHARGING_STATE_CHANGED = "ChargingStateChanged"
    DEAUTHORIZED = "Deauthorized"
    ENERGY_LIMIT_REACHED = "EnergyLimitReached"
    EV_COMMUNICATION_LOST = "EVCommunicationLost"
    EV_CONNECT_TIMEOUT = "EVConnectTimeout"
    METER_VALUE_CLOCK = "MeterValueClock"
    METER_VALUE_PERIODIC = "MeterValuePeriodic"
    TIME_LIMIT_REACHED = "TimeLimitReached"
    TRIGGER = "Trigger"
    UNLOCK_COMMAND = "UnlockCommand"
    STOP_AUTHORIZED = "StopAuthorized"
    EV_DEPARTED = "EVDeparted"
    EV_DETECTED = "EVDetected"
    REMOTE_STOP = "RemoteStop"
    REMOTE_START = "RemoteStart"
    ABNORMAL_CONDITION = "AbnormalCondition"
    SIGNED_DATA_RECEIVED = "SignedDataReceived"
    RESET_COMMAND = "ResetCommand"

    @classmethod
    def from_v201(cls, reason: TriggerReasonEnum) -> TriggerReason:
        return cls(reason.value)

    @classmethod
    def of_v16_meter_values(cls, clock_aligned: bool) -> TriggerReason:
        """A 1.6 MeterValues of a transaction: its clock-aligned readings (Sample.Clock) are
        MeterValueClock, the others MeterValuePeriodic."""
        return cls.METER_VALUE_CLOCK if clock_aligned else cls.METER_VALUE_PERIODIC

    @classmethod
    def of_v16_stop(cls, reason: Reason | None) -> TriggerReason:
        """A 1.6 StopTransaction, by its reason (left out: Local, a driver's card)."""
        return _V16_STOP_TRIGGERS.get(reason or Reason.LOCAL, cls.ABNORMAL_CONDITION)


# What ended a 1.6 transaction, as 2.0.1 would say it: its reason names the cause (a card, a
# command, a cable pulled, a reset); the rest (EmergencyStop, PowerLoss, Other) is abnormal.
_V16_STOP_TRIGGERS = {
    Reason.LOCAL: TriggerReason.STOP_AUTHORIZED,
    Reason.DE_AUTHORIZED: TriggerReason.DEAUTHORIZED,
    Reason.EV_DISCONNECTED: TriggerReason.EV_COMMUNICATION_LOST,
    Reason.REMOTE: TriggerReason.REMOTE_STOP,
    Reason.UNLOCK_COMMAND: TriggerReason.UNLOCK_COMMAND,
    Reason.HARD_RESET: TriggerReason.RESET_COMMAND,
    Reason.SOFT_RESET: TriggerReason.RESET_COMMAND,
    Reason.REBOOT: TriggerReason.RESET_COMMAND,
}

# What a 1.6 StartTransaction is: the start of an authorized transaction.
V16_START_TRIGGER = TriggerReason.AUTHORIZED


class StoppedReason(StrEnum):
    """Why a transaction ended: the union of 1.6's Reason and 2.0.1's ReasonEnum."""

    DE_AUTHORIZED = "DeAuthorized"
    EMERGENCY_STOP = "EmergencyStop"
    ENERGY_LIMIT_REACHED = "EnergyLimitReached"
    EV_DISCONNECTED = "EVDisconnected"
    GROUND_FAULT = "GroundFault"
    HARD_RESET = "HardReset"  # 1.6 only (2.0.1: ImmediateReset)
    IMMEDIATE_RESET = "ImmediateReset"
    LOCAL = "Local"
    LOCAL_OUT_OF_CREDIT = "LocalOutOfCredit"
    MASTER_PASS = "MasterPass"
    OTHER = "Other"
    OVERCURRENT_FAULT = "OvercurrentFault"
    POWER_LOSS = "PowerLoss"
    POWER_QUALITY = "PowerQuality"
    REBOOT = "Reboot"
    REMOTE = "Remote"
    SOC_LIMIT_REACHED = "SOCLimitReached"
    SOFT_RESET = "SoftReset"  # 1.6 only
    STOPPED_BY_EV = "StoppedByEV"
    TIME_LIMIT_REACHED = "TimeLimitReached"
    TIMEOUT = "Timeout"
    UNLOCK_COMMAND = "UnlockCommand"  # 1.6 only (2.0.1: a trigger reason)

    @classmethod
    def from_v16(cls, reason: Reason | None) -> StoppedReason:
        """1.6 StopTransaction's reason; left out it is Local (1.6 section 6.48)."""
        return cls(reason.value) if reason is not None else cls.LOCAL

    @classmethod
    def from_v201(cls, reason: ReasonEnum | None) -> StoppedReason:
        """2.0.1's stoppedReason; left out it is Local (E06)."""
        return cls(reason.value) if reason is not None else cls.LOCAL

    def to_v16(self) -> Reason:
        """1.6's reason: one 1.6 has no word for is Other (ImmediateReset: HardReset)."""
        if self is StoppedReason.IMMEDIATE_RESET:
            return Reason.HARD_RESET
        return _V16.get(self, Reason.OTHER)


_V16 = {StoppedReason(reason.value): reason for reason in Reason}
