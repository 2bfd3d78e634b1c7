"""The OCPP 1.6 models against the official JSON schemas shipped in the `ocpp` package (the oracle).

For each of the 78 schemas (request and response of the 39 actions) the checks of
`schema_oracle`: generated payloads and their mutants get the model's verdict equal to the
schema's apart from `KNOWN_LENIENCIES` (schema rejects, model accepts) and `KNOWN_STRICTNESS`
(schema accepts, model rejects), `to_payload()` satisfies the schema, and the model's own JSON
schema has the official shape.

The oracle is `jsonschema.Draft4Validator` (what the `ocpp` package itself uses for 1.6, also for
the security extension schemas that declare draft-06: so 1.0 is not an integer).
"""

from decimal import Decimal
from pathlib import Path

import jsonschema
import ocpp
import pytest
from pydantic import ValidationError

from csms_shared.ocpp import OcppModel
from csms_shared.ocpp.v16 import (
    ACTIONS,
    CP_TO_CS_ACTIONS,
    CS_TO_CP_ACTIONS,
    Action,
    AuthorizationStatus,
    BootNotificationRequest,
    ChargingSchedulePeriod,
    Direction,
    HeartbeatResponse,
    IdTagInfo,
    MeterValuesRequest,
)

from .schema_oracle import (
    DATE_TIME_RANGE,
    INT32_BOUNDS,
    INT64_BOUNDS,
    NAIVE_DATE_TIME,
    PYTHON_NAMES,
    Leniency,
    SchemaOracle,
    ShapeRules,
    check_shape,
    load_schemas,
)

pytestmark = pytest.mark.filterwarnings("ignore:Overriding standard format 'date-time'")

SCHEMAS = load_schemas(Path(ocpp.__file__).parent / "v16" / "schemas")
SCHEMA_NAMES = sorted(SCHEMAS)


def model_for(schema_name: str) -> type[OcppModel]:
    """The model of a schema file: `X` is the request of action X, `XResponse` its response."""
    spec = ACTIONS[schema_name.removesuffix("Response")]
    return spec.response if schema_name.endswith("Response") else spec.request


# --- Known, intended differences ----------------------------------------------------------------


def _is_decimal_multiple_of_tenth(value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    as_written = Decimal(repr(value)).scaleb(1)
    return as_written == as_written.to_integral_value()


# Schema rejects, model accepts. Every oracle error of such a payload must match one of these.
KNOWN_LENIENCIES = (
    Leniency(
        "OCA schema has no minItems on MeterValues meterValue / sampledValue (the `ocpp` copy has)",
        lambda name, error: (
            name == "MeterValues"
            and error.validator == "minItems"
            and error.instance == []
            and error.absolute_path[-1] in ("meterValue", "sampledValue")
        ),
    ),
    Leniency(
        "spec text gives GetInstalledCertificateIds.conf certificateHashData as 0..*",
        lambda name, error: (
            name == "GetInstalledCertificateIdsResponse"
            and error.validator == "minItems"
            and error.instance == []
            and list(error.absolute_path) == ["certificateHashData"]
        ),
    ),
    Leniency(
        "UnitOfMeasure has Hertz (the `ocpp` copy of MeterValues has it; StopTransaction not)",
        lambda name, error: (
            error.validator == "enum"
            and error.instance == "Hertz"
            and error.absolute_path[-1] == "unit"
        ),
    ),
    Leniency(
        "multipleOf 0.1 also read in decimal, as the `ocpp` package checks it (not float division)",
        lambda name, error: (
            error.validator == "multipleOf" and _is_decimal_multiple_of_tenth(error.instance)
        ),
    ),
    NAIVE_DATE_TIME,
    PYTHON_NAMES,
)

# Schema accepts, model rejects. Every model error of such a payload must contain one of these.
KNOWN_STRICTNESS = {**DATE_TIME_RANGE, **INT64_BOUNDS, **INT32_BOUNDS}

ORACLE = SchemaOracle(
    SCHEMAS, jsonschema.Draft4Validator, model_for, KNOWN_LENIENCIES, KNOWN_STRICTNESS
)
ORACLES = ORACLE.validators

# UnitOfMeasure is one enum with Hertz (in the `ocpp` copy of MeterValues only).
SHAPE_RULES = ShapeRules(
    extra_enum_values=lambda where: {"Hertz"} if where.endswith(".unit") else set()
)


# --- The tests ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_model_agrees_with_schema(name: str) -> None:
    """Generated payloads and their mutants: same verdict from the model as from the schema."""
    ORACLE.check_generated(name, max_examples=25)


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_model_has_the_schema_shape(name: str) -> None:
    """The model's JSON schema has the official properties, required, types, lengths, enums."""
    check_shape(model_for(name), ORACLE.inlined[name], SHAPE_RULES)


def test_actions_cover_every_schema() -> None:
    """39 actions, named as the schema files, each with a request and a response model."""
    assert len(ACTIONS) == len(Action) == 39
    assert {*ACTIONS, *(f"{action}Response" for action in ACTIONS)} == set(SCHEMA_NAMES)
    for spelling, spec in ACTIONS.items():
        assert spec.action == spelling == spec.action.value
        assert spec.request.__name__ == f"{spelling}Request"
        assert spec.response.__name__ == f"{spelling}Response"
        assert issubclass(spec.request, OcppModel) and issubclass(spec.response, OcppModel)


def test_action_directions() -> None:
    """Who initiates each action, as in OCPP 1.6 and its security extension."""
    from_charge_point = {
        "Authorize",
        "BootNotification",
        "DataTransfer",
        "DiagnosticsStatusNotification",
        "FirmwareStatusNotification",
        "Heartbeat",
        "MeterValues",
        "StartTransaction",
        "StatusNotification",
        "StopTransaction",
        "SecurityEventNotification",
        "SignCertificate",
        "LogStatusNotification",
        "SignedFirmwareStatusNotification",
    }
    assert CP_TO_CS_ACTIONS == from_charge_point
    assert CS_TO_CP_ACTIONS == (set(ACTIONS) - from_charge_point) | {"DataTransfer"}
    assert (len(CP_TO_CS_ACTIONS), len(CS_TO_CP_ACTIONS)) == (14, 26)
    assert [a for a, spec in ACTIONS.items() if spec.direction is Direction.BOTH] == [
        "DataTransfer"
    ]


def test_python_none_means_absent_but_json_null_is_refused() -> None:
    """Keyword None leaves an optional out; a null in a payload is a violation, as in the schema."""
    made = IdTagInfo(status=AuthorizationStatus.ACCEPTED, expiry_date=None, parent_id_tag=None)
    assert made.to_payload() == {"status": "Accepted"}
    with pytest.raises(ValidationError, match="null is not allowed"):
        IdTagInfo.model_validate({"status": "Accepted", "expiryDate": None})
    assert not ORACLES["AuthorizeResponse"].is_valid(
        {"idTagInfo": {"status": "Accepted", "expiryDate": None}}
    )


def test_wire_types_are_strict() -> None:
    """No coercion: "12" and 1.0 are not integers, 1 is not a string, 1 is not a date-time."""
    base = {"startPeriod": 0, "limit": 16}
    for bad in ({"startPeriod": "12"}, {"startPeriod": 1.0}, {"startPeriod": True}):
        with pytest.raises(ValidationError):
            ChargingSchedulePeriod.model_validate({**base, **bad})
    with pytest.raises(ValidationError):
        BootNotificationRequest.model_validate({"chargePointVendor": 1, "chargePointModel": "m"})
    with pytest.raises(ValidationError):
        HeartbeatResponse.model_validate({"currentTime": 1704067200})
    assert ChargingSchedulePeriod.model_validate({**base, "limit": 0.3}).limit == 0.3


def test_date_times_are_read_in_any_offset_and_written_in_utc() -> None:
    """Offsets and naive times in, `Z` out; fractions beyond milliseconds are dropped."""
    cases = {
        "2024-01-01T10:00:00+02:00": "2024-01-01T08:00:00Z",
        "2024-01-01t10:00:00.123456789z": "2024-01-01T10:00:00.123Z",
        "2024-01-01T10:00:00": "2024-01-01T10:00:00Z",
    }
    for given_, written in cases.items():
        assert HeartbeatResponse.model_validate({"currentTime": given_}).to_payload() == {
            "currentTime": written
        }


def test_empty_meter_value_lists_are_tolerated() -> None:
    """OCA's MeterValues.req has no minItems; the `ocpp` copy's minItems 1 is not enforced."""
    empty = {"connectorId": 1, "meterValue": []}
    assert not ORACLES["MeterValues"].is_valid(empty)
    assert MeterValuesRequest.model_validate(empty).to_payload() == empty


def test_years_before_1000_are_padded_on_output() -> None:
    """RFC 3339 wants four year digits; `0999-...` must not come out as `999-...`."""
    payload = HeartbeatResponse.model_validate({"currentTime": "0999-01-01T00:00:00Z"}).to_payload()
    assert payload == {"currentTime": "0999-01-01T00:00:00Z"}
