"""The OCPP 1.6J field types and the nested datatypes shared by several messages.

Validation follows the JSON schemas of the `ocpp` package (the OCA schemas as shipped there):
integers, strings and booleans are strict (no coercion from other JSON types), strings carry the
schema's maxLength, date-times must be RFC 3339 strings, and a JSON `null` is rejected wherever
the schema has a type. The deliberate differences from those schemas are:

* date-times without an offset are accepted and read as UTC (see `DateTime` in `_base`);
* date-times are rejected when they cannot be represented once converted to UTC
  (outside years 1..9999, e.g. ``0001-01-01T00:00:00+01:00``); leap seconds (``:60``) are
  rejected as the reference RFC 3339 checker rejects them;
* `OneDecimal` (schema ``number`` with ``multipleOf: 0.1``) accepts a value when it is a multiple
  of 0.1 either in decimal (``0.3``, as the `ocpp` package validates these with `Decimal`) or by
  jsonschema's binary-float division;
* MeterValues ``meterValue`` / ``sampledValue`` and GetInstalledCertificateIds.conf
  ``certificateHashData`` may be empty lists (no ``minItems``), see `MeterValue` and messages;
* `UnitOfMeasure` has ``Hertz`` for StopTransaction ``transactionData`` too;
* integers are at most 64-bit (`Integer`), connector numbers 32-bit (`Int32`); the schemas set
  no bound;
* Python field names (snake_case) are accepted as keys besides the wire names
  (``populate_by_name`` of `OcppModel`).
"""

from decimal import Decimal
from fractions import Fraction
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AllowInfNan,
    Strict,
    StrictBool,
    StringConstraints,
    field_validator,
)

from .._base import OcppModel
from .._fields import Int32, Integer, OcppDateTime, String
from .enums import (
    AuthorizationStatus,
    ChargingProfileKindType,
    ChargingProfilePurposeType,
    ChargingRateUnitType,
    HashAlgorithm,
    Location,
    Measurand,
    Phase,
    ReadingContext,
    RecurrencyKindType,
    UnitOfMeasure,
    ValueFormat,
)

__all__ = [
    "AuthorizationData",
    "CertificateHashData",
    "ChargingProfile",
    "ChargingSchedule",
    "ChargingSchedulePeriod",
    "CiString20",
    "CiString25",
    "CiString50",
    "CiString255",
    "CiString500",
    "Firmware",
    "IdTagInfo",
    "IdToken",
    "Int32",
    "Integer",
    "KeyValue",
    "LogParameters",
    "MeterValue",
    "OcppDateTime",
    "OneDecimal",
    "SampledValue",
    "String",
    "String40",
    "String50",
    "String128",
    "String255",
    "String512",
    "String800",
    "String5500",
    "String10000",
    "V16Model",
]


# --- Strings ------------------------------------------------------------------------------------

# CiStringNType of the core spec: case-insensitive on comparison, at most N characters.
CiString20 = Annotated[str, StringConstraints(strict=True, max_length=20)]
CiString25 = Annotated[str, StringConstraints(strict=True, max_length=25)]
CiString50 = Annotated[str, StringConstraints(strict=True, max_length=50)]
CiString255 = Annotated[str, StringConstraints(strict=True, max_length=255)]
CiString500 = Annotated[str, StringConstraints(strict=True, max_length=500)]

# IdToken of the core spec (a CiString20).
IdToken = CiString20

# string[N] of the security extension: at most N characters, case-sensitive.
String40 = Annotated[str, StringConstraints(strict=True, max_length=40)]
String50 = Annotated[str, StringConstraints(strict=True, max_length=50)]
String128 = Annotated[str, StringConstraints(strict=True, max_length=128)]
String255 = Annotated[str, StringConstraints(strict=True, max_length=255)]
String512 = Annotated[str, StringConstraints(strict=True, max_length=512)]
String800 = Annotated[str, StringConstraints(strict=True, max_length=800)]
String5500 = Annotated[str, StringConstraints(strict=True, max_length=5500)]
String10000 = Annotated[str, StringConstraints(strict=True, max_length=10000)]


# --- Numbers ------------------------------------------------------------------------------------

_TENTH = Fraction(0.1)


def _multiple_of_tenth(value: float) -> float:
    """Schema `multipleOf: 0.1`, read in decimal (as written) or as jsonschema divides floats."""
    as_written = Decimal(repr(value)).scaleb(1)
    if as_written == as_written.to_integral_value():
        return value
    quotient = value / 0.1
    try:
        if int(quotient) == quotient:
            return value
    except OverflowError:
        if (Fraction(value) / _TENTH).denominator == 1:
            return value
    raise ValueError("must be a multiple of 0.1 (at most one decimal)")


# decimal with at most one digit after the point (a JSON number; integers are accepted).
OneDecimal = Annotated[float, Strict(), AllowInfNan(False), AfterValidator(_multiple_of_tenth)]


# --- Base ---------------------------------------------------------------------------------------


class V16Model(OcppModel):
    """Base of the 1.6 models: a JSON null is refused; a Python None means "leave it out"."""

    def __init__(self, /, **data: Any) -> None:
        # Keyword construction in Python: None stands for an absent optional field.
        super().__init__(**{key: value for key, value in data.items() if value is not None})

    # Mark this __init__ as pydantic's own so that `model_validate` (the wire path) does not call
    # it and a null there still reaches `_refuse_null`; test_models_vs_schemas guards this.
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]

    @field_validator("*", mode="before")
    @classmethod
    def _refuse_null(cls, value: Any) -> Any:
        # The schemas give every property a type and none of them is "null".
        if value is None:
            raise ValueError("null is not allowed; leave the field out instead")
        return value


# --- Core datatypes -----------------------------------------------------------------------------


class IdTagInfo(V16Model):
    """IdTagInfo: the authorization status of an idTag, with optional expiry and parent."""

    status: AuthorizationStatus
    expiry_date: OcppDateTime | None = None
    parent_id_tag: IdToken | None = None


class AuthorizationData(V16Model):
    """AuthorizationData: one entry of a Local Authorization List (SendLocalList.req)."""

    id_tag: IdToken
    id_tag_info: IdTagInfo | None = None


class SampledValue(V16Model):
    """SampledValue: one measured value with its context, measurand, phase, location and unit."""

    value: String
    context: ReadingContext | None = None
    format: ValueFormat | None = None
    measurand: Measurand | None = None
    phase: Phase | None = None
    location: Location | None = None
    unit: UnitOfMeasure | None = None


class MeterValue(V16Model):
    """MeterValue: sampled values taken at one point in time (an empty list is tolerated)."""

    timestamp: OcppDateTime
    sampled_value: list[SampledValue]


class ChargingSchedulePeriod(V16Model):
    """ChargingSchedulePeriod: a limit from startPeriod seconds after the schedule start."""

    start_period: Integer
    limit: OneDecimal
    number_phases: Integer | None = None


class ChargingSchedule(V16Model):
    """ChargingSchedule: the periods of a charging profile in A or W."""

    charging_rate_unit: ChargingRateUnitType
    charging_schedule_period: list[ChargingSchedulePeriod]
    duration: Integer | None = None
    start_schedule: OcppDateTime | None = None
    min_charging_rate: OneDecimal | None = None


class ChargingProfile(V16Model):
    """ChargingProfile: a stack-levelled charging schedule with its purpose and kind."""

    charging_profile_id: Integer
    stack_level: Integer
    charging_profile_purpose: ChargingProfilePurposeType
    charging_profile_kind: ChargingProfileKindType
    charging_schedule: ChargingSchedule
    transaction_id: Integer | None = None
    recurrency_kind: RecurrencyKindType | None = None
    valid_from: OcppDateTime | None = None
    valid_to: OcppDateTime | None = None


class KeyValue(V16Model):
    """KeyValue: one configuration key of GetConfiguration.conf."""

    key: CiString50
    readonly: StrictBool
    value: CiString500 | None = None


# --- Security extension datatypes ---------------------------------------------------------------


class CertificateHashData(V16Model):
    """CertificateHashDataType: identifies an installed certificate by issuer hashes and serial."""

    hash_algorithm: HashAlgorithm
    issuer_name_hash: String128
    issuer_key_hash: String128
    serial_number: String40


class LogParameters(V16Model):
    """LogParametersType: where to upload a log and which time window it covers."""

    remote_location: String512
    oldest_timestamp: OcppDateTime | None = None
    latest_timestamp: OcppDateTime | None = None


class Firmware(V16Model):
    """FirmwareType: a signed firmware image to retrieve and install (SignedUpdateFirmware.req)."""

    location: String512
    retrieve_date_time: OcppDateTime
    signing_certificate: String5500
    signature: String800
    install_date_time: OcppDateTime | None = None
