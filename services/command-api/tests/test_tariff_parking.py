"""A tariff's parking fee over REST and in the console's form: per minute, 0 or more, 4
decimals, 0 when left out, never cleared; anything else a 422 naming `parkingPerMinuteFee`,
answered before any I/O."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.datastructures import FormData

from command_api.api.deps import Admin, get_state
from command_api.api.tariffs import NewTariff, TariffChange
from command_api.app import create_app
from command_api.auth import Principal, Role
from command_api.console.tariffs import _fields
from command_api.settings import Settings


@pytest.fixture(scope="module")
def app() -> FastAPI:
    """The API without its lifespan: an admin is let in, and nothing reaches the services."""
    app = create_app(Settings())
    admin = Principal(key_id="k", name="test", role=Role.ADMIN)
    app.dependency_overrides[Admin.__metadata__[0].dependency] = lambda: admin
    app.dependency_overrides[get_state] = lambda: None
    return app


@pytest.fixture
async def api(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api/api/v1") as client:
        yield client


NEW = {"name": "Parking", "pricePerKwh": 0.3, "currency": "EUR"}
FIELD = "parkingPerMinuteFee"


@pytest.mark.parametrize(
    ("fee", "kind", "message"),
    [
        (-0.01, "greater_than_equal", "Input should be greater than or equal to 0"),
        (0.12345, "decimal_max_places", "Decimal input should have no more than 4 decimal places"),
        (10**9, "decimal_whole_digits", "Decimal input should have no more than 8 digits before"),
        ("ten", "decimal_parsing", "Input should be a valid decimal"),
        (True, "decimal_type", "Decimal input should be an integer, float, string or Decimal"),
    ],
)
async def test_a_fee_out_of_range_is_a_422_naming_it(
    api: httpx.AsyncClient, fee: Any, kind: str, message: str
) -> None:
    created = await api.post("/tariffs", json=NEW | {FIELD: fee})
    changed = await api.patch("/tariffs/1", json={FIELD: fee})
    for response in (created, changed):
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        [error] = response.json()["errors"]
        assert (error["type"], error["loc"]) == (kind, ["body", FIELD])
        assert error["msg"].startswith(message)


async def test_a_fee_sent_as_null_in_a_change_is_a_422_it_cannot_be_cleared(
    api: httpx.AsyncClient,
) -> None:
    response = await api.patch("/tariffs/1", json={FIELD: None})
    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert f"{FIELD} cannot be cleared" in error["msg"]


def test_a_fee_of_0_or_more_with_4_decimals_is_taken_0_when_left_out() -> None:
    for fee in (0, "0.0833", 1, "12.5"):
        taken = NewTariff.model_validate(NEW | {FIELD: fee}).parking_per_minute_fee
        assert taken == Decimal(str(fee))
    assert NewTariff.model_validate(NEW).parking_per_minute_fee == 0
    # Left out of a change, it stays as it is.
    unchanged = TariffChange.model_validate({"name": "x"}).model_dump(exclude_unset=True)
    assert "parking_per_minute_fee" not in unchanged


def test_the_console_form_sends_the_fee_0_when_a_new_tariff_leaves_it_empty() -> None:
    form = FormData({"name": "P", "pricePerKwh": "0.3", "currency": "EUR", FIELD: "0.25"})
    new = NewTariff(**_fields(form, new=True))  # type: ignore[arg-type]
    assert new.parking_per_minute_fee == Decimal("0.25")
    assert _fields(FormData({"name": "P"}), new=True)["parking_per_minute_fee"] == "0"
    # An edit that leaves it empty keeps it.
    assert "parking_per_minute_fee" not in _fields(FormData({"name": "P", FIELD: ""}), new=False)
