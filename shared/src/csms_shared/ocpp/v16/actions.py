"""The OCPP 1.6J actions (core and security extension): payload models and who initiates them."""

from dataclasses import dataclass
from enum import StrEnum

from .._base import OcppModel
from . import messages as m

__all__ = ["ACTIONS", "CP_TO_CS_ACTIONS", "CS_TO_CP_ACTIONS", "Action", "ActionSpec", "Direction"]


class Action(StrEnum):
    """The action name of a CALL, spelled as on the wire."""

    AUTHORIZE = "Authorize"
    BOOT_NOTIFICATION = "BootNotification"
    CANCEL_RESERVATION = "CancelReservation"
    CERTIFICATE_SIGNED = "CertificateSigned"
    CHANGE_AVAILABILITY = "ChangeAvailability"
    CHANGE_CONFIGURATION = "ChangeConfiguration"
    CLEAR_CACHE = "ClearCache"
    CLEAR_CHARGING_PROFILE = "ClearChargingProfile"
    DATA_TRANSFER = "DataTransfer"
    DELETE_CERTIFICATE = "DeleteCertificate"
    DIAGNOSTICS_STATUS_NOTIFICATION = "DiagnosticsStatusNotification"
    EXTENDED_TRIGGER_MESSAGE = "ExtendedTriggerMessage"
    FIRMWARE_STATUS_NOTIFICATION = "FirmwareStatusNotification"
    GET_COMPOSITE_SCHEDULE = "GetCompositeSchedule"
    GET_CONFIGURATION = "GetConfiguration"
    GET_DIAGNOSTICS = "GetDiagnostics"
    GET_INSTALLED_CERTIFICATE_IDS = "GetInstalledCertificateIds"
    GET_LOCAL_LIST_VERSION = "GetLocalListVersion"
    GET_LOG = "GetLog"
    HEARTBEAT = "Heartbeat"
    INSTALL_CERTIFICATE = "InstallCertificate"
    LOG_STATUS_NOTIFICATION = "LogStatusNotification"
    METER_VALUES = "MeterValues"
    REMOTE_START_TRANSACTION = "RemoteStartTransaction"
    REMOTE_STOP_TRANSACTION = "RemoteStopTransaction"
    RESERVE_NOW = "ReserveNow"
    RESET = "Reset"
    SECURITY_EVENT_NOTIFICATION = "SecurityEventNotification"
    SEND_LOCAL_LIST = "SendLocalList"
    SET_CHARGING_PROFILE = "SetChargingProfile"
    SIGN_CERTIFICATE = "SignCertificate"
    SIGNED_FIRMWARE_STATUS_NOTIFICATION = "SignedFirmwareStatusNotification"
    SIGNED_UPDATE_FIRMWARE = "SignedUpdateFirmware"
    START_TRANSACTION = "StartTransaction"
    STATUS_NOTIFICATION = "StatusNotification"
    STOP_TRANSACTION = "StopTransaction"
    TRIGGER_MESSAGE = "TriggerMessage"
    UNLOCK_CONNECTOR = "UnlockConnector"
    UPDATE_FIRMWARE = "UpdateFirmware"


class Direction(StrEnum):
    """Who sends the CALL of an action: the Charge Point, the Central System, or either."""

    CP_TO_CS = "CP_TO_CS"
    CS_TO_CP = "CS_TO_CP"
    BOTH = "BOTH"


@dataclass(frozen=True, slots=True)
class ActionSpec:
    """An action with its CALL (request) and CALLRESULT (response) payload models."""

    action: Action
    request: type[OcppModel]
    response: type[OcppModel]
    direction: Direction


_CP, _CS, _BOTH = Direction.CP_TO_CS, Direction.CS_TO_CP, Direction.BOTH

_SPECS = (
    # Core, initiated by the Charge Point.
    ActionSpec(Action.AUTHORIZE, m.AuthorizeRequest, m.AuthorizeResponse, _CP),
    ActionSpec(
        Action.BOOT_NOTIFICATION, m.BootNotificationRequest, m.BootNotificationResponse, _CP
    ),
    ActionSpec(Action.DATA_TRANSFER, m.DataTransferRequest, m.DataTransferResponse, _BOTH),
    ActionSpec(
        Action.DIAGNOSTICS_STATUS_NOTIFICATION,
        m.DiagnosticsStatusNotificationRequest,
        m.DiagnosticsStatusNotificationResponse,
        _CP,
    ),
    ActionSpec(
        Action.FIRMWARE_STATUS_NOTIFICATION,
        m.FirmwareStatusNotificationRequest,
        m.FirmwareStatusNotificationResponse,
        _CP,
    ),
    ActionSpec(Action.HEARTBEAT, m.HeartbeatRequest, m.HeartbeatResponse, _CP),
    ActionSpec(Action.METER_VALUES, m.MeterValuesRequest, m.MeterValuesResponse, _CP),
    ActionSpec(
        Action.START_TRANSACTION, m.StartTransactionRequest, m.StartTransactionResponse, _CP
    ),
    ActionSpec(
        Action.STATUS_NOTIFICATION, m.StatusNotificationRequest, m.StatusNotificationResponse, _CP
    ),
    ActionSpec(Action.STOP_TRANSACTION, m.StopTransactionRequest, m.StopTransactionResponse, _CP),
    # Core, initiated by the Central System.
    ActionSpec(
        Action.CANCEL_RESERVATION, m.CancelReservationRequest, m.CancelReservationResponse, _CS
    ),
    ActionSpec(
        Action.CHANGE_AVAILABILITY, m.ChangeAvailabilityRequest, m.ChangeAvailabilityResponse, _CS
    ),
    ActionSpec(
        Action.CHANGE_CONFIGURATION,
        m.ChangeConfigurationRequest,
        m.ChangeConfigurationResponse,
        _CS,
    ),
    ActionSpec(Action.CLEAR_CACHE, m.ClearCacheRequest, m.ClearCacheResponse, _CS),
    ActionSpec(
        Action.CLEAR_CHARGING_PROFILE,
        m.ClearChargingProfileRequest,
        m.ClearChargingProfileResponse,
        _CS,
    ),
    ActionSpec(
        Action.GET_COMPOSITE_SCHEDULE,
        m.GetCompositeScheduleRequest,
        m.GetCompositeScheduleResponse,
        _CS,
    ),
    ActionSpec(
        Action.GET_CONFIGURATION, m.GetConfigurationRequest, m.GetConfigurationResponse, _CS
    ),
    ActionSpec(Action.GET_DIAGNOSTICS, m.GetDiagnosticsRequest, m.GetDiagnosticsResponse, _CS),
    ActionSpec(
        Action.GET_LOCAL_LIST_VERSION,
        m.GetLocalListVersionRequest,
        m.GetLocalListVersionResponse,
        _CS,
    ),
    ActionSpec(
        Action.REMOTE_START_TRANSACTION,
        m.RemoteStartTransactionRequest,
        m.RemoteStartTransactionResponse,
        _CS,
    ),
    ActionSpec(
        Action.REMOTE_STOP_TRANSACTION,
        m.RemoteStopTransactionRequest,
        m.RemoteStopTransactionResponse,
        _CS,
    ),
    ActionSpec(Action.RESERVE_NOW, m.ReserveNowRequest, m.ReserveNowResponse, _CS),
    ActionSpec(Action.RESET, m.ResetRequest, m.ResetResponse, _CS),
    ActionSpec(Action.SEND_LOCAL_LIST, m.SendLocalListRequest, m.SendLocalListResponse, _CS),
    ActionSpec(
        Action.SET_CHARGING_PROFILE, m.SetChargingProfileRequest, m.SetChargingProfileResponse, _CS
    ),
    ActionSpec(Action.TRIGGER_MESSAGE, m.TriggerMessageRequest, m.TriggerMessageResponse, _CS),
    ActionSpec(Action.UNLOCK_CONNECTOR, m.UnlockConnectorRequest, m.UnlockConnectorResponse, _CS),
    ActionSpec(Action.UPDATE_FIRMWARE, m.UpdateFirmwareRequest, m.UpdateFirmwareResponse, _CS),
    # Security extension, initiated by the Charge Point.
    ActionSpec(
        Action.LOG_STATUS_NOTIFICATION,
        m.LogStatusNotificationRequest,
        m.LogStatusNotificationResponse,
        _CP,
    ),
    ActionSpec(
        Action.SECURITY_EVENT_NOTIFICATION,
        m.SecurityEventNotificationRequest,
        m.SecurityEventNotificationResponse,
        _CP,
    ),
    ActionSpec(Action.SIGN_CERTIFICATE, m.SignCertificateRequest, m.SignCertificateResponse, _CP),
    ActionSpec(
        Action.SIGNED_FIRMWARE_STATUS_NOTIFICATION,
        m.SignedFirmwareStatusNotificationRequest,
        m.SignedFirmwareStatusNotificationResponse,
        _CP,
    ),
    # Security extension, initiated by the Central System.
    ActionSpec(
        Action.CERTIFICATE_SIGNED, m.CertificateSignedRequest, m.CertificateSignedResponse, _CS
    ),
    ActionSpec(
        Action.DELETE_CERTIFICATE, m.DeleteCertificateRequest, m.DeleteCertificateResponse, _CS
    ),
    ActionSpec(
        Action.EXTENDED_TRIGGER_MESSAGE,
        m.ExtendedTriggerMessageRequest,
        m.ExtendedTriggerMessageResponse,
        _CS,
    ),
    ActionSpec(
        Action.GET_INSTALLED_CERTIFICATE_IDS,
        m.GetInstalledCertificateIdsRequest,
        m.GetInstalledCertificateIdsResponse,
        _CS,
    ),
    ActionSpec(Action.GET_LOG, m.GetLogRequest, m.GetLogResponse, _CS),
    ActionSpec(
        Action.INSTALL_CERTIFICATE, m.InstallCertificateRequest, m.InstallCertificateResponse, _CS
    ),
    ActionSpec(
        Action.SIGNED_UPDATE_FIRMWARE,
        m.SignedUpdateFirmwareRequest,
        m.SignedUpdateFirmwareResponse,
        _CS,
    ),
)

# Every action by its wire spelling (the action field of a CALL).
ACTIONS: dict[str, ActionSpec] = {str(spec.action): spec for spec in _SPECS}

# Actions a Charge Point may send as a CALL to the Central System.
CP_TO_CS_ACTIONS: frozenset[str] = frozenset(
    name for name, spec in ACTIONS.items() if spec.direction in (Direction.CP_TO_CS, Direction.BOTH)
)

# Actions the Central System may send as a CALL to a Charge Point.
CS_TO_CP_ACTIONS: frozenset[str] = frozenset(
    name for name, spec in ACTIONS.items() if spec.direction in (Direction.CS_TO_CP, Direction.BOTH)
)

if not len(ACTIONS) == len(_SPECS) == len(Action):
    raise RuntimeError("every Action needs exactly one ActionSpec")
