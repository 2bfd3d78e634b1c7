"""The console's location editor: the form's fields make the LocationSettings body the REST
route takes, a stored location fills the form in and saves back unchanged, rows are added and
removed, and a refusal's problems are shown beside the fields they name."""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi import HTTPException
from pydantic import ValidationError
from starlette.datastructures import FormData

from command_api.auth import Principal, Role
from command_api.console import roaming_location_form as location_form
from command_api.console.roaming_location_form import Refusal, answer_problems, shown_path
from command_api.console.roaming_locations import Editor
from command_api.console.web import templates
from csms_shared.contracts.rpc_roaming_locations import LocationSettings

CONNECTOR_2 = "evses.0.connectors.1"
POSTED = [
    ("csrf_token", "t"),
    ("id", "HH-HARBOUR"),
    ("name", "Harbour car park"),
    ("address", "Kaiserkai 1"),
    ("postalCode", "20457"),
    ("city", "Hamburg"),
    ("state", ""),
    ("country", "DEU"),
    ("coordinates.latitude", "53.5413"),
    ("coordinates.longitude", " 9.9847 "),
    ("timeZone", "Europe/Berlin"),
    ("siteId", ""),
    ("parkingType", "PARKING_GARAGE"),
    ("facilities", "CAFE"),
    ("facilities", "WIFI"),
    ("chargingWhenClosed", ""),
    ("publish", "on"),
    ("openingTimes.regularHours.0.weekday", "1"),
    ("openingTimes.regularHours.0.periodBegin", "08:00"),
    ("openingTimes.regularHours.0.periodEnd", "20:00"),
    ("evses.0.chargePointId", "CP001"),
    ("evses.0.evseId", "1"),
    ("evses.0.emi3Id", "DE*CSM*E0001*1"),
    ("evses.0.uid", ""),
    ("evses.0.physicalReference", "1a"),
    ("evses.0.floorLevel", "-1"),
    ("evses.0.coordinates.latitude", ""),
    ("evses.0.coordinates.longitude", ""),
    ("evses.0.capabilities", "RFID_READER"),
    ("evses.0.capabilities", "REMOTE_START_STOP_CAPABLE"),
    ("evses.0.connectors.0.connectorId", "1"),
    ("evses.0.connectors.0.standard", "IEC_62196_T2"),
    ("evses.0.connectors.0.format", "SOCKET"),
    ("evses.0.connectors.0.powerType", "AC_3_PHASE"),
    ("evses.0.connectors.0.maxVoltage", "230"),
    ("evses.0.connectors.0.maxAmperage", "32"),
    ("evses.0.connectors.0.maxElectricPower", "22000"),
    ("evses.0.connectors.0.tariffIds", ""),
    (f"{CONNECTOR_2}.connectorId", "2"),
    (f"{CONNECTOR_2}.standard", "IEC_62196_T2_COMBO"),
    (f"{CONNECTOR_2}.format", "CABLE"),
    (f"{CONNECTOR_2}.powerType", "DC"),
    (f"{CONNECTOR_2}.maxVoltage", "920"),
    (f"{CONNECTOR_2}.maxAmperage", "200"),
    (f"{CONNECTOR_2}.maxElectricPower", ""),
    (f"{CONNECTOR_2}.tariffIds", "AC-1, DC-2"),
]


def _posted(**replaced: str) -> FormData:
    return FormData([(k, replaced.get(k, v)) for k, v in POSTED])


def test_the_form_makes_the_body_the_rest_route_takes() -> None:
    draft = location_form.posted_draft(_posted())
    assert location_form.location_id(draft) == "HH-HARBOUR"
    assert location_form.settings(draft) == LocationSettings.model_validate(
        {
            "name": "Harbour car park",
            "address": "Kaiserkai 1",
            "city": "Hamburg",
            "postalCode": "20457",
            "country": "DEU",
            "coordinates": {"latitude": 53.5413, "longitude": 9.9847},
            "timeZone": "Europe/Berlin",
            "parkingType": "PARKING_GARAGE",
            "facilities": ["CAFE", "WIFI"],
            "openingTimes": {
                "twentyfourseven": False,
                "regularHours": [{"weekday": 1, "periodBegin": "08:00", "periodEnd": "20:00"}],
            },
            "evses": [
                {
                    "chargePointId": "CP001",
                    "evseId": 1,
                    "emi3Id": "DE*CSM*E0001*1",
                    "capabilities": ["RFID_READER", "REMOTE_START_STOP_CAPABLE"],
                    "physicalReference": "1a",
                    "floorLevel": "-1",
                    "connectors": [
                        {
                            "connectorId": 1,
                            "standard": "IEC_62196_T2",
                            "format": "SOCKET",
                            "powerType": "AC_3_PHASE",
                            "maxVoltage": 230,
                            "maxAmperage": 32,
                            "maxElectricPower": 22000,
                        },
                        {
                            "connectorId": 2,
                            "standard": "IEC_62196_T2_COMBO",
                            "format": "CABLE",
                            "powerType": "DC",
                            "maxVoltage": 920,
                            "maxAmperage": 200,
                            "tariffIds": ["AC-1", "DC-2"],
                        },
                    ],
                }
            ],
        }
    )


def test_open_around_the_clock_or_not_stated() -> None:
    always = [*POSTED, ("openingTimes.twentyfourseven", "on")]
    opening = location_form.settings(location_form.posted_draft(FormData(always))).opening_times
    # As a PUT may give them: 24/7, and the hours too (published as they are).
    assert opening is not None and opening.model_dump() == {
        "twentyfourseven": True,
        "regular_hours": [{"weekday": 1, "period_begin": "08:00", "period_end": "20:00"}],
    }
    no_hours = [(k, v) for k, v in POSTED if not k.startswith("openingTimes")]
    draft = location_form.posted_draft(FormData([*no_hours, ("chargingWhenClosed", "false")]))
    body = location_form.settings(draft)
    assert (body.opening_times, body.charging_when_closed) == (None, False)
    unpublished = [(k, v) for k, v in POSTED if k != "publish"]
    hidden = location_form.settings(location_form.posted_draft(FormData(unpublished)))
    assert hidden.publish is False


def _flattened(draft: dict[str, Any], at: str = "") -> list[tuple[str, str]]:
    """The form a browser posts of a draft's inputs (checkboxes "on" when checked)."""
    pairs: list[tuple[str, str]] = []
    for key, value in draft.items():
        name = f"{at}{key}"
        if isinstance(value, bool):
            pairs += [(name, "on")] if value else []
        elif isinstance(value, dict):
            pairs += _flattened(value, f"{name}.")
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            for i, row in enumerate(value):
                pairs += _flattened(row, f"{name}.{i}.")
        elif isinstance(value, list):
            pairs += [(name, v) for v in value]
        else:
            pairs.append((name, value))
    return pairs


def test_a_stored_location_fills_the_form_in_and_saves_back_unchanged() -> None:
    stored = location_form.settings(location_form.posted_draft(_posted()))
    stored = stored.model_copy(
        update={"site_id": 7, "charging_when_closed": True, "publish": False}
    )
    draft = location_form.stored_draft("HH-HARBOUR", stored)
    assert draft["evses"][0]["connectors"][1]["tariffIds"] == "AC-1, DC-2"
    again = location_form.posted_draft(FormData(_flattened(draft)))
    assert location_form.settings(again) == stored
    assert stored.opening_times is not None
    always = stored.opening_times.model_copy(update={"twentyfourseven": True})
    stored = stored.model_copy(update={"opening_times": always})
    draft = location_form.stored_draft("HH-HARBOUR", stored)
    again = location_form.posted_draft(FormData(_flattened(draft)))
    assert location_form.settings(again) == stored


def test_rows_are_added_and_removed() -> None:
    draft = location_form.posted_draft(_posted())
    draft, focus = location_form.changed(draft, "add-evse")
    assert (len(draft["evses"]), focus) == (2, "evses.1.chargePointId")
    assert draft["evses"][1]["connectors"] == [location_form.blank_connector(1)]
    draft, focus = location_form.changed(draft, "add-connector-0")
    assert focus == "evses.0.connectors.2.connectorId"
    assert [c["connectorId"] for c in draft["evses"][0]["connectors"]] == ["1", "2", "3"]
    draft, focus = location_form.changed(draft, "remove-connector-0-0")
    assert focus == "add-connector-0"
    assert [c["connectorId"] for c in draft["evses"][0]["connectors"]] == ["2", "3"]
    draft, focus = location_form.changed(draft, "remove-evse-0")
    assert (len(draft["evses"]), focus) == (1, "add-evse")
    draft, focus = location_form.changed(draft, "add-hours")
    assert focus == "openingTimes.regularHours.1.weekday"
    draft, _ = location_form.changed(draft, "remove-hours-0")
    assert draft["openingTimes"]["regularHours"] == [location_form.blank_hours()]
    # A row that is not there (a form posted twice) changes nothing.
    assert location_form.changed(draft, "remove-evse-5") == (draft, "")


def _refused(form: FormData) -> Refusal:
    refusal = Refusal()
    with pytest.raises(ValidationError) as exc:
        location_form.settings(location_form.posted_draft(form))
    refusal.add_invalid(exc.value)
    return refusal


def test_what_the_model_refuses_is_named_by_its_field() -> None:
    refusal = _refused(
        _posted(
            **{
                "coordinates.latitude": "91",
                f"{CONNECTOR_2}.maxVoltage": "many",
                "address": "",
            }
        )
    )
    assert set(refusal.fields) == {
        "address",
        "coordinates.latitude",
        f"{CONNECTOR_2}.maxVoltage",
    }
    assert refusal.fields["coordinates.latitude"] == "Input should be less than or equal to 90"
    assert refusal.status == 422
    assert "evses[0].connectors[1].maxVoltage: Input should be a valid integer" in " ".join(
        refusal.listed()
    )
    with pytest.raises(ValidationError) as bad_id:
        location_form.location_id({"id": "no spaces"})
    refusal.add_invalid(bad_id.value, ("id",))
    assert "id" in refusal.fields


def test_the_roaming_services_refusals() -> None:
    assert answer_problems(
        "The location cannot be published: evses.0.connectors.0.standard: Input should be"
        " 'CHADEMO' or 'CHAOJI'; parkingType: Input should be 'ON_STREET'"
    ) == [
        ("evses.0.connectors.0.standard", "Input should be 'CHADEMO' or 'CHAOJI'"),
        ("parkingType", "Input should be 'ON_STREET'"),
    ]
    refusal = Refusal()
    refusal.add_answer(
        HTTPException(422, "The location cannot be published: timeZone: unknown IANA time zone")
    )
    refusal.add_answer(
        HTTPException(422, "The location cannot be published: evses.1.connectors.0.standard: no")
    )
    assert refusal.fields == {"timeZone": "unknown IANA time zone"}
    # The OCPI Location orders its EVSEs by uid: its index need not be the form's row.
    assert refusal.general == ["In the OCPI Location, evses[1].connectors[0].standard: no"]
    odd = Refusal()
    odd.add_answer(HTTPException(422, "The location cannot be published: something else"))
    assert (odd.fields, odd.general) == ({}, ["The location cannot be published: something else"])
    conflict = Refusal()
    conflict.add_answer(HTTPException(409, "EVSE 1 of 'CP001' is published in location X"))
    assert (conflict.status, conflict.conflict, conflict.fields) == (
        409,
        "EVSE 1 of 'CP001' is published in location X",
        {},
    )
    assert shown_path("evses.10.connectors.2.maxVoltage") == "evses[10].connectors[2].maxVoltage"


def _rendered(editor: Editor) -> str:
    page = SimpleNamespace(csrf_token="t", principal=Principal("k", "op", Role.OPERATOR))
    return templates.get_template("roaming_location_form.html").render(
        page=page, Role=Role, editor=editor
    )


def test_the_form_shows_each_problem_beside_its_field() -> None:
    editor = Editor(location_form.posted_draft(_posted()), "/roaming/locations", new=True)
    editor.refusal = _refused(_posted(**{"coordinates.latitude": "91"}))
    editor.refusal.general.append("In the OCPI Location, evses[1].x: no")
    html = _rendered(editor)
    latitude = re.search(r'<input name="coordinates.latitude"[^>]*>', html)
    assert latitude is not None
    assert 'aria-invalid="true" aria-describedby="problem-coordinates.latitude"' in latitude[0]
    assert (
        '<span class="field-problem" id="problem-coordinates.latitude"'
        ' data-problem="coordinates.latitude">Input should be less than or equal to 90</span>'
    ) in html
    assert "<li>In the OCPI Location, evses[1].x: no</li>" in html
    assert 'value="HH-HARBOUR"' in html  # what was typed stays
    assert "<option selected>IEC_62196_T2_COMBO</option>" in html


def test_an_edit_has_no_id_field_and_focuses_the_new_row() -> None:
    draft, focus = location_form.changed(location_form.posted_draft(_posted()), "add-evse")
    editor = Editor(draft, "/roaming/locations/HH-HARBOUR", new=False, focus=focus)
    html = _rendered(editor)
    assert 'name="id"' not in html
    assert re.search(r'<input name="evses.1.chargePointId"[^>]* autofocus>', html)
    assert 'value="remove-connector-0-1"' in html
    assert "field-problem" not in html and "location-problems" not in html


def test_the_choices_are_ocpis() -> None:
    ocpi = pytest.importorskip("roaming.ocpi.locations")
    for offered, enum in [
        (location_form.CAPABILITIES, ocpi.Capability),
        (location_form.CONNECTOR_FORMATS, ocpi.ConnectorFormat),
        (location_form.CONNECTOR_STANDARDS, ocpi.ConnectorType),
        (location_form.FACILITIES, ocpi.Facility),
        (location_form.PARKING_RESTRICTIONS, ocpi.ParkingRestriction),
        (location_form.PARKING_TYPES, ocpi.ParkingType),
        (location_form.POWER_TYPES, ocpi.PowerType),
    ]:
        assert offered == tuple(e.value for e in enum)
