"""Request (.req) and response (.conf) payloads of every OCPP 1.6J action, core and security.

Field names are snake_case here and camelCase on the wire (the alias generator of `OcppModel`).
See `datatypes` for the validation rules and the few deliberate differences from the schemas.
"""

from .datatypes import (
    AuthorizationData,
    CertificateHashData,
    ChargingProfile,
    ChargingSchedule,
    CiString20,
    CiString25,
    CiString50,
    CiString255,
    CiString500,
    Firmware,
    IdTagInfo,
    IdToken,
    Int32,
    Integer,
    KeyValue,
    LogParameters,
    MeterValue,
    OcppDateTime,
    String,
    String50,
    String255,
    String5500,
    String10000,
    V16Model,
)
from .enums import (
    AvailabilityStatus,
    AvailabilityType,
    CancelReservationStatus,
    CertificateSignedStatus,
    CertificateUse,
    ChargePointErrorCode,
    ChargePointStatus,
    ChargingProfilePurposeType,
    ChargingProfileStatus,
    ChargingRateUnitType,
    ClearCacheStatus,
    ClearChargingProfileStatus,
    ConfigurationStatus,
    DataTransferStatus,
    DeleteCertificateStatus,
    DiagnosticsStatus,
    ExtendedMessageTrigger,
    FirmwareStatus,
    GenericStatus,
    GetCompositeScheduleStatus,
    GetInstalledCertificateStatus,
    InstallCertificateStatus,
    LogStatus,
    LogType,
    MessageTrigger,
    Reason,
    RegistrationStatus,
    RemoteStartStopStatus,
    ReservationStatus,
    ResetStatus,
    ResetType,
    SignedFirmwareStatus,
    TriggerMessageStatus,
    UnlockStatus,
    UpdateFirmwareStatus,
    UpdateStatus,
    UpdateType,
    UploadLogStatus,
)

__all__ = [
    "AuthorizeRequest",
    "AuthorizeResponse",
    "BootNotificationRequest",
    "BootNotificationResponse",
    "CancelReservationRequest",
    "CancelReservationResponse",
    "CertificateSignedRequest",
    "CertificateSignedResponse",
    "ChangeAvailabilityRequest",
    "ChangeAvailabilityResponse",
    "ChangeConfigurationRequest",
    "ChangeConfigurationResponse",
    "ClearCacheRequest",
    "ClearCacheResponse",
    "ClearChargingProfileRequest",
    "ClearChargingProfileResponse",
    "DataTransferRequest",
    "DataTransferResponse",
    "DeleteCertificateRequest",
    "DeleteCertificateResponse",
    "DiagnosticsStatusNotificationRequest",
    "DiagnosticsStatusNotificationResponse",
    "ExtendedTriggerMessageRequest",
    "ExtendedTriggerMessageResponse",
    "FirmwareStatusNotificationRequest",
    "FirmwareStatusNotificationResponse",
    "GetCompositeScheduleRequest",
    "GetCompositeScheduleResponse",
    "GetConfigurationRequest",
    "GetConfigurationResponse",
    "GetDiagnosticsRequest",
    "GetDiagnosticsResponse",
    "GetInstalledCertificateIdsRequest",
    "GetInstalledCertificateIdsResponse",
    "GetLocalListVersionRequest",
    "GetLocalListVersionResponse",
    "GetLogRequest",
    "GetLogResponse",
    "HeartbeatRequest",
    "HeartbeatResponse",
    "InstallCertificateRequest",
    "InstallCertificateResponse",
    "LogStatusNotificationRequest",
    "LogStatusNotificationResponse",
    "MeterValuesRequest",
    "MeterValuesResponse",
    "RemoteStartTransactionRequest",
    "RemoteStartTransactionResponse",
    "RemoteStopTransactionRequest",
    "RemoteStopTransactionResponse",
    "ReserveNowRequest",
    "ReserveNowResponse",
    "ResetRequest",
    "ResetResponse",
    "SecurityEventNotificationRequest",
    "SecurityEventNotificationResponse",
    "SendLocalListRequest",
    "SendLocalListResponse",
    "SetChargingProfileRequest",
    "SetChargingProfileResponse",
    "SignCertificateRequest",
    "SignCertificateResponse",
    "SignedFirmwareStatusNotificationRequest",
    "SignedFirmwareStatusNotificationResponse",
    "SignedUpdateFirmwareRequest",
    "SignedUpdateFirmwareResponse",
    "StartTransactionRequest",
    "StartTransactionResponse",
    "StatusNotificationRequest",
    "StatusNotificationResponse",
    "StopTransactionRequest",
    "StopTransactionResponse",
    "TriggerMessageRequest",
    "TriggerMessageResponse",
    "UnlockConnectorRequest",
    "UnlockConnectorResponse",
    "UpdateFirmwareRequest",
    "UpdateFirmwareResponse",
]


# --- Core: initiated by the Charge Point --------------------------------------------------------


class AuthorizeRequest(V16Model):
    """Authorize.req: the Charge Point asks whether an idTag may charge."""

    id_tag: IdToken


class AuthorizeResponse(V16Model):
    """Authorize.conf: the Central System's verdict on the idTag."""

    id_tag_info: IdTagInfo


class BootNotificationRequest(V16Model):
    """BootNotification.req: the Charge Point announces itself after (re)boot."""

    charge_point_vendor: CiString20
    charge_point_model: CiString20
    charge_point_serial_number: CiString25 | None = None
    charge_box_serial_number: CiString25 | None = None
    firmware_version: CiString50 | None = None
    iccid: CiString20 | None = None
    imsi: CiString20 | None = None
    meter_type: CiString25 | None = None
    meter_serial_number: CiString25 | None = None


class BootNotificationResponse(V16Model):
    """BootNotification.conf: registration status, the current time and the heartbeat interval."""

    status: RegistrationStatus
    current_time: OcppDateTime
    interval: Integer


class DataTransferRequest(V16Model):
    """DataTransfer.req: vendor-specific data, in either direction."""

    vendor_id: CiString255
    message_id: CiString50 | None = None
    data: String | None = None


class DataTransferResponse(V16Model):
    """DataTransfer.conf: whether the vendor-specific data was understood, with optional data."""

    status: DataTransferStatus
    data: String | None = None


class DiagnosticsStatusNotificationRequest(V16Model):
    """DiagnosticsStatusNotification.req: progress of a diagnostics upload."""

    status: DiagnosticsStatus


class DiagnosticsStatusNotificationResponse(V16Model):
    """DiagnosticsStatusNotification.conf: empty."""


class FirmwareStatusNotificationRequest(V16Model):
    """FirmwareStatusNotification.req: progress of a firmware update."""

    status: FirmwareStatus


class FirmwareStatusNotificationResponse(V16Model):
    """FirmwareStatusNotification.conf: empty."""


class HeartbeatRequest(V16Model):
    """Heartbeat.req: empty; tells the Central System the Charge Point is alive."""


class HeartbeatResponse(V16Model):
    """Heartbeat.conf: the Central System's current time."""

    current_time: OcppDateTime


class MeterValuesRequest(V16Model):
    """MeterValues.req: sampled meter values of a connector, possibly within a transaction."""

    connector_id: Int32
    meter_value: list[MeterValue]
    transaction_id: Integer | None = None


class MeterValuesResponse(V16Model):
    """MeterValues.conf: empty."""


class StartTransactionRequest(V16Model):
    """StartTransaction.req: a transaction has started on a connector."""

    connector_id: Int32
    id_tag: IdToken
    meter_start: Integer
    timestamp: OcppDateTime
    reservation_id: Integer | None = None


class StartTransactionResponse(V16Model):
    """StartTransaction.conf: the transaction id and the idTag's authorization status."""

    id_tag_info: IdTagInfo
    transaction_id: Integer


class StatusNotificationRequest(V16Model):
    """StatusNotification.req: a connector's (or the Charge Point's) status or error changed."""

    connector_id: Int32
    error_code: ChargePointErrorCode
    status: ChargePointStatus
    info: CiString50 | None = None
    timestamp: OcppDateTime | None = None
    vendor_id: CiString255 | None = None
    vendor_error_code: CiString50 | None = None


class StatusNotificationResponse(V16Model):
    """StatusNotification.conf: empty."""


class StopTransactionRequest(V16Model):
    """StopTransaction.req: a transaction has stopped, with the final meter value."""

    meter_stop: Integer
    timestamp: OcppDateTime
    transaction_id: Integer
    id_tag: IdToken | None = None
    reason: Reason | None = None
    transaction_data: list[MeterValue] | None = None


class StopTransactionResponse(V16Model):
    """StopTransaction.conf: the idTag's authorization status, when an idTag was given."""

    id_tag_info: IdTagInfo | None = None


# --- Core: initiated by the Central System ------------------------------------------------------


class CancelReservationRequest(V16Model):
    """CancelReservation.req: cancel a reservation by id."""

    reservation_id: Integer


class CancelReservationResponse(V16Model):
    """CancelReservation.conf: whether the reservation was cancelled."""

    status: CancelReservationStatus


class ChangeAvailabilityRequest(V16Model):
    """ChangeAvailability.req: make a connector (0 = whole Charge Point) (in)operative."""

    connector_id: Int32
    type: AvailabilityType


class ChangeAvailabilityResponse(V16Model):
    """ChangeAvailability.conf: accepted, rejected or scheduled after the transaction."""

    status: AvailabilityStatus


class ChangeConfigurationRequest(V16Model):
    """ChangeConfiguration.req: set one configuration key."""

    key: CiString50
    value: CiString500


class ChangeConfigurationResponse(V16Model):
    """ChangeConfiguration.conf: whether the key was changed."""

    status: ConfigurationStatus


class ClearCacheRequest(V16Model):
    """ClearCache.req: empty; clear the Authorization Cache."""


class ClearCacheResponse(V16Model):
    """ClearCache.conf: whether the cache was cleared."""

    status: ClearCacheStatus


class ClearChargingProfileRequest(V16Model):
    """ClearChargingProfile.req: clear the charging profiles matching all given criteria."""

    id: Integer | None = None
    connector_id: Int32 | None = None
    charging_profile_purpose: ChargingProfilePurposeType | None = None
    stack_level: Integer | None = None


class ClearChargingProfileResponse(V16Model):
    """ClearChargingProfile.conf: accepted, or unknown when nothing matched."""

    status: ClearChargingProfileStatus


class GetCompositeScheduleRequest(V16Model):
    """GetCompositeSchedule.req: the combined schedule of a connector for `duration` seconds."""

    connector_id: Int32
    duration: Integer
    charging_rate_unit: ChargingRateUnitType | None = None


class GetCompositeScheduleResponse(V16Model):
    """GetCompositeSchedule.conf: the composite schedule, when accepted."""

    status: GetCompositeScheduleStatus
    connector_id: Int32 | None = None
    schedule_start: OcppDateTime | None = None
    charging_schedule: ChargingSchedule | None = None


class GetConfigurationRequest(V16Model):
    """GetConfiguration.req: the given keys, or all keys when none are given."""

    key: list[CiString50] | None = None


class GetConfigurationResponse(V16Model):
    """GetConfiguration.conf: the known keys with their values, and the unknown keys."""

    configuration_key: list[KeyValue] | None = None
    unknown_key: list[CiString50] | None = None


class GetDiagnosticsRequest(V16Model):
    """GetDiagnostics.req: upload diagnostics to a URI (not checked as a URI, as in the schema)."""

    location: String
    retries: Integer | None = None
    retry_interval: Integer | None = None
    start_time: OcppDateTime | None = None
    stop_time: OcppDateTime | None = None


class GetDiagnosticsResponse(V16Model):
    """GetDiagnostics.conf: the name of the file to be uploaded, if any."""

    file_name: CiString255 | None = None


class GetLocalListVersionRequest(V16Model):
    """GetLocalListVersion.req: empty; ask for the Local Authorization List version."""


class GetLocalListVersionResponse(V16Model):
    """GetLocalListVersion.conf: the current list version (0: empty, -1: not supported)."""

    list_version: Integer


class RemoteStartTransactionRequest(V16Model):
    """RemoteStartTransaction.req: start a transaction for an idTag, optionally with a profile."""

    id_tag: IdToken
    connector_id: Int32 | None = None
    charging_profile: ChargingProfile | None = None


class RemoteStartTransactionResponse(V16Model):
    """RemoteStartTransaction.conf: whether the Charge Point will try to start."""

    status: RemoteStartStopStatus


class RemoteStopTransactionRequest(V16Model):
    """RemoteStopTransaction.req: stop a transaction by id."""

    transaction_id: Integer


class RemoteStopTransactionResponse(V16Model):
    """RemoteStopTransaction.conf: whether the Charge Point will try to stop."""

    status: RemoteStartStopStatus


class ReserveNowRequest(V16Model):
    """ReserveNow.req: reserve a connector for an idTag until expiryDate."""

    connector_id: Int32
    expiry_date: OcppDateTime
    id_tag: IdToken
    reservation_id: Integer
    parent_id_tag: IdToken | None = None


class ReserveNowResponse(V16Model):
    """ReserveNow.conf: the reservation outcome."""

    status: ReservationStatus


class ResetRequest(V16Model):
    """Reset.req: hard or soft reset of the Charge Point."""

    type: ResetType


class ResetResponse(V16Model):
    """Reset.conf: whether the reset will be performed."""

    status: ResetStatus


class SendLocalListRequest(V16Model):
    """SendLocalList.req: a full or differential Local Authorization List update."""

    list_version: Integer
    update_type: UpdateType
    local_authorization_list: list[AuthorizationData] | None = None


class SendLocalListResponse(V16Model):
    """SendLocalList.conf: the update outcome."""

    status: UpdateStatus


class SetChargingProfileRequest(V16Model):
    """SetChargingProfile.req: install a charging profile on a connector (0 = Charge Point)."""

    connector_id: Int32
    cs_charging_profiles: ChargingProfile


class SetChargingProfileResponse(V16Model):
    """SetChargingProfile.conf: whether the profile was installed."""

    status: ChargingProfileStatus


class TriggerMessageRequest(V16Model):
    """TriggerMessage.req: ask the Charge Point to send a given message now."""

    requested_message: MessageTrigger
    connector_id: Int32 | None = None


class TriggerMessageResponse(V16Model):
    """TriggerMessage.conf: whether the message will be sent."""

    status: TriggerMessageStatus


class UnlockConnectorRequest(V16Model):
    """UnlockConnector.req: unlock the cable retention lock of a connector."""

    connector_id: Int32


class UnlockConnectorResponse(V16Model):
    """UnlockConnector.conf: the unlock outcome."""

    status: UnlockStatus


class UpdateFirmwareRequest(V16Model):
    """UpdateFirmware.req: fetch firmware from a URI (not checked as a URI) from retrieveDate on."""

    location: String
    retrieve_date: OcppDateTime
    retries: Integer | None = None
    retry_interval: Integer | None = None


class UpdateFirmwareResponse(V16Model):
    """UpdateFirmware.conf: empty."""


# --- Security extension: initiated by the Charge Point ------------------------------------------


class LogStatusNotificationRequest(V16Model):
    """LogStatusNotification.req: progress of a log upload requested by GetLog.req."""

    status: UploadLogStatus
    request_id: Integer | None = None


class LogStatusNotificationResponse(V16Model):
    """LogStatusNotification.conf: empty."""


class SecurityEventNotificationRequest(V16Model):
    """SecurityEventNotification.req: a security event happened on the Charge Point."""

    type: String50
    timestamp: OcppDateTime
    tech_info: String255 | None = None


class SecurityEventNotificationResponse(V16Model):
    """SecurityEventNotification.conf: empty."""


class SignCertificateRequest(V16Model):
    """SignCertificate.req: a PEM certificate signing request from the Charge Point."""

    csr: String5500


class SignCertificateResponse(V16Model):
    """SignCertificate.conf: whether the CSR will be processed."""

    status: GenericStatus


class SignedFirmwareStatusNotificationRequest(V16Model):
    """SignedFirmwareStatusNotification.req: progress of a signed firmware update."""

    status: SignedFirmwareStatus
    request_id: Integer | None = None


class SignedFirmwareStatusNotificationResponse(V16Model):
    """SignedFirmwareStatusNotification.conf: empty."""


# --- Security extension: initiated by the Central System ----------------------------------------


class CertificateSignedRequest(V16Model):
    """CertificateSigned.req: the signed PEM certificate chain for the Charge Point."""

    certificate_chain: String10000


class CertificateSignedResponse(V16Model):
    """CertificateSigned.conf: whether the certificate was accepted."""

    status: CertificateSignedStatus


class DeleteCertificateRequest(V16Model):
    """DeleteCertificate.req: delete an installed certificate identified by its hash data."""

    certificate_hash_data: CertificateHashData


class DeleteCertificateResponse(V16Model):
    """DeleteCertificate.conf: the deletion outcome."""

    status: DeleteCertificateStatus


class ExtendedTriggerMessageRequest(V16Model):
    """ExtendedTriggerMessage.req: ask the Charge Point to send a given message now."""

    requested_message: ExtendedMessageTrigger
    connector_id: Int32 | None = None


class ExtendedTriggerMessageResponse(V16Model):
    """ExtendedTriggerMessage.conf: whether the message will be sent."""

    status: TriggerMessageStatus


class GetInstalledCertificateIdsRequest(V16Model):
    """GetInstalledCertificateIds.req: list the installed certificates of a type."""

    certificate_type: CertificateUse


class GetInstalledCertificateIdsResponse(V16Model):
    """GetInstalledCertificateIds.conf: the certificates' hash data (an empty list is tolerated)."""

    status: GetInstalledCertificateStatus
    certificate_hash_data: list[CertificateHashData] | None = None


class GetLogRequest(V16Model):
    """GetLog.req: upload a diagnostics or security log."""

    log: LogParameters
    log_type: LogType
    request_id: Integer
    retries: Integer | None = None
    retry_interval: Integer | None = None


class GetLogResponse(V16Model):
    """GetLog.conf: whether the upload will happen, and the file name."""

    status: LogStatus
    filename: String255 | None = None


class InstallCertificateRequest(V16Model):
    """InstallCertificate.req: install a PEM root certificate of a type."""

    certificate_type: CertificateUse
    certificate: String5500


class InstallCertificateResponse(V16Model):
    """InstallCertificate.conf: the installation outcome."""

    status: InstallCertificateStatus


class SignedUpdateFirmwareRequest(V16Model):
    """SignedUpdateFirmware.req: install a signed firmware image."""

    request_id: Integer
    firmware: Firmware
    retries: Integer | None = None
    retry_interval: Integer | None = None


class SignedUpdateFirmwareResponse(V16Model):
    """SignedUpdateFirmware.conf: whether the update will happen."""

    status: UpdateFirmwareStatus
