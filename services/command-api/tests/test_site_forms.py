"""The console's site and node forms read as the load-manager's params models."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError
from starlette.datastructures import FormData

from command_api.api.sites import NewSite, NewSiteNode
from command_api.console.sites import FormError, new_node, new_site


def test_one_number_in_a_is_the_limit_of_every_phase() -> None:
    site = new_site(FormData({"name": "Garage", "limit": "32"}))
    three = [Decimal(32)] * 3
    assert site == NewSite(name="Garage", limit_amps=three, voltage=230, phases=3)


def test_a_node_in_w_under_its_parent() -> None:
    form = FormData({"name": "Panel", "limit": "22000", "unit": "W", "parentId": "4"})
    node = new_node(form)
    assert node == NewSiteNode(name="Panel", limit_watts=22000, parent_id=4)
    assert (node.voltage, node.phases, node.limit_amps) == (230, 3, None)


def test_what_the_form_or_the_model_refuses() -> None:
    with pytest.raises(FormError, match="limit: a limit in W is one whole number"):
        new_site(FormData({"name": "G", "limit": "1.5", "unit": "W"}))
    with pytest.raises(ValidationError) as refused:
        new_site(FormData({"name": "G", "limit": "16 16", "voltage": "10", "phases": "1"}))
    assert [e["loc"] for e in refused.value.errors()] == [("voltage",)]
