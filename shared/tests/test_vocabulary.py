"""The project's own nouns: every value of each version maps onto them, and back where a
station must be told (issue 43)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from pydantic import ValidationError

from csms_shared.ocpp.v16 import datatypes as d16
from csms_shared.ocpp.v16 import enums as e16
from csms_shared.ocpp.v201 import datatypes as d201
from csms_shared.ocpp.v201 import enums as e201
from csms_shared.vocabulary import (
    AuthorizationDecision,
    ChargingState,
    ConnectorRef,
    ConnectorState,
    ErrorCode,
    IdToken,
    IdTokenType,
    Measurand,
    Reading,
    ReadingContext,
    StatusReport,
    StoppedReason,
    TriggerReason,
    evse_status,
)

AT = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize("status", list(e16.ChargePointStatus))
def test_every_16_status_maps_and_says_the_same_back(status: e16.ChargePointStatus) -> None:
    report = StatusReport.from_v16(status, e16.ChargePointErrorCode.NO_ERROR)
    car = status.value in ("Preparing", "Charging", "SuspendedEV", "SuspendedEVSE", "Finishing")
    assert (report.status is ConnectorState.OCCUPIED) == car
    assert (report.charging_state is not None) == car
    # Preparing and Finishing both say "a car, not charging": back, that is Preparing.
    expected = e16.ChargePointStatus.PREPARING if status.value == "Finishing" else status
    assert report.to_v16() is expected


def test_a_201_occupied_stays_occupied_with_its_charging_state() -> None:
    occupied = StatusReport.from_v201(e201.ConnectorStatusEnum.OCCUPIED)
    assert occupied.status is ConnectorState.OCCUPIED and occupied.charging_state is None
    assert occupied.to_v16() is e16.ChargePointStatus.PREPARING
    charging = StatusReport.from_v201(
        e201.ConnectorStatusEnum.OCCUPIED, e201.ChargingStateEnum.SUSPENDED_EV
    )
    assert charging.charging_state is ChargingState.SUSPENDED_EV
    for status in e201.ConnectorStatusEnum:
        report = StatusReport.from_v201(status)
        assert report.status.value == status.value
        faulted = status is e201.ConnectorStatusEnum.FAULTED
        assert report.error_code is (ErrorCode.OTHER_ERROR if faulted else ErrorCode.NO_ERROR)


@pytest.mark.parametrize("code", list(e16.ChargePointErrorCode))
def test_every_16_error_code_is_ours_and_201_strings_match_it(
    code: e16.ChargePointErrorCode,
) -> None:
    assert StatusReport.from_v16(e16.ChargePointStatus.FAULTED, code).error_code.value == code.value
    assert ErrorCode.parse(code.value.upper()) is ErrorCode(code.value)


def test_an_unknown_error_string_is_other_and_none_is_no_error() -> None:
    assert ErrorCode.parse("Over-Voltage") is ErrorCode.OVER_VOLTAGE
    assert ErrorCode.parse("vendor 0x42") is ErrorCode.OTHER_ERROR
    assert ErrorCode.parse(None) is ErrorCode.NO_ERROR


def test_an_evses_status_comes_from_its_connectors() -> None:
    S = ConnectorState
    assert evse_status([S.AVAILABLE, S.OCCUPIED]) is S.OCCUPIED
    assert evse_status([S.FAULTED, S.AVAILABLE]) is S.AVAILABLE
    assert evse_status([S.FAULTED, S.FAULTED]) is S.FAULTED
    assert evse_status([S.UNAVAILABLE, S.RESERVED]) is S.RESERVED
    assert evse_status([]) is None


def test_a_16_connector_is_an_evse_with_one_connector() -> None:
    assert ConnectorRef.from_v16(2) == ConnectorRef(2, 1)
    assert ConnectorRef.from_v16(0) == ConnectorRef(0, 0)
    assert ConnectorRef.from_v201(3, None) == ConnectorRef(3, 0)
    assert ConnectorRef(2, 1).to_v16() == 2


@pytest.mark.parametrize("status", list(e201.AuthorizationStatusEnum))
def test_every_decision_is_told_to_a_16_station_in_its_words(
    status: e201.AuthorizationStatusEnum,
) -> None:
    decision = AuthorizationDecision.from_v201(status)
    assert decision.to_v201() is status
    in_16 = {s.value for s in e16.AuthorizationStatus}
    assert decision.to_v16().value == (status.value if status.value in in_16 else "Invalid")
    for old in e16.AuthorizationStatus:
        assert AuthorizationDecision.from_v16(old).to_v16() is old


def test_a_token_runs_to_36_characters_and_has_a_type() -> None:
    emaid = IdToken(value="NL-TNM-C00122045-K" + "X" * 18, type=IdTokenType.EMAID)
    assert len(emaid.value) == 36 and not emaid.fits_v16()
    assert IdToken.from_v16("TAG-1").type is IdTokenType.ISO14443
    assert IdToken.from_v16("tag-1").same("TAG-1")
    with pytest.raises(ValidationError):
        IdToken.from_v16("X" * 37)
    with pytest.raises(ValidationError):
        IdToken.from_v16(" padded")
    for kind in e201.IdTokenEnum:
        assert IdToken.from_v201("T", kind).type.to_v201() is kind


def test_201_readings_keep_every_measurand_their_multiplier_and_signed_data() -> None:
    value = d201.MeterValue.model_validate(
        {
            "timestamp": "2026-11-26T10:00:00Z",
            "sampledValue": [
                {"value": 12.5, "measurand": "Energy.Active.Net",
                 "unitOfMeasure": {"unit": "kWh", "multiplier": 3}},
                {"value": 7, "measurand": "Energy.Apparent.Import", "context": "Transaction.End",
                 "signedMeterValue": {"signedMeterData": "OCMF|{...}", "signingMethod": "ECDSA",
                                      "encodingMethod": "OCMF", "publicKey": "pk"}},
            ],
        }
    )  # fmt: skip
    net, apparent = Reading.from_v201(value)
    assert (net.measurand, net.value, net.unit) == (
        Measurand.ENERGY_ACTIVE_NET,
        Decimal("12500.0"),
        "kWh",
    )
    assert apparent.measurand is Measurand.ENERGY_APPARENT_IMPORT
    assert apparent.context is ReadingContext.TRANSACTION_END
    assert apparent.signed is not None and apparent.signed.signed_meter_data == "OCMF|{...}"
    for measurand in e201.MeasurandEnum:
        assert Measurand(measurand.value)


def test_16_readings_keep_signed_data_and_every_measurand() -> None:
    value = d16.MeterValue.model_validate(
        {
            "timestamp": "2026-11-26T10:00:00Z",
            "sampledValue": [
                {"value": "21.5", "measurand": "Temperature", "unit": "Celsius"},
                {"value": "AAECAw==", "format": "SignedData", "context": "Transaction.Begin"},
                {"value": "not a number"},
            ],
        }
    )
    temperature, signed, odd = Reading.from_v16(value)
    assert (temperature.measurand, temperature.value) == (Measurand.TEMPERATURE, Decimal("21.5"))
    assert signed.value is None and signed.signed is not None
    assert signed.signed.signed_meter_data == "AAECAw=="
    assert odd.value is None and odd.measurand is Measurand.ENERGY_ACTIVE_IMPORT_REGISTER
    for measurand in e16.Measurand:
        assert Measurand(measurand.value)


def test_stopped_and_trigger_reasons_of_both_versions_are_ours() -> None:
    for reason in e16.Reason:
        assert StoppedReason.from_v16(reason).to_v16() is reason
    for reason201 in e201.ReasonEnum:
        ours = StoppedReason.from_v201(reason201)
        assert ours.value == reason201.value
        assert ours.to_v16() in set(e16.Reason)
    assert StoppedReason.from_v16(None) is StoppedReason.LOCAL
    assert StoppedReason.IMMEDIATE_RESET.to_v16() is e16.Reason.HARD_RESET
    for trigger in e201.TriggerReasonEnum:
        assert TriggerReason.from_v201(trigger).value == trigger.value
    assert TriggerReason.of_v16_meter_values(True) is TriggerReason.METER_VALUE_CLOCK
    assert TriggerReason.of_v16_meter_values(False) is TriggerReason.METER_VALUE_PERIODIC
