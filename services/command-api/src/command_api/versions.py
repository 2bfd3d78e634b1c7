"""Which OCPP version a command is checked against: the station's, as the registry records it
from the subprotocol its connection agreed on.

An action of the other version only (RemoteStartTransaction for a 2.0.1 station) is refused
with the station's version and the action that does the same thing in it, so an operator used
to one version finds the other's spelling in the error.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from csms_shared.bus.rpc import RpcError, RpcUnavailable
from csms_shared.contracts.resources import ChargePoint
from csms_shared.contracts.rpc import OfChargePoint, RegistryRpc, StationVersion
from csms_shared.ocpp._base import OcppModel
from csms_shared.ocpp.catalog import CATALOGS, catalog
from csms_shared.ocpp.version import OcppVersion

from .problems import TYPES, ProblemError

if TYPE_CHECKING:
    from .api.deps import AppState

log = logging.getLogger(__name__)

# (1.6 action, 2.0.1 actions that do its work): what an error names when an action is sent to
# a station of the other version. Actions spelt alike in both are not listed.
_PAIRS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("RemoteStartTransaction", ("RequestStartTransaction",)),
    ("RemoteStopTransaction", ("RequestStopTransaction",)),
    ("ChangeConfiguration", ("SetVariables", "SetNetworkProfile")),
    ("GetConfiguration", ("GetVariables", "GetBaseReport", "GetReport")),
    ("GetDiagnostics", ("GetLog",)),
    ("SignedUpdateFirmware", ("UpdateFirmware",)),
    ("ExtendedTriggerMessage", ("TriggerMessage",)),
)


def _matching() -> dict[OcppVersion, dict[str, tuple[str, ...]]]:
    to_v201 = dict(_PAIRS)
    to_v16: dict[str, tuple[str, ...]] = {}
    for v16_action, v201_actions in _PAIRS:
        for action in v201_actions:
            to_v16[action] = (*to_v16.get(action, ()), v16_action)
    # Only actions the station's version lacks: UpdateFirmware is 1.6's too.
    return {
        version: {a: m for a, m in found.items() if a not in catalog(version).to_station}
        for version, found in ((OcppVersion.V201, to_v201), (OcppVersion.V16, to_v16))
    }


# By the station's version: an action of the other version -> the station's matching actions.
MATCHING = _matching()

ALL_ACTIONS: frozenset[str] = frozenset().union(*(c.to_station for c in CATALOGS.values()))


def matching_actions(version: OcppVersion, action: str) -> tuple[str, ...]:
    """The actions of `version` that do what `action` (of the other version) does."""
    return MATCHING[version].get(action, ())


class UnknownAction(ProblemError):
    """422: no version has a CS->CP action of that name."""

    def __init__(self, action: str) -> None:
        super().__init__(
            422,
            f"Unknown action {action!r}; the central system can send: "
            + ", ".join(sorted(ALL_ACTIONS)),
            type=TYPES + "unknown-action",
            title="No OCPP version has this action",
            action=action,
        )


class WrongVersion(ProblemError):
    """422: the action (or its payload) is of an OCPP version the station does not speak."""

    def __init__(self, cp_id: str, version: OcppVersion, action: str) -> None:
        matching = list(matching_actions(version, action))
        if action in catalog(version).to_station:
            # Same name in both: the payload was built for the other version (a 1.6 local
            # list for a 2.0.1 station).
            detail = f"the {action} payload is not of OCPP {version}"
        else:
            detail = f"{action} is not an OCPP {version} action" + (
                f"; send {' or '.join(matching)} instead" if matching else ""
            )
        super().__init__(
            422,
            f"Charge point {cp_id!r} speaks OCPP {version}: {detail}",
            type=TYPES + "wrong-ocpp-version",
            title="The action is not of the charge point's OCPP version",
            ocppVersion=version.value,
            action=action,
            matchingActions=matching,
        )


async def station_version(state: AppState, cp_id: str) -> OcppVersion | None:
    """The version the station's connection speaks (the last one it agreed on): as the replica
    heard it (station_versions.py), else the registry's; None when the registry does not know
    the station, it never connected, or the registry does not answer."""
    versions = state.dispatcher.versions
    kept = versions.get(cp_id)
    if kept is not None:
        return kept
    try:
        version = (await read_station_version(state, cp_id)).ocpp_version
    except (RpcUnavailable, RpcError) as exc:
        log.warning("OCPP version of %s unknown (%s)", cp_id, exc)
        return None
    if version is not None:
        versions.learnt(cp_id, version)
    return version


async def recheck_version(state: AppState, cp_id: str, action: str, checked: OcppVersion) -> None:
    """A gateway rejected a command checked against `checked`: if the station now speaks the
    other version (it reconnected, and the replica had not heard yet), WrongVersion, as when the
    version read was right. The replica's entry goes either way."""
    state.dispatcher.versions.forget(cp_id)
    version = await station_version(state, cp_id)
    if version is not None and version is not checked:
        raise WrongVersion(cp_id, version, action)


async def read_station_version(state: AppState, cp_id: str) -> StationVersion:
    """What the registry knows of the station's version: one narrow read (`station_version`);
    from a registry of the release before, which has no such method (`not_found`), the whole
    station. RpcError or RpcUnavailable when the registry cannot say."""
    rpc = state.dispatcher.rpc
    assert rpc is not None
    timeout = state.settings.rpc_timeout
    try:
        return await rpc.call(RegistryRpc.station_version, OfChargePoint(id=cp_id), timeout)
    except RpcError as exc:
        if exc.code != "not_found":
            raise
    try:
        cp = await rpc.call(RegistryRpc.get_charge_point, OfChargePoint(id=cp_id), timeout)
    except RpcError as exc:
        if exc.code == "not_found":
            return StationVersion(known=False)
        raise
    return StationVersion(known=True, ocpp_version=known_version(cp))


def known_version(cp: ChargePoint) -> OcppVersion | None:
    """The version a charge point's connection speaks; None when it never connected or booted
    (the registry does not assume one)."""
    return OcppVersion(cp.ocpp_version) if cp.ocpp_version else None


def version_for(cp_id: str, known: OcppVersion | None, action: str) -> OcppVersion:
    """The version to check `action` against: the station's (WrongVersion when it lacks the
    action); for a station of unknown version, the one that has the action, 1.6 first (a
    station registered before it ever connected is taken for 1.6, as the registry shows it)."""
    if action not in ALL_ACTIONS:
        raise UnknownAction(action)
    if known is not None:
        if action not in catalog(known).to_station:
            raise WrongVersion(cp_id, known, action)
        return known
    return next(v for v in OcppVersion if action in catalog(v).to_station)


def request_model(version: OcppVersion, action: str) -> type[OcppModel]:
    """The request model of `action` in `version` (an action `version` sends to stations)."""
    spec = catalog(version).spec(action)
    assert spec is not None and action in catalog(version).to_station, (version, action)
    return spec.request


def response_model(version: OcppVersion, action: str) -> type[OcppModel]:
    """The model of a station's answer to `action` in `version` (an action `version` sends)."""
    spec = catalog(version).spec(action)
    assert spec is not None and action in catalog(version).to_station, (version, action)
    return spec.response


def version_of(action: str, payload: OcppModel) -> OcppVersion | None:
    """The version whose `action` request `payload` is, or None when it is neither's."""
    for version, found in CATALOGS.items():
        spec = found.spec(action)
        if spec is not None and type(payload) is spec.request:
            return version
    return None


def parse_request(
    version: OcppVersion, action: str, payload: Any, where: tuple[str, ...] = ("body",)
) -> OcppModel:
    """`payload` as `version`'s `action` request; a 422 naming each field that breaks it."""
    try:
        return request_model(version, action).model_validate(payload)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": (*where, *e["loc"])} for e in exc.errors()]
        ) from None
