"""Each OCPP version's actions, looked up by version: the one place that picks 1.6's or 2.0.1's.

Both versions' `actions` modules have the same shape (`ACTIONS`, `CP_TO_CS_ACTIONS`,
`CS_TO_CP_ACTIONS`, `ActionSpec` with `request`, `response` and `direction`), so whatever
checks a frame against its action (the gateway, the services' pipeline, command-api) asks here
with the connection's version and never imports a version's module itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from ._base import OcppModel
from .v16 import actions as v16
from .v201 import actions as v201
from .version import OcppVersion


class Spec(Protocol):
    """An action's payload models, whichever version's `ActionSpec` it is."""

    @property
    def request(self) -> type[OcppModel]: ...

    @property
    def response(self) -> type[OcppModel]: ...


@dataclass(frozen=True, slots=True)
class Catalog:
    """One version's actions: every action's models, and who may send which."""

    version: OcppVersion
    actions: Mapping[str, Spec]
    # CALLs a station may send to the central system, and the other way round.
    from_station: frozenset[str]
    to_station: frozenset[str]
    # Station CALLs whose answer carries no decision (ARCHITECTURE.md, "two kinds of calls"):
    # answered once the broker has confirmed the persistent publish.
    notifications: frozenset[str]

    def spec(self, action: str) -> Spec | None:
        """The models of `action`, or None when this version has no such action."""
        return self.actions.get(action)

    def is_notification(self, action: str, payload: Mapping[str, Any]) -> bool:
        """Whether this (valid) call's answer decides nothing: a notification action, or a
        2.0.1 TransactionEvent Updated without an idToken. The central system's answer to that
        one is always empty (idTokenInfo answers an idToken, totalCost an Ended; the suite sends
        no running cost or personal message), and the transaction it updates is the fold of its
        events in any order, so it can be answered once the broker has it, as MeterValues are:
        most of a 2.0.1 station's traffic is these."""
        if action in self.notifications:
            return True
        return (
            self.version is OcppVersion.V201
            and action == "TransactionEvent"
            and payload.get("eventType") == "Updated"
            and "idToken" not in payload
        )

    def answered_apart(self, action: str, payload: Mapping[str, Any]) -> bool:
        """Whether this (valid) call ends a transaction (`ends_transaction`) and can be
        answered without what comes before it when its owner is behind: its answer is at most
        the decision about the token it names (a 1.6 StopTransaction's idTagInfo, a 2.0.1
        Ended's idTokenInfo), which the transaction's bulk data does not change; a 2.0.1 Ended
        answered so goes without totalCost. Such a call is taken once the broker holds it and
        answered apart after a while (docs/ARCHITECTURE.md, "Decisions first")."""
        return self.ends_transaction(action, payload)

    def ends_transaction(self, action: str, payload: Mapping[str, Any]) -> bool:
        """Whether this (valid) call ends a transaction: 1.6 StopTransaction, a 2.0.1
        TransactionEvent Ended. Its answer is computed from what the station sent before it
        (the cost told at the end, the CDR's periods), so it keeps its place behind the
        station's bulk data on `ocpp.calls` rather than go first on `ocpp.decisions`: bulk
        data is stored in order per transaction (docs/ARCHITECTURE.md, "Decisions first")."""
        if self.version is OcppVersion.V16:
            return action == "StopTransaction"
        return action == "TransactionEvent" and payload.get("eventType") == "Ended"


_V16 = Catalog(
    OcppVersion.V16,
    v16.ACTIONS,
    v16.CP_TO_CS_ACTIONS,
    v16.CS_TO_CP_ACTIONS,
    frozenset(
        {
            "Heartbeat",
            "StatusNotification",
            "MeterValues",
            "DiagnosticsStatusNotification",
            "FirmwareStatusNotification",
            "SignedFirmwareStatusNotification",
            "LogStatusNotification",
            "SecurityEventNotification",
        }
    ),
)

_V201 = Catalog(
    OcppVersion.V201,
    v201.ACTIONS,
    v201.CP_TO_CS_ACTIONS,
    v201.CS_TO_CP_ACTIONS,
    # Every 2.0.1 station CALL whose response holds nothing but customData, and Heartbeat.
    frozenset(
        {
            "Heartbeat",
            "StatusNotification",
            "MeterValues",
            "FirmwareStatusNotification",
            "PublishFirmwareStatusNotification",
            "LogStatusNotification",
            "SecurityEventNotification",
            "NotifyReport",
            "NotifyEvent",
            "NotifyMonitoringReport",
            "NotifyChargingLimit",
            "ClearedChargingLimit",
            "NotifyCustomerInformation",
            "NotifyDisplayMessages",
            "ReportChargingProfiles",
            "ReservationStatusUpdate",
        }
    ),
)

CATALOGS: Mapping[OcppVersion, Catalog] = {OcppVersion.V16: _V16, OcppVersion.V201: _V201}


def catalog(version: OcppVersion) -> Catalog:
    """The actions of `version`."""
    return CATALOGS[version]


def other_versions_action(version: OcppVersion, action: str) -> OcppVersion | None:
    """The other version that has `action` when `version` has not (for an error that says
    which version spells it), or None."""
    if action in CATALOGS[version].actions:
        return None
    for other, found in CATALOGS.items():
        if other != version and action in found.actions:
            return other
    return None
