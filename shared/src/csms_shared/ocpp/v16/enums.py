"""The OCPP 1.6J enumerations (core and security extension), values spelled as on the wire."""

from enum import StrEnum

__all__ = [
    "AuthorizationStatus",
    "AvailabilityStatus",
    "AvailabilityType",
    "CancelReservationStatus",
    "CertificateSignedStatus",
    "CertificateUse",
    "ChargePointErrorCode",
    "ChargePointStatus",
    "ChargingProfileKindType",
    "ChargingProfilePurposeType",
    "ChargingProfileStatus",
    "ChargingRateUnitType",
    "ClearCacheStatus",
    "ClearChargingProfileStatus",
    "ConfigurationStatus",
    "DataTransferStatus",
    "DeleteCertificateStatus",
    "DiagnosticsStatus",
    "ExtendedMessageTrigger",
    "FirmwareStatus",
    "GenericStatus",
    "GetCompositeScheduleStatus",
    "GetInstalledCertificateStatus",
    "HashAlgorithm",
    "InstallCertificateStatus",
    "Location",
    "LogStatus",
    "LogType",
    "Measurand",
    "MessageTrigger",
    "Phase",
    "ReadingContext",
    "Reason",
    "RecurrencyKindType",
    "RegistrationStatus",
    "RemoteStartStopStatus",
    "ReservationStatus",
    "ResetStatus",
    "ResetType",
    "SignedFirmwareStatus",
    "TriggerMessageStatus",
    "UnitOfMeasure",
    "UnlockStatus",
    "UpdateFirmwareStatus",
    "UpdateStatus",
    "UpdateType",
    "UploadLogStatus",
    "ValueFormat",
]


# --- Core profile -------------------------------------------------------------------------------


class AuthorizationStatus(StrEnum):
    """IdTagInfo.status: whether an idTag may charge."""

    ACCEPTED = "Accepted"
    BLOCKED = "Blocked"
    EXPIRED = "Expired"
    INVALID = "Invalid"
    CONCURRENT_TX = "ConcurrentTx"


class AvailabilityStatus(StrEnum):
    """ChangeAvailability.conf status."""

    ACCEPTED = "Accepted"
    REJECTED = "Rejected"
    SCHEDULED = "Scheduled"


class AvailabilityType(StrEnum):
    """ChangeAvailability.req type."""

    INOPERATIVE = "Inoperative"
    OPERATIVE = "Operative"


class CancelReservationStatus(StrEnum):
    """CancelReservation.conf status."""

    ACCEPTED = "Accepted"
    REJECTED = "Rejected"


class ChargePointErrorCode(StrEnum):
    """StatusNotification.req errorCode."""

    CONNECTOR_LOCK_FAILURE = "ConnectorLockFailure"
    EV_COMMUNICATION_ERROR = "EVCommunicationError"
    GROUND_FAILURE = "GroundFailure"
    HIGH_TEMPERATURE = "HighTemperature"
    INTERNAL_ERROR = "InternalError"
    LOCAL_LIST_CONFLICT = "LocalListConflict"
    NO_ERROR = "NoError"
    OTHER_ERROR = "OtherError"
    OVER_CURRENT_FAILURE = "OverCurrentFailure"
    POWER_METER_FAILURE = "PowerMeterFailure"
    POWER_SWITCH_FAILURE = "PowerSwitchFailure"
    READER_FAILURE = "ReaderFailure"
    RESET_FAILURE = "ResetFailure"
    UNDER_VOLTAGE = "UnderVoltage"
    OVER_VOLTAGE = "OverVoltage"
    WEAK_SIGNAL = "WeakSignal"


class ChargePointStatus(StrEnum):
    """StatusNotification.req status of a connector (or of the Charge Point for connector 0)."""

    AVAILABLE = "Available"
    PREPARING = "Preparing"
    CHARGING = "Charging"
    SUSPENDED_EVSE = "SuspendedEVSE"
    SUSPENDED_EV = "SuspendedEV"
    FINISHING = "Finishing"
    RESERVED = "Reserved"
    UNAVAILABLE = "Unavailable"
    FAULTED = "Faulted"


class ChargingProfileKindType(StrEnum):
    """ChargingProfile.chargingProfileKind."""

    ABSOLUTE = "Absolute"
    RECURRING = "Recurring"
    RELATIVE = "Relative"


class ChargingProfilePurposeType(StrEnum):
    """ChargingProfile.chargingProfilePurpose (also the ClearChargingProfile.req filter)."""

    CHARGE_POINT_MAX_PROFILE = "ChargePointMaxProfile"
    TX_DEFAULT_PROFILE = "TxDefaultProfile"
    TX_PROFILE = "TxProfile"


class ChargingProfileStatus(StrEnum):
    """SetChargingProfile.conf status."""

    ACCEPTED = "Accepted"
    REJECTED = "Rejected"
    NOT_SUPPORTED = "NotSupported"


class ChargingRateUnitType(StrEnum):
    """ChargingSchedule.chargingRateUnit: amperes or watts."""

    A = "A"
    W = "W"


class ClearCacheStatus(StrEnum):
    """ClearCache.conf status."""

    ACCEPTED = "Accepted"
    REJECTED = "Rejected"


class ClearChargingProfileStatus(StrEnum):
    """ClearChargingProfile.conf status."""

    ACCEPTED = "Accepted"
    UNKNOWN = "Unknown"


class ConfigurationStatus(StrEnum):
    """ChangeConfiguration.conf status."""

    ACCEPTED = "Accepted"
    REJECTED = "Rejected"
    REBOOT_REQUIRED = "RebootRequired"
    NOT_SUPPORTED = "NotSupported"


class DataTransferStatus(StrEnum):
    """DataTransfer.conf status."""

    ACCEPTED = "Accepted"
    REJECTED = "Rejected"
    UNKNOWN_MESSAGE_ID = "UnknownMessageId"
    UNKNOWN_VENDOR_ID = "UnknownVendorId"


class DiagnosticsStatus(StrEnum):
    """DiagnosticsStatusNotification.req status."""

    IDLE = "Idle"
    UPLOADED = "Uploaded"
    UPLOAD_FAILED = "UploadFailed"
    UPLOADING = "Uploading"


class FirmwareStatus(StrEnum):
    """FirmwareStatusNotification.req status (core; the signed variant is SignedFirmwareStatus)."""

    DOWNLOADED = "Downloaded"
    DOWNLOAD_FAILED = "DownloadFailed"
    DOWNLOADING = "Downloading"
    IDLE = "Idle"
    INSTALLATION_FAILED = "InstallationFailed"
    INSTALLING = "Installing"
    INSTALLED = "Installed"


class GetCompositeScheduleStatus(StrEnum):
    """GetCompositeSchedule.conf status."""

    ACCEPTED = "Accepted"
    REJECTED = "Rejected"


class Location(StrEnum):
    """SampledValue.location: where the measurement is taken."""

    CABLE = "Cable"
    EV = "EV"
    INLET = "Inlet"
    OUTLET = "Outlet"
    BODY = "Body"


class Measurand(StrEnum):
    """SampledValue.measurand: what is measured."""

    ENERGY_ACTIVE_EXPORT_REGISTER = "Energy.Active.Export.Register"
    ENERGY_ACTIVE_IMPORT_REGISTER = "Energy.Active.Import.Register"
    ENERGY_REACTIVE_EXPORT_REGISTER = "Energy.Reactive.Export.Register"
    ENERGY_REACTIVE_IMPORT_REGISTER = "Energy.Reactive.Import.Register"
    ENERGY_ACTIVE_EXPORT_INTERVAL = "Energy.Active.Export.Interval"
    ENERGY_ACTIVE_IMPORT_INTERVAL = "Energy.Active.Import.Interval"
    ENERGY_REACTIVE_EXPORT_INTERVAL = "Energy.Reactive.Export.Interval"
    ENERGY_REACTIVE_IMPORT_INTERVAL = "Energy.Reactive.Import.Interval"
    POWER_ACTIVE_EXPORT = "Power.Active.Export"
    POWER_ACTIVE_IMPORT = "Power.Active.Import"
    POWER_OFFERED = "Power.Offered"
    POWER_REACTIVE_EXPORT = "Power.Reactive.Export"
    POWER_REACTIVE_IMPORT = "Power.Reactive.Import"
    POWER_FACTOR = "Power.Factor"
    CURRENT_IMPORT = "Current.Import"
    CURRENT_EXPORT = "Current.Export"
    CURRENT_OFFERED = "Current.Offered"
    VOLTAGE = "Voltage"
    FREQUENCY = "Frequency"
    TEMPERATURE = "Temperature"
    SOC = "SoC"
    RPM = "RPM"


class MessageTrigger(StrEnum):
    """TriggerMessage.req requestedMessage (core; the extension has ExtendedMessageTrigger)."""

    BOOT_NOTIFICATION = "BootNotification"
    DIAGNOSTICS_STATUS_NOTIFICATION = "DiagnosticsStatusNotification"
    FIRMWARE_STATUS_NOTIFICATION = "FirmwareStatusNotification"
    HEARTBEAT = "Heartbeat"
    METER_VALUES = "MeterValues"
    STATUS_NOTIFICATION = "StatusNotification"


class Phase(StrEnum):
    """SampledValue.phase: the phase (or phase pair) a value was measured on."""

    L1 = "L1"
    L2 = "L2"
    L3 = "L3"
    N = "N"
    L1_N = "L1-N"
    L2_N = "L2-N"
    L3_N = "L3-N"
    L1_L2 = "L1-L2"
    L2_L3 = "L2-L3"
    L3_L1 = "L3-L1"


class ReadingContext(StrEnum):
    """SampledValue.context: why a value was sampled."""

    INTERRUPTION_BEGIN = "Interruption.Begin"
    INTERRUPTION_END = "Interruption.End"
    SAMPLE_CLOCK = "Sample.Clock"
    SAMPLE_PERIODIC = "Sample.Periodic"
    TRANSACTION_BEGIN = "Transaction.Begin"
    TRANSACTION_END = "Transaction.End"
    TRIGGER = "Trigger"
    OTHER = "Other"


class Reason(StrEnum):
    """StopTransaction.req reason."""

    EMERGENCY_STOP = "EmergencyStop"
    EV_DISCONNECTED = "EVDisconnected"
    HARD_RESET = "HardReset"
    LOCAL = "Local"
    OTHER = "Other"
    POWER_LOSS = "PowerLoss"
    REBOOT = "Reboot"
    REMOTE = "Remote"
    SOFT_RESET = "SoftReset"
    UNLOCK_COMMAND = "UnlockCommand"
    DE_AUTHORIZED = "DeAuthorized"


class RecurrencyKindType(StrEnum):
    """ChargingProfile.recurrencyKind."""

    DAILY = "Daily"
    WEEKLY = "Weekly"


class RegistrationStatus(StrEnum):
    """BootNotification.conf status."""

    ACCEPTED = "Accepted"
    PENDING = "Pending"
    REJECTED = "Rejected"


class RemoteStartStopStatus(StrEnum):
    """RemoteStartTransaction.conf / RemoteStopTransaction.conf status."""

    ACCEPTED = "Accepted"
    REJECTED = "Rejected"


class ReservationStatus(StrEnum):
    """ReserveNow.conf status."""

    ACCEPTED = "Accepted"
    FAULTED = "Faulted"
    OCCUPIED = "Occupied"
    REJECTED = "Rejected"
    UNAVAILABLE = "Unavailable"


class ResetStatus(StrEnum):
    """Reset.conf status."""

    ACCEPTED = "Accepted"
    REJECTED = "Rejected"


class ResetType(StrEnum):
    """Reset.req type."""

    HARD = "Hard"
    SOFT = "Soft"


class TriggerMessageStatus(StrEnum):
    """TriggerMessage.conf / ExtendedTriggerMessage.conf status."""

    ACCEPTED = "Accepted"
    REJECTED = "Rejected"
    NOT_IMPLEMENTED = "NotImplemented"


class UnitOfMeasure(StrEnum):
    """SampledValue.unit; `Hertz` is an addition of the `ocpp` package's schema, accepted too."""

    WH = "Wh"
    KWH = "kWh"
    VARH = "varh"
    KVARH = "kvarh"
    W = "W"
    KW = "kW"
    VA = "VA"
    KVA = "kVA"
    VAR = "var"
    KVAR = "kvar"
    A = "A"
    V = "V"
    K = "K"
    CELCIUS = "Celcius"
    CELSIUS = "Celsius"
    FAHRENHEIT = "Fahrenheit"
    PERCENT = "Percent"
    HERTZ = "Hertz"


class UnlockStatus(StrEnum):
    """UnlockConnector.conf status."""

    UNLOCKED = "Unlocked"
    UNLOCK_FAILED = "UnlockFailed"
    NOT_SUPPORTED = "NotSupported"


class UpdateStatus(StrEnum):
    """SendLocalList.conf status."""

    ACCEPTED = "Accepted"
    FAILED = "Failed"
    NOT_SUPPORTED = "NotSupported"
    VERSION_MISMATCH = "VersionMismatch"


class UpdateType(StrEnum):
    """SendLocalList.req updateType."""

    DIFFERENTIAL = "Differential"
    FULL = "Full"


class ValueFormat(StrEnum):
    """SampledValue.format: plain value or signed data."""

    RAW = "Raw"
    SIGNED_DATA = "SignedData"


# --- Security extension -------------------------------------------------------------------------


class CertificateSignedStatus(StrEnum):
    """CertificateSigned.conf status."""

    ACCEPTED = "Accepted"
    REJECTED = "Rejected"


class CertificateUse(StrEnum):
    """InstallCertificate.req / GetInstalledCertificateIds.req certificateType."""

    CENTRAL_SYSTEM_ROOT_CERTIFICATE = "CentralSystemRootCertificate"
    MANUFACTURER_ROOT_CERTIFICATE = "ManufacturerRootCertificate"


class DeleteCertificateStatus(StrEnum):
    """DeleteCertificate.conf status."""

    ACCEPTED = "Accepted"
    FAILED = "Failed"
    NOT_FOUND = "NotFound"


class ExtendedMessageTrigger(StrEnum):
    """ExtendedTriggerMessage.req requestedMessage (MessageTriggerEnumType of the extension)."""

    BOOT_NOTIFICATION = "BootNotification"
    LOG_STATUS_NOTIFICATION = "LogStatusNotification"
    FIRMWARE_STATUS_NOTIFICATION = "FirmwareStatusNotification"
    HEARTBEAT = "Heartbeat"
    METER_VALUES = "MeterValues"
    SIGN_CHARGE_POINT_CERTIFICATE = "SignChargePointCertificate"
    STATUS_NOTIFICATION = "StatusNotification"


class GenericStatus(StrEnum):
    """SignCertificate.conf status."""

    ACCEPTED = "Accepted"
    REJECTED = "Rejected"


class GetInstalledCertificateStatus(StrEnum):
    """GetInstalledCertificateIds.conf status."""

    ACCEPTED = "Accepted"
    NOT_FOUND = "NotFound"


class HashAlgorithm(StrEnum):
    """CertificateHashData.hashAlgorithm."""

    SHA256 = "SHA256"
    SHA384 = "SHA384"
    SHA512 = "SHA512"


class InstallCertificateStatus(StrEnum):
    """InstallCertificate.conf status."""

    ACCEPTED = "Accepted"
    FAILED = "Failed"
    REJECTED = "Rejected"


class LogStatus(StrEnum):
    """GetLog.conf status."""

    ACCEPTED = "Accepted"
    REJECTED = "Rejected"
    ACCEPTED_CANCELED = "AcceptedCanceled"


class LogType(StrEnum):
    """GetLog.req logType (LogEnumType)."""

    DIAGNOSTICS_LOG = "DiagnosticsLog"
    SECURITY_LOG = "SecurityLog"


class SignedFirmwareStatus(StrEnum):
    """SignedFirmwareStatusNotification.req status (FirmwareStatusEnumType of the extension)."""

    DOWNLOADED = "Downloaded"
    DOWNLOAD_FAILED = "DownloadFailed"
    DOWNLOADING = "Downloading"
    DOWNLOAD_SCHEDULED = "DownloadScheduled"
    DOWNLOAD_PAUSED = "DownloadPaused"
    IDLE = "Idle"
    INSTALLATION_FAILED = "InstallationFailed"
    INSTALLING = "Installing"
    INSTALLED = "Installed"
    INSTALL_REBOOTING = "InstallRebooting"
    INSTALL_SCHEDULED = "InstallScheduled"
    INSTALL_VERIFICATION_FAILED = "InstallVerificationFailed"
    INVALID_SIGNATURE = "InvalidSignature"
    SIGNATURE_VERIFIED = "SignatureVerified"


class UpdateFirmwareStatus(StrEnum):
    """SignedUpdateFirmware.conf status."""

    ACCEPTED = "Accepted"
    REJECTED = "Rejected"
    ACCEPTED_CANCELED = "AcceptedCanceled"
    INVALID_CERTIFICATE = "InvalidCertificate"
    REVOKED_CERTIFICATE = "RevokedCertificate"


class UploadLogStatus(StrEnum):
    """LogStatusNotification.req status."""

    BAD_MESSAGE = "BadMessage"
    IDLE = "Idle"
    NOT_SUPPORTED_OPERATION = "NotSupportedOperation"
    PERMISSION_DENIED = "PermissionDenied"
    UPLOADED = "Uploaded"
    UPLOAD_FAILURE = "UploadFailure"
    UPLOADING = "Uploading"
