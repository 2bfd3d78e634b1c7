"""Station, EVSE, connector: an EVSE has connectors; a 1.6 connector n is EVSE n with its one
connector (1), and 1.6's connector 0 is the station itself (EVSE 0)."""

from __future__ import annotations

from typing import NamedTuple


class ConnectorRef(NamedTuple):
    """A connector of a station: its EVSE (0: the station as a whole) and its number within
    that EVSE (0: the EVSE as a whole)."""

    evse_id: int
    connector_id: int

    @classmethod
    def from_v16(cls, connector_id: int) -> ConnectorRef:
        """1.6 connector n: EVSE n, connector 1 (0: the station, EVSE 0 connector 0)."""
        return cls(connector_id, 1 if connector_id > 0 else 0)

    @classmethod
    def from_v201(cls, evse_id: int | None, connector_id: int | None) -> ConnectorRef:
        """2.0.1's evse (id, connectorId), either left out meaning the whole above it."""
        return cls(evse_id or 0, connector_id or 0)

    def to_v16(self) -> int:
        """The 1.6 connectorId: the EVSE."""
        return self.evse_id
