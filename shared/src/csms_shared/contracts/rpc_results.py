"""The results of RPC methods that no REST resource shows (named in `rpc.py`): admission
decisions, key rotation steps, deletions, a station's version, the local list to send next, the
message log's levels and its pages with each record's position."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..bus.message_log import MessageLogLevel
from ..ocpp.v16.datatypes import IdTagInfo
from ..ocpp.v201.datatypes import IdTokenInfo
from ..ocpp.version import OcppVersion
from ..vocabulary.local_lists import ListEntry
from .resources_base import Resource
from .resources_messages import MessagePage, MessageRecord


class AdmissionDecision(Resource):
    """May a handshake open a connection (and if not, the HTTP status to refuse it with)."""

    allowed: bool
    status: int = 200
    reason: str = ""
    security_profile: int = 0
    registration_status: str = "Accepted"
    authenticated: bool = False
    # The id is a charge point the registry knows (its refusals are worth recording per CP).
    known: bool = False


class KnownChargePoints(Resource):
    """Those of the ids asked about that are charge points the registry knows."""

    known: list[str]


class AdmissionDecisions(Resource):
    """A decision per handshake, in the handshakes' order."""

    decisions: list[AdmissionDecision]


class KeyStaged(Resource):
    """A new AuthorizationKey is accepted beside the current one."""

    id: str
    staged: bool


class KeyCommitted(Resource):
    """The staged AuthorizationKey is the CP's only key now."""

    id: str
    committed: bool


class KeyDiscarded(Resource):
    """The staged AuthorizationKey was dropped."""

    id: str
    discarded: bool


class IdTagDeleted(Resource):
    """An idTag left the authorization list."""

    id_tag: str
    deleted: bool


class TariffDeleted(Resource):
    """A tariff that priced no transaction was removed."""

    tariff_id: int
    deleted: bool


class FeatureProfiles(Resource):
    """A CP's SupportedFeatureProfiles as its configuration snapshot has them (null: unknown)."""

    supported_feature_profiles: list[str] | None


class StationVersion(Resource):
    """The OCPP version a station's connection speaks, as the registry last saw it agreed (null:
    never connected or booted); `known` false: the registry never saw the station. The narrow
    read a command takes before it is sent (`get_charge_point` reads the whole station)."""

    known: bool
    ocpp_version: OcppVersion | None = None


class StopIdTagInfo(Resource):
    """The idTagInfo a 1.6 StopTransaction's answer carries for the idTag it names, judged as
    the list has it (`stop_id_tag_info`)."""

    id_tag_info: IdTagInfo


class EndedIdTokenInfo(Resource):
    """The idTokenInfo a 2.0.1 TransactionEvent Ended's answer carries for its idToken
    (`ended_id_token_info`)."""

    id_token_info: IdTokenInfo


class LocalListPlan(Resource):
    """The SendLocalList to send next (in our terms; `csms_shared.ocpp.local_list` spells it
    in the station's version), and how many tokens the CP's list holds after it."""

    charge_point_id: str
    list_version: int
    update_type: Literal["Full", "Differential"]
    entries: list[ListEntry]
    size: int
    left_out: int = Field(
        default=0,
        description="Id tags (and roaming tokens) the station's version cannot hold (1.6:"
        " over 20 characters, or in a group whose id is), left out of its list",
    )


class MessageLogLevels(Resource):
    """Every CP's message log level override."""

    levels: dict[str, MessageLogLevel]


class MessageListing(MessagePage):
    """A page of a CP's records with each item's position beside it (for the console, which
    follows the log from there; the REST page leaves them out)."""

    positions: list[str]


class MessageTail(Resource):
    """A CP's records from a position on, oldest first, each item's position beside it;
    `position`: where to ask from next; `more`: more records than `limit` (a flood)."""

    items: list[MessageRecord]
    positions: list[str]
    position: str
    more: bool
