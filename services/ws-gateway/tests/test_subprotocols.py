"""Which OCPP version a CP that offers several is spoken to in."""

from __future__ import annotations

from typing import Any

import pytest
from websockets.typing import Subprotocol

from csms_shared.ocpp.version import OcppVersion
from ws_gateway.handshake import SUBPROTOCOLS, subprotocol_chooser
from ws_gateway.settings import Settings


def offered(*names: str) -> list[Subprotocol]:
    return [Subprotocol(name) for name in names]


CONNECTION: Any = None  # the chooser does not look at the connection


@pytest.mark.parametrize(
    ("preferred", "offers", "chosen"),
    [
        (OcppVersion.V201, ("ocpp1.6", "ocpp2.0.1"), "ocpp2.0.1"),
        (OcppVersion.V16, ("ocpp2.0.1", "ocpp1.6"), "ocpp1.6"),
        (OcppVersion.V201, ("ocpp1.6",), "ocpp1.6"),
        (OcppVersion.V16, ("ocpp2.0.1", "ocpp2.1"), "ocpp2.0.1"),
        (OcppVersion.V201, ("ocpp2.1", "wamp"), None),
    ],
)
def test_the_preferred_version_wins_when_offered(
    preferred: OcppVersion, offers: tuple[str, ...], chosen: str | None
) -> None:
    assert subprotocol_chooser(preferred)(CONNECTION, offered(*offers)) == chosen


def test_the_gateway_speaks_both_versions_and_prefers_2_0_1_by_default() -> None:
    assert set(SUBPROTOCOLS) == {"ocpp1.6", "ocpp2.0.1"}
    assert Settings().preferred_ocpp_version is OcppVersion.V201


def test_the_preference_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_PREFERRED_OCPP_VERSION", "1.6")
    assert Settings().preferred_ocpp_version is OcppVersion.V16
    monkeypatch.setenv("GATEWAY_PREFERRED_OCPP_VERSION", "2.0")
    with pytest.raises(ValueError, match="GATEWAY_PREFERRED_OCPP_VERSION"):
        Settings()
