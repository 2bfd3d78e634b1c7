"""RPC methods: the model of each one's params, validated before the handler runs, and of its
result (`resources.py`, and the few answers only services read in `rpc_results.py`); the
load-manager's in `rpc_loads.py` and `rpc_profiles.py`.

A request whose params do not fit its method's model is answered `invalid` with what is wrong
(`limit: Input should be less than or equal to 1000`), and its handler never runs. Params are
camelCase on the wire; numbers and booleans may come as strings, as query strings carry them.
"""

from __future__ import annotations

from typing import Any

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
    RpcMethod,
    RpcParams,
    StoredStatus,
    Text16,
    Text24,
    Text50,
    Text100,
    Text500,
    TimeRange,
)
from .rpc_loads import LoadsRpc
from .rpc_profiles import ProfilesRpc
from .rpc_registry import (
    CONNECTOR_TYPES,
    Address,
    AuthorizationKey,
    AuthorizeConnections,
    ChargePointIds,
    ConnectorInfo,
    Coordinates,
    DecommissionChargePoint,
    Filter,
    Handshake,
    ListChargePoints,
    ListConnectors,
    ListOperations,
    ListStationMessages,
    ListVariables,
    MetadataPatch,
    OfChargePoint,
    PageOfChargePoint,
    StageAuthorizationKey,
    Tag,
    Text100Lax,
    UpdateChargePointMetadata,
    UpdateChargePointSettings,
)
from .rpc_results import (
    AdmissionDecision,
    AdmissionDecisions,
    EndedIdTokenInfo,
    FeatureProfiles,
    IdTagDeleted,
    KeyCommitted,
    KeyDiscarded,
    KeyStaged,
    KnownChargePoints,
    LocalListPlan,
    MessageListing,
    MessageLogLevels,
    MessageTail,
    StationVersion,
    StopIdTagInfo,
    TariffDeleted,
)
from .rpc_roaming import RoamingRpc
from .rpc_sessions import (
    BuildLocalList,
    CloseStaleTransaction,
    CreateIdTag,
    CreateTariff,
    EndedIdToken,
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
    StopIdTag,
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
    "ChargePointIds",
    "CloseStaleTransaction",
    "ConnectorInfo",
    "Coordinates",
    "CreateIdTag",
    "CreateTariff",
    "DecommissionChargePoint",
    "EndedIdToken",
    "EndedIdTokenInfo",
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
    "KnownChargePoints",
    "ListChargePoints",
    "ListConnectors",
    "ListIdTags",
    "ListLogs",
    "ListMessages",
    "ListMeterValues",
    "ListOperations",
    "ListReservations",
    "ListStationMessages",
    "ListTariffs",
    "ListTransactions",
    "ListUnmatchedStops",
    "ListVariables",
    "LoadsRpc",
    "LocalListPlan",
    "LongPaged",
    "MessageListing",
    "MessageLogLevels",
    "MessageLogRpc",
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
    "ProfilesRpc",
    "RegistryRpc",
    "RoamingRpc",
    "RpcMethod",
    "RpcParams",
    "SessionsRpc",
    "SetLevel",
    "StageAuthorizationKey",
    "StationVersion",
    "StopIdTag",
    "StopIdTagInfo",
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


# -- the catalogue: every method, named by a typed object at call sites and handlers ---------


class RegistryRpc:
    """The station-registry's RPC methods."""

    list_charge_points = RpcMethod(
        "list_charge_points", REGISTRY, ListChargePoints, r.Page[r.ChargePoint]
    )
    get_charge_point = RpcMethod("get_charge_point", REGISTRY, OfChargePoint, r.ChargePoint)
    status_history = RpcMethod(
        "status_history", REGISTRY, PageOfChargePoint, r.Page[r.StatusRecord]
    )
    list_connectors = RpcMethod(
        "list_connectors", REGISTRY, ListConnectors, r.Page[r.ConnectorOfChargePoint]
    )
    status_summary = RpcMethod("status_summary", REGISTRY, NoParams, r.SuiteStatus)
    operations = RpcMethod("operations", REGISTRY, ListOperations, r.Page[r.Operation])
    data_transfers = RpcMethod(
        "data_transfers", REGISTRY, PageOfChargePoint, r.Page[r.DataTransferRecord]
    )
    certificate_requests = RpcMethod(
        "certificate_requests", REGISTRY, PageOfChargePoint, r.Page[r.CertificateRequest]
    )
    security_events = RpcMethod(
        "security_events", REGISTRY, PageOfChargePoint, r.Page[r.SecurityEvent]
    )
    recent_security_events = RpcMethod(
        "recent_security_events", REGISTRY, Paged, r.Page[r.NetworkSecurityEvent]
    )
    authorize_connections = RpcMethod(
        "authorize_connections", REGISTRY, AuthorizeConnections, AdmissionDecisions
    )
    known_charge_points = RpcMethod(
        "known_charge_points", REGISTRY, ChargePointIds, KnownChargePoints
    )
    approve_charge_point = RpcMethod("approve_charge_point", REGISTRY, OfChargePoint, r.Approval)
    update_charge_point_settings = RpcMethod(
        "update_charge_point_settings", REGISTRY, UpdateChargePointSettings, r.ChargePointSecurity
    )
    revoke_authorization_key = RpcMethod(
        "revoke_authorization_key", REGISTRY, OfChargePoint, r.ChargePointSecurity
    )
    stage_authorization_key = RpcMethod(
        "stage_authorization_key", REGISTRY, StageAuthorizationKey, KeyStaged
    )
    commit_authorization_key = RpcMethod(
        "commit_authorization_key", REGISTRY, OfChargePoint, KeyCommitted
    )
    discard_authorization_key = RpcMethod(
        "discard_authorization_key", REGISTRY, OfChargePoint, KeyDiscarded
    )
    feature_profiles = RpcMethod("feature_profiles", REGISTRY, OfChargePoint, FeatureProfiles)
    station_version = RpcMethod("station_version", REGISTRY, OfChargePoint, StationVersion)
    update_charge_point_metadata = RpcMethod(
        "update_charge_point_metadata", REGISTRY, UpdateChargePointMetadata, r.ChargePoint
    )
    decommission_charge_point = RpcMethod(
        "decommission_charge_point", REGISTRY, DecommissionChargePoint, r.ChargePoint
    )
    list_variables = RpcMethod("list_variables", REGISTRY, ListVariables, r.Page[r.DeviceVariable])
    station_messages = RpcMethod(
        "station_messages", REGISTRY, ListStationMessages, r.Page[r.StationMessage]
    )


class SessionsRpc:
    """The session-service's RPC methods."""

    energy_report = RpcMethod("energy_report", SESSIONS, EnergyReport, r.EnergyReport)
    list_meter_values = RpcMethod(
        "list_meter_values", SESSIONS, ListMeterValues, r.Page[r.MeterValue]
    )
    list_reservations = RpcMethod(
        "list_reservations", SESSIONS, ListReservations, r.Page[r.Reservation]
    )
    list_transactions = RpcMethod(
        "list_transactions", SESSIONS, ListTransactions, r.Page[r.Transaction]
    )
    get_transaction = RpcMethod("get_transaction", SESSIONS, GetTransaction, r.TransactionDetail)
    running_cost = RpcMethod("running_cost", SESSIONS, OfTransaction, r.RunningCost)
    close_stale_transaction = RpcMethod(
        "close_stale_transaction", SESSIONS, CloseStaleTransaction, r.TransactionDetail
    )
    list_unmatched_stops = RpcMethod(
        "list_unmatched_stops", SESSIONS, ListUnmatchedStops, r.Page[r.UnmatchedStop]
    )
    stop_id_tag_info = RpcMethod("stop_id_tag_info", SESSIONS, StopIdTag, StopIdTagInfo)
    ended_id_token_info = RpcMethod("ended_id_token_info", SESSIONS, EndedIdToken, EndedIdTokenInfo)
    create_id_tag = RpcMethod("create_id_tag", SESSIONS, CreateIdTag, r.IdTag)
    get_id_tag = RpcMethod("get_id_tag", SESSIONS, OfIdTag, r.IdTag)
    list_id_tags = RpcMethod("list_id_tags", SESSIONS, ListIdTags, r.Page[r.IdTag])
    update_id_tag = RpcMethod("update_id_tag", SESSIONS, UpdateIdTag, r.IdTag)
    delete_id_tag = RpcMethod("delete_id_tag", SESSIONS, OfIdTag, IdTagDeleted)
    block_id_tag = RpcMethod("block_id_tag", SESSIONS, OfIdTag, r.IdTag)
    unblock_id_tag = RpcMethod("unblock_id_tag", SESSIONS, OfIdTag, r.IdTag)
    get_local_list_version = RpcMethod(
        "get_local_list_version", SESSIONS, OfChargePointId, r.LocalListVersion
    )
    build_local_list = RpcMethod("build_local_list", SESSIONS, BuildLocalList, LocalListPlan)
    list_tariffs = RpcMethod("list_tariffs", SESSIONS, ListTariffs, r.Page[r.Tariff])
    get_tariff = RpcMethod("get_tariff", SESSIONS, OfTariff, r.Tariff)
    create_tariff = RpcMethod("create_tariff", SESSIONS, CreateTariff, r.Tariff)
    update_tariff = RpcMethod("update_tariff", SESSIONS, UpdateTariff, r.Tariff)
    delete_tariff = RpcMethod("delete_tariff", SESSIONS, OfTariff, TariffDeleted)
    tariff_of_charge_point = RpcMethod(
        "tariff_of_charge_point", SESSIONS, TariffOfChargePoint, r.AppliedTariff
    )


class MessageLogRpc:
    """The message-log's RPC methods."""

    messages_list = RpcMethod("messages.list", MESSAGE_LOG, ListMessages, MessageListing)
    messages_since = RpcMethod("messages.since", MESSAGE_LOG, TailMessages, MessageTail)
    logs_list = RpcMethod("logs.list", MESSAGE_LOG, ListLogs, r.Page[r.LogEntry])
    levels_list = RpcMethod("levels.list", MESSAGE_LOG, NoParams, MessageLogLevels)
    levels_set = RpcMethod("levels.set", MESSAGE_LOG, SetLevel, r.MessageLogLevelSet)


RPC_METHODS: dict[str, RpcMethod[Any, Any]] = {
    method.name: method
    for catalogue in (RegistryRpc, SessionsRpc, MessageLogRpc, LoadsRpc, ProfilesRpc, RoamingRpc)
    for method in vars(catalogue).values()
    if isinstance(method, RpcMethod)
}
