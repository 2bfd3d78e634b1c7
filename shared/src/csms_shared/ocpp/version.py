"""The OCPP versions the suite speaks, and the WebSocket subprotocol each is agreed by."""

from __future__ import annotations

from enum import StrEnum


class OcppVersion(StrEnum):
    """An OCPP version as the REST API, the events and the registry spell it."""

    V16 = "1.6"
    V201 = "2.0.1"

    @property
    def subprotocol(self) -> str:
        """The WebSocket subprotocol that agrees on this version (`ocpp1.6`, `ocpp2.0.1`)."""
        return f"ocpp{self.value}"

    @classmethod
    def of_subprotocol(cls, subprotocol: str | None) -> OcppVersion:
        """The version a connection agreed on; 1.6 when it agreed on none (a CP that offers
        no subprotocol is spoken to in 1.6, as before 2.0.1 was supported)."""
        for version in cls:
            if subprotocol == version.subprotocol:
                return version
        return cls.V16
