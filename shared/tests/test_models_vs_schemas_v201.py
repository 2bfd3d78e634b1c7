"""The OCPP 2.0.1 models against the official JSON schemas of the `ocpp` package (the oracle).

For each of the 128 schemas (request and response of the 64 actions) the checks of
`schema_oracle`: generated payloads and their mutants get the model's verdict equal to the
schema's apart from `KNOWN_LENIENCIES` (schema rejects, model accepts) and `KNOWN_STRICTNESS`
(schema accepts, model rejects), `to_payload()` satisfies the schema and keeps vendor properties
of `customData`, and the model's own JSON schema has the official shape, array and number bounds
included.

The oracle is `jsonschema.Draft6Validator`, the dialect the 2.0.1 schemas declare: there 1.0 is
an integer, and the models agree (`_model.Integer`).
"""

from dataclasses import fields
from pathlib import Path

import jsonschema
import ocpp
import pytest
from pydantic import ValidationError
from pydantic.alias_generators import to_camel

from csms_shared.ocpp import OcppModel, v16, v201
from csms_shared.ocpp.v201 import (
    ACTIONS,
    CP_TO_CS_ACTIONS,
    CS_TO_CP_ACTIONS,
    Action,
    ActionSpec,
    AttributeEnum,
    BootNotificationRequest,
    BootReasonEnum,
    ChargingSchedulePeriod,
    ChargingStation,
    CustomData,
    DataTransferRequest,
    DCChargingParameters,
    Direction,
    GetVariableData,
    HeartbeatResponse,
    MeterValuesRequest,
    StatusInfo,
    TransactionEventRequest,
)

from .schema_oracle import (
    DATE_TIME_RANGE,
    INT32_BOUNDS,
    INT64_BOUNDS,
    NAIVE_DATE_TIME,
    PYTHON_NAMES,
    SchemaOracle,
    ShapeRules,
    check_shape,
    load_schemas,
)

pytestmark = pytest.mark.filterwarnings("ignore:Overriding standard format 'date-time'")

SCHEMAS = load_schemas(Path(ocpp.__file__).parent / "v201" / "schemas")
SCHEMA_NAMES = sorted(SCHEMAS)


def model_for(schema_name: str) -> type[OcppModel]:
    """The model of a schema file: `XRequest` / `XResponse` of action X."""
    if schema_name.endswith("Request"):
        return ACTIONS[schema_name.removesuffix("Request")].request
    return ACTIONS[schema_name.removesuffix("Response")].response


# Schema rejects, model accepts. Every oracle error of such a payload must match one of these.
KNOWN_LENIENCIES = (NAIVE_DATE_TIME, PYTHON_NAMES)

# Schema accepts, model rejects. Every model error of such a payload must contain one of these.
KNOWN_STRICTNESS = {**DATE_TIME_RANGE, **INT64_BOUNDS, **INT32_BOUNDS}

ORACLE = SchemaOracle(
    SCHEMAS, jsonschema.Draft6Validator, model_for, KNOWN_LENIENCIES, KNOWN_STRICTNESS
)
ORACLES = ORACLE.validators


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_model_agrees_with_schema(name: str) -> None:
    """Generated payloads and their mutants: same verdict from the model as from the schema."""
    ORACLE.check_generated(name, max_examples=6, max_items=2, keep_items=1)


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_model_has_the_schema_shape(name: str) -> None:
    """The model's JSON schema: properties, required, types, lengths, enums, bounds."""
    check_shape(model_for(name), ORACLE.inlined[name], ShapeRules(bounds=True))


def test_actions_cover_every_schema() -> None:
    """64 actions, named as the schema files, each with a request and a response model."""
    assert len(ACTIONS) == len(Action) == 64
    assert {f"{a}{kind}" for a in ACTIONS for kind in ("Request", "Response")} == set(SCHEMAS)
    for spelling, spec in ACTIONS.items():
        assert spec.action == spelling == spec.action.value
        assert spec.request.__name__ == f"{spelling}Request"
        assert spec.response.__name__ == f"{spelling}Response"
        assert issubclass(spec.request, OcppModel) and issubclass(spec.response, OcppModel)


def test_action_directions() -> None:
    """Who initiates each action, from the use cases of OCPP 2.0.1 part 2."""
    from_charging_station = {
        "Authorize",  # C01
        "BootNotification",  # B01
        "ClearedChargingLimit",  # K13
        "DataTransfer",  # P02 (and P01 the other way)
        "FirmwareStatusNotification",  # L01
        "Get15118EVCertificate",  # M01, M02
        "GetCertificateStatus",  # M06
        "Heartbeat",  # G02
        "LogStatusNotification",  # N01
        "MeterValues",  # J01
        "NotifyChargingLimit",  # K12
        "NotifyCustomerInformation",  # N09
        "NotifyDisplayMessages",  # O03
        "NotifyEVChargingNeeds",  # K15
        "NotifyEVChargingSchedule",  # K15
        "NotifyEvent",  # N07
        "NotifyMonitoringReport",  # N02
        "NotifyReport",  # B07
        "PublishFirmwareStatusNotification",  # L03, from a Local Controller
        "ReportChargingProfiles",  # K09
        "ReservationStatusUpdate",  # H04
        "SecurityEventNotification",  # A04
        "SignCertificate",  # A02
        "StatusNotification",  # G01
        "TransactionEvent",  # E01
    }
    assert CP_TO_CS_ACTIONS == from_charging_station
    assert CS_TO_CP_ACTIONS == (set(ACTIONS) - from_charging_station) | {"DataTransfer"}
    assert (len(CP_TO_CS_ACTIONS), len(CS_TO_CP_ACTIONS)) == (25, 40)
    assert [a for a, spec in ACTIONS.items() if spec.direction is Direction.BOTH] == [
        "DataTransfer"
    ]


def test_actions_api_is_the_one_of_v16() -> None:
    """Callers treat both versions alike: same Direction values, same ActionSpec fields."""
    assert [(d.name, d.value) for d in Direction] == [(d.name, d.value) for d in v16.Direction]
    assert [f.name for f in fields(ActionSpec)] == [f.name for f in fields(v16.ActionSpec)]
    assert all(Direction[direction.name] == direction for direction in v16.Direction)


def test_python_none_means_absent_but_json_null_is_refused() -> None:
    """Keyword None leaves an optional out; a null in a payload (or assigned) is a violation."""
    made = StatusInfo(reason_code="x", additional_info=None, custom_data=None)
    assert made.to_payload() == {"reasonCode": "x"}
    with pytest.raises(ValidationError, match="null is not allowed"):
        StatusInfo.model_validate({"reasonCode": "x", "additionalInfo": None})
    assert not ORACLES["BootNotificationResponse"].is_valid(
        {
            "currentTime": "2024-01-01T00:00:00Z",
            "interval": 1,
            "status": "Accepted",
            "statusInfo": {"reasonCode": "x", "additionalInfo": None},
        }
    )
    with pytest.raises(ValidationError, match="null is not allowed"):
        made.additional_info = None


def test_data_transfer_data_is_any_json_null_included() -> None:
    """`data` has no type in the schema: any JSON value, null too, written back as it came."""
    for data in (None, {"a": [1, None, "x"]}, "text", 1.5, [], False):
        payload = {"vendorId": "ACME", "data": data}
        assert ORACLES["DataTransferRequest"].is_valid(payload)
        assert DataTransferRequest.model_validate(payload).to_payload() == payload
    assert DataTransferRequest(vendor_id="ACME", data=None).to_payload() == {"vendorId": "ACME"}


def test_custom_data_keeps_vendor_properties() -> None:
    """customData allows any property besides vendorId; they come back out unchanged."""
    custom = {"vendorId": "ACME", "x": None, "nested": {"n": [1, 2.5]}, "vendor_id": 7}
    payload = {
        "reason": "PowerUp",
        "chargingStation": {"model": "M", "vendorName": "V", "customData": custom},
    }
    assert ORACLES["BootNotificationRequest"].is_valid(payload)
    request = BootNotificationRequest.model_validate(payload)
    assert request.charging_station.custom_data is not None
    assert request.charging_station.custom_data.vendor_id == "ACME"
    assert request.to_payload() == payload
    made = ChargingStation(model="M", vendor_name="V", custom_data=CustomData(vendor_id="ACME"))
    assert made.to_payload() == {
        "model": "M",
        "vendorName": "V",
        "customData": {"vendorId": "ACME"},
    }
    with pytest.raises(ValidationError):
        CustomData.model_validate({"x": 1})


def test_defaults_are_not_filled_in() -> None:
    """A schema `default` is what an absent field means; to_payload() leaves it absent."""
    event = {
        "eventType": "Started",
        "timestamp": "2024-01-01T00:00:00Z",
        "triggerReason": "Authorized",
        "seqNo": 0,
        "transactionInfo": {"transactionId": "T1"},
    }
    assert TransactionEventRequest.model_validate(event).to_payload() == event
    variable = GetVariableData.model_validate(
        {"component": {"name": "C"}, "variable": {"name": "V"}}
    )
    assert variable.attribute_type is None
    assert "attributeType" not in variable.to_payload()
    assert (
        GetVariableData(
            component=variable.component,
            variable=variable.variable,
            attribute_type=AttributeEnum.TARGET,
        ).to_payload()["attributeType"]
        == "Target"
    )


def test_wire_names_that_to_camel_does_not_give_have_aliases() -> None:
    """`fullSoC`, `bulkSoC`, `responderURL` get explicit aliases; digits stay on their word."""
    soc = DCChargingParameters(ev_max_current=1, ev_max_voltage=2, full_soc=80, bulk_soc=60)
    assert soc.to_payload() == {"evMaxCurrent": 1, "evMaxVoltage": 2, "fullSoC": 80, "bulkSoC": 60}
    models = [getattr(v201, name) for name in v201.__all__]
    explicit = {}
    for model in models:
        if isinstance(model, type) and issubclass(model, OcppModel):
            for name, info in model.model_fields.items():
                assert info.alias is not None
                if info.alias_priority == 2:
                    explicit[f"{model.__name__}.{name}"] = info.alias
                else:
                    assert info.alias == to_camel(name), (model, name)
    assert explicit == {
        "DCChargingParameters.bulk_soc": "bulkSoC",
        "DCChargingParameters.full_soc": "fullSoC",
        "OCSPRequestData.responder_url": "responderURL",
    }
    assert "iso15118_schema_version" in v201.Get15118EVCertificateRequest.model_fields
    assert "language1" in v201.IdTokenInfo.model_fields


def set_charging_profile(period: dict[str, object]) -> dict[str, object]:
    """A SetChargingProfileRequest payload whose one schedule has the one `period`."""
    schedule = {"id": 1, "chargingRateUnit": "A", "chargingSchedulePeriod": [period]}
    return {
        "evseId": 0,
        "chargingProfile": {
            "id": 1,
            "stackLevel": 0,
            "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Absolute",
            "chargingSchedule": [schedule],
        },
    }


def test_wire_types_are_strict() -> None:
    """No coercion between JSON types; 1.0 is an integer as draft-06 says, 1 a number."""
    base = {"startPeriod": 0, "limit": 16}
    assert ORACLES["SetChargingProfileRequest"].is_valid(set_charging_profile(base))
    for bad in ({"startPeriod": "12"}, {"startPeriod": True}, {"limit": "16"}, {"limit": True}):
        with pytest.raises(ValidationError):
            ChargingSchedulePeriod.model_validate({**base, **bad})
        assert not ORACLES["SetChargingProfileRequest"].is_valid(
            set_charging_profile({**base, **bad})
        )
    whole = ChargingSchedulePeriod.model_validate({**base, "startPeriod": 1.0})
    assert whole.start_period == 1 and isinstance(whole.start_period, int)
    assert whole.to_payload() == {"startPeriod": 1, "limit": 16.0}
    with pytest.raises(ValidationError):
        ChargingSchedulePeriod.model_validate({**base, "startPeriod": 1.5})
    with pytest.raises(ValidationError):
        BootNotificationRequest.model_validate(
            {"reason": "PowerUp", "chargingStation": {"model": 1, "vendorName": "V"}}
        )
    with pytest.raises(ValidationError):
        HeartbeatResponse.model_validate({"currentTime": 1704067200})


def test_numbers_beyond_a_double_are_refused() -> None:
    """The documented strictness of `Number`: the schema takes any number, the model a double."""
    huge = {"startPeriod": 0, "limit": 10**400}
    assert ORACLES["SetChargingProfileRequest"].is_valid(set_charging_profile(huge))
    with pytest.raises(ValidationError, match="valid number"):
        ChargingSchedulePeriod.model_validate(huge)


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


def test_min_items_and_max_items() -> None:
    """Arrays: at least one item everywhere in 2.0.1, at most maxItems where there is one."""
    meter_value = {"timestamp": "2024-01-01T00:00:00Z", "sampledValue": [{"value": 1}]}
    assert MeterValuesRequest.model_validate({"evseId": 1, "meterValue": [meter_value]})
    with pytest.raises(ValidationError):
        MeterValuesRequest.model_validate({"evseId": 1, "meterValue": []})
    with pytest.raises(ValidationError):
        DCChargingParameters.model_validate({"evMaxCurrent": 1, "evMaxVoltage": 1, "fullSoC": 101})


def test_keyword_construction_of_a_request() -> None:
    """Python callers build messages by snake_case keywords and send `to_payload()`."""
    request = BootNotificationRequest(
        charging_station=ChargingStation(model="X1", vendor_name="ACME"),
        reason=BootReasonEnum.POWER_UP,
    )
    assert request.to_payload() == {
        "chargingStation": {"model": "X1", "vendorName": "ACME"},
        "reason": "PowerUp",
    }
    assert ORACLES["BootNotificationRequest"].is_valid(request.to_payload())
