"""OCPP 2.0.1 idTokens judged by the rules of auth.py (pure logic, no I/O).

A 2.0.1 IdToken is an id and a type; the list holds ids with the type they are presented as (a
1.6 idTag is an ISO14443 UID). The decision itself is auth.py's, in our terms: this module only
says which list entry a token stands for and spells the decision as 2.0.1's idTokenInfo.
"""

from __future__ import annotations

from csms_shared.ocpp.v201.datatypes import IdToken, IdTokenInfo
from csms_shared.ocpp.v201.enums import AuthorizationStatusEnum, IdTokenEnum

from .auth import Authorization, IdTagRecord

DEFAULT_TYPE = IdTokenEnum.ISO14443.value

# Ids the CSMS (Central: a remote start's token) or the station (Local) made up for a list
# entry: they stand for the entry whatever type the entry is presented as elsewhere.
_ANY_ENTRY = frozenset({IdTokenEnum.CENTRAL, IdTokenEnum.LOCAL})


def needs_no_list(token_type: IdTokenEnum) -> bool:
    """NoAuthorization: the station starts without anyone identified; nothing to look up."""
    return token_type is IdTokenEnum.NO_AUTHORIZATION


def entry_for(tag: IdTagRecord | None, token_type: IdTokenEnum) -> IdTagRecord | None:
    """The list entry `token_type` reaches: an entry of another type is another token (an
    ISO15693 card is not the ISO14443 card of the same number), hence unknown."""
    if tag is None or token_type in _ANY_ENTRY or tag.type == token_type.value:
        return tag
    return None


def _group(tag: IdTagRecord) -> IdToken | None:
    if tag.parent_id_tag is None:
        return None
    # A parent that is no entry itself is a plain group id: Central, made up by the CSMS.
    parent_type = tag.parent_type or IdTokenEnum.CENTRAL.value
    return IdToken(id_token=tag.parent_id_tag, type=IdTokenEnum(parent_type))


def token_info(info: Authorization, tag: IdTagRecord | None) -> IdTokenInfo:
    """The decision `info` about list entry `tag` (None: not on the list) as an idTokenInfo:
    groupIdToken from the parent tag, cacheExpiryDateTime from the entry's expiry, the
    chargingPriority when it is not 0."""
    answer = IdTokenInfo(status=info.decision.to_v201())
    if tag is None:
        return answer
    if tag.expiry_date is not None:
        answer.cache_expiry_date_time = tag.expiry_date
    if (group := _group(tag)) is not None:
        answer.group_id_token = group
    if tag.charging_priority:
        # Optional in the spec, 0 its default: said only when it is not 0.
        answer.charging_priority = tag.charging_priority
    return answer


def accepted() -> IdTokenInfo:
    """What a NoAuthorization token earns."""
    return IdTokenInfo(status=AuthorizationStatusEnum.ACCEPTED)
