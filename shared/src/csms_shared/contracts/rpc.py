"""RPC methods: the model of each one's params, validated before the handler runs, and of its
result (`resources.py`, and the few answers only services read, below).

A request whose params do not fit its method's model is answered `invalid` with what is wrong
(`limit: Input should be less than or equal to 1000`), and its handler never runs. Params are
camelCase on the wire; numbers and booleans may come as strings, as query strings carry them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel

from . import resources as r
from .rpc_base import (
    BIGINT,
    MESSAGE_LOG,
    REGISTRY,
    SESSIONS,
    ChargePointId,
    IdToken,
    LongPaged,
    NoParams,
    Paged,
    RpcParams,
    StoredStatus,
    Text16,
    Text24,
    Text50,
    Text100,
    Text500,
    TimeRange,
)
from .rpc_registry import (
    CONNECTOR_TYPES,
    Address,
    AuthorizationKey,
    AuthorizeConnections,
    ConnectorInfo,
    Coordinates,
    DecommissionChargePoint,
    Filter,
    Handshake,
    ListChargePoints,
    ListConnectors,
    ListOperations,
    MetadataPatch,
    OfChargePoint,
    PageOfChargePoint,
    StageAuthorizationKey,
    Tag,
    Text100Lax,
    UpdateChargePointMetadata,
    UpdateChargePointSettings,
)
from .rpc_sessions import (
    BuildLocalList,
    CloseStaleTransaction,
    CreateIdTag,
    CreateTariff,
    EnergyReport,
    GetTransaction,
    ListIdTags,
    ListLogs,
    ListMessages,
    ListMeterValues,
    ListReservations,
    ListTariffs,
    ListTransactions,
    ListUnmatchedStops,
    OfChargePointId,
    OfIdTag,
    OfTariff,
    OfTransaction,
    SetLevel,
    TailMessages,
    TariffOfChargePoint,
    UpdateIdTag,
    UpdateTariff,
    When,
)

__all__ = [
    "BIGINT",
    "CONNECTOR_TYPES",
    "MESSAGE_LOG",
    "REGISTRY",
    "RPC_METHODS",
    "SESSIONS",
    "Address",
    "AdmissionDecision",
    "AdmissionDecisions",
    "AuthorizationKey",
    "AuthorizeConnections",
    "BuildLocalList",
    "ChargePointId",
    "CloseStaleTransaction",
    "ConnectorInfo",
    "Coordinates",
    "CreateIdTag",
    "CreateTariff",
    "DecommissionChargePoint",
    "EnergyReport",
    "FeatureProfiles",
    "Filter",
    "GetTransaction",
    "Handshake",
    "IdTagDeleted",
    "IdToken",
    "KeyCommitted",
    "KeyDiscarded",
    "KeyStaged",
    "ListChargePoints",
    "ListConnectors",
    "ListIdTags",
    "ListLogs",
    "ListMessages",
    "ListMeterValues",
    "ListOperations",
    "ListReservations",
    "ListTariffs",
    "ListTransactions",
    "ListUnmatchedStops",
    "LocalListPlan",
    "LongPaged",
    "MessageLogLevels",
    "MessageTail",
    "MetadataPatch",
    "NoParams",
    "OfChargePoint",
    "OfChargePointId",
    "OfIdTag",
    "OfTariff",
    "OfTransaction",
    "PageOfChargePoint",
    "Paged",
    "RpcMethod",
    "RpcParams",
    "SetLevel",
    "StageAuthorizationKey",
    "StoredStatus",
    "Tag",
    "TailMessages",
    "TariffDeleted",
    "TariffOfChargePoint",
    "Text16",
    "Text24",
    "Text50",
    "Text100",
    "Text100Lax",
    "Text500",
    "TimeRange",
    "UpdateChargePointMetadata",
    "UpdateChargePointSettings",
    "UpdateIdTag",
    "UpdateTariff",
    "When",
]


# -- results no REST resource shows --------------------------------------------------------


class AdmissionDecision(r.Resource):
    """May a handshake open a connection (and if not, the HTTP status to refuse it with)."""

    allowed: bool
    status: int = 200
    reason: str = ""
    security_profile: int = 0
    registration_status: str = "Accepted"
    authenticated: bool = False


class AdmissionDecisions(r.Resource):
    """A decision per handshake, in the handshakes' order."""

    decisions: list[AdmissionDecision]


class KeyStaged(r.Resource):
    """A new AuthorizationKey is accepted beside the current one."""

    id: str
    staged: bool


class KeyCommitted(r.Resource):
    """The staged AuthorizationKey is the CP's only key now."""

    id: str
    committed: bool


class KeyDiscarded(r.Resource):
    """The staged AuthorizationKey was dropped."""

    id: str
    discarded: bool


class IdTagDeleted(r.Resource):
    """An idTag left the authorization list."""

    id_tag: str
    deleted: bool


class TariffDeleted(r.Resource):
    """A tariff that priced no transaction was removed."""

    tariff_id: int
    deleted: bool


class FeatureProfiles(r.Resource):
    """A CP's SupportedFeatureProfiles as its configuration snapshot has them (null: unknown)."""

    supported_feature_profiles: list[str] | None


class LocalListPlan(r.Resource):
    """The SendLocalList to send next, and how many id tags the CP's list holds after it."""

    charge_point_id: str
    list_version: int
    update_type: Literal["Full", "Differential"]
    local_authorization_list: list[dict[str, object]]
    size: int


class MessageLogLevels(r.Resource):
    """Every CP's message log level override."""

    levels: dict[str, str]


class MessageTail(r.Resource):
    """A CP's records from a position on, oldest first, each item's position beside it;
    `position`: where to ask from next; `more`: more records than `limit` (a flood)."""

    items: list[r.MessageRecord]
    positions: list[str]
    position: str
    more: bool


# -- the catalogue ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RpcMethod:
    """An RPC method: the service answering it, the model of its params and of its result."""

    name: str
    service: str
    params: type[RpcParams]
    result: type[BaseModel] = r.Resource


_METHODS = [
    RpcMethod("list_charge_points", REGISTRY, ListChargePoints, r.Page[r.ChargePoint]),
    RpcMethod("get_charge_point", REGISTRY, OfChargePoint, r.ChargePoint),
    RpcMethod("status_history", REGISTRY, PageOfChargePoint, r.Page[r.StatusRecord]),
    RpcMethod("list_connectors", REGISTRY, ListConnectors, r.Page[r.ConnectorOfChargePoint]),
    RpcMethod("status_summary", REGISTRY, NoParams, r.SuiteStatus),
    RpcMethod("operations", REGISTRY, ListOperations, r.Page[r.Operation]),
    RpcMethod("data_transfers", REGISTRY, PageOfChargePoint, r.Page[r.DataTransferRecord]),
    RpcMethod("certificate_requests", REGISTRY, PageOfChargePoint, r.Page[r.CertificateRequest]),
    RpcMethod("security_events", REGISTRY, PageOfChargePoint, r.Page[r.SecurityEvent]),
    RpcMethod("recent_security_events", REGISTRY, Paged, r.Page[r.NetworkSecurityEvent]),
    RpcMethod("authorize_connections", REGISTRY, AuthorizeConnections, AdmissionDecisions),
    RpcMethod("approve_charge_point", REGISTRY, OfChargePoint, r.Approval),
    RpcMethod(
        "update_charge_point_settings", REGISTRY, UpdateChargePointSettings, r.ChargePointSecurity
    ),
    RpcMethod("revoke_authorization_key", REGISTRY, OfChargePoint, r.ChargePointSecurity),
    RpcMethod("stage_authorization_key", REGISTRY, StageAuthorizationKey, KeyStaged),
    RpcMethod("commit_authorization_key", REGISTRY, OfChargePoint, KeyCommitted),
    RpcMethod("discard_authorization_key", REGISTRY, OfChargePoint, KeyDiscarded),
    RpcMethod("energy_report", SESSIONS, EnergyReport, r.EnergyReport),
    RpcMethod("list_meter_values", SESSIONS, ListMeterValues, r.Page[r.MeterValue]),
    RpcMethod("list_reservations", SESSIONS, ListReservations, r.Page[r.Reservation]),
    RpcMethod("list_transactions", SESSIONS, ListTransactions, r.Page[r.Transaction]),
    RpcMethod("get_transaction", SESSIONS, GetTransaction, r.TransactionDetail),
    RpcMethod("close_stale_transaction", SESSIONS, CloseStaleTransaction, r.TransactionDetail),
    RpcMethod("list_unmatched_stops", SESSIONS, ListUnmatchedStops, r.Page[r.UnmatchedStop]),
    RpcMethod("create_id_tag", SESSIONS, CreateIdTag, r.IdTag),
    RpcMethod("get_id_tag", SESSIONS, OfIdTag, r.IdTag),
    RpcMethod("list_id_tags", SESSIONS, ListIdTags, r.Page[r.IdTag]),
    RpcMethod("update_id_tag", SESSIONS, UpdateIdTag, r.IdTag),
    RpcMethod("delete_id_tag", SESSIONS, OfIdTag, IdTagDeleted),
    RpcMethod("block_id_tag", SESSIONS, OfIdTag, r.IdTag),
    RpcMethod("unblock_id_tag", SESSIONS, OfIdTag, r.IdTag),
    RpcMethod("get_local_list_version", SESSIONS, OfChargePointId, r.LocalListVersion),
    RpcMethod("build_local_list", SESSIONS, BuildLocalList, LocalListPlan),
    RpcMethod("list_tariffs", SESSIONS, ListTariffs, r.Page[r.Tariff]),
    RpcMethod("get_tariff", SESSIONS, OfTariff, r.Tariff),
    RpcMethod("create_tariff", SESSIONS, CreateTariff, r.Tariff),
    RpcMethod("update_tariff", SESSIONS, UpdateTariff, r.Tariff),
    RpcMethod("delete_tariff", SESSIONS, OfTariff, TariffDeleted),
    RpcMethod("tariff_of_charge_point", SESSIONS, TariffOfChargePoint, r.AppliedTariff),
    RpcMethod("feature_profiles", REGISTRY, OfChargePoint, FeatureProfiles),
    RpcMethod("update_charge_point_metadata", REGISTRY, UpdateChargePointMetadata, r.ChargePoint),
    RpcMethod("decommission_charge_point", REGISTRY, DecommissionChargePoint, r.ChargePoint),
    RpcMethod("messages.list", MESSAGE_LOG, ListMessages, r.MessagePage),
    RpcMethod("messages.since", MESSAGE_LOG, TailMessages, MessageTail),
    RpcMethod("logs.list", MESSAGE_LOG, ListLogs, r.Page[r.LogEntry]),
    RpcMethod("levels.list", MESSAGE_LOG, NoParams, MessageLogLevels),
    RpcMethod("levels.set", MESSAGE_LOG, SetLevel, r.MessageLogLevelSet),
]
RPC_METHODS: dict[str, RpcMethod] = {method.name: method for method in _METHODS}
