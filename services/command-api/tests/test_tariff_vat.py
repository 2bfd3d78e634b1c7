"""A tariff's VAT rate over REST and in the console's form: 0 to 100 percent, 2 decimals, null
for none; anything else a 422 naming `vat`, answered before any I/O."""

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


NEW = {"name": "VAT", "pricePerKwh": 0.3, "currency": "EUR"}


@pytest.mark.parametrize(
    ("vat", "kind", "message"),
    [
        (100.01, "less_than_equal", "Input should be less than or equal to 100"),
        (-1, "greater_than_equal", "Input should be greater than or equal to 0"),
        (19.125, "decimal_max_places", "Decimal input should have no more than 2 decimal places"),
        ("nineteen", "decimal_parsing", "Input should be a valid decimal"),
        (True, "decimal_type", "Decimal input should be an integer, float, string or Decimal"),
    ],
)
async def test_a_rate_out_of_range_is_a_422_naming_vat(
    api: httpx.AsyncClient, vat: Any, kind: str, message: str
) -> None:
    created = await api.post("/tariffs", json=NEW | {"vat": vat})
    changed = await api.patch("/tariffs/1", json={"vat": vat})
    for response in (created, changed):
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        [error] = response.json()["errors"]
        assert (error["type"], error["loc"]) == (kind, ["body", "vat"])
        assert error["msg"].startswith(message)


def test_a_rate_of_0_to_100_with_2_decimals_or_none_is_taken() -> None:
    for vat in (0, 7.7, 19, "21.50", 100):
        assert NewTariff.model_validate(NEW | {"vat": vat}).vat == Decimal(str(vat))
    assert NewTariff.model_validate(NEW).vat is None
    # A change that sends null clears the rate; one that leaves it out keeps it.
    assert TariffChange.model_validate({"vat": None}).model_dump(exclude_unset=True) == {
        "vat": None
    }
    assert "vat" not in TariffChange.model_validate({"name": "x"}).model_dump(exclude_unset=True)


def test_the_console_form_sends_the_rate_and_an_emptied_one_clears_it() -> None:
    form = FormData({"name": "VAT", "pricePerKwh": "0.3", "currency": "EUR", "vat": "19"})
    assert NewTariff(**_fields(form, new=True)).vat == Decimal(19)  # type: ignore[arg-type]
    assert "vat" not in _fields(FormData({"name": "VAT"}), new=True)
    assert _fields(FormData({"name": "VAT", "vat": ""}), new=False)["vat"] is None
