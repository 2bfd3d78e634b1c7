"""The Local Authorization List in either version's terms.

Inside, a list (its SendLocalList, what a CP holds) is kept in 1.6's terms: id tag, status,
expiry, parent. A 2.0.1 station gets and returns the same list as idTokens with a type, an
idTokenInfo and a group idToken; these two functions are the whole translation, one each way,
so command-api (which sends lists) and session-service (which records what a station holds)
agree on it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from . import v16, v201

# 1.6's idTags are ISO 14443 card UIDs unless the id tag says otherwise (README, id tags).
DEFAULT_TOKEN_TYPE = v201.IdTokenEnum.ISO14443
# A parent id tag has no card of its own: its group token is the central system's.
GROUP_TOKEN_TYPE = v201.IdTokenEnum.CENTRAL
_V16_STATUSES = {status.value for status in v16.AuthorizationStatus}


def to_v201(
    request: v16.SendLocalListRequest,
    token_types: Mapping[str, str],
    priorities: Mapping[str, int] | None = None,
) -> v201.SendLocalListRequest:
    """`request` as a 2.0.1 station reads it: each id tag an idToken of its type
    (`token_types`, by id tag; ISO14443 when absent), with its chargingPriority (`priorities`,
    by id tag; left out when absent or 0)."""
    entries = [
        _entry_v201(item, token_types, priorities or {})
        for item in request.local_authorization_list or []
    ]
    sent = v201.SendLocalListRequest(
        version_number=request.list_version, update_type=v201.UpdateEnum(request.update_type.value)
    )
    if entries:  # 2.0.1 has minItems 1: an empty list is left out, which says the same
        sent.local_authorization_list = entries
    return sent


def _entry_v201(
    item: v16.AuthorizationData, types: Mapping[str, str], priorities: Mapping[str, int]
) -> v201.AuthorizationData:
    token = v201.IdToken(
        id_token=item.id_tag, type=v201.IdTokenEnum(types.get(item.id_tag, DEFAULT_TOKEN_TYPE))
    )
    info = item.id_tag_info
    if info is None:  # a difference removing the tag
        return v201.AuthorizationData(id_token=token)
    # Only what has a value is set: an optional field of OCPP is left out, never null.
    told = v201.IdTokenInfo(status=v201.AuthorizationStatusEnum(info.status.value))
    if info.expiry_date is not None:
        told.cache_expiry_date_time = info.expiry_date
    if info.parent_id_tag is not None:
        told.group_id_token = v201.IdToken(id_token=info.parent_id_tag, type=GROUP_TOKEN_TYPE)
    if priority := priorities.get(item.id_tag, 0):
        told.charging_priority = priority
    return v201.AuthorizationData(id_token=token, id_token_info=told)


def from_v201(request: v201.SendLocalListRequest) -> v16.SendLocalListRequest:
    """What a 2.0.1 SendLocalList put on the station, in 1.6's terms. A status 1.6 has no
    name for (NoCredit, NotAtThisLocation, ...) keeps the tag off charging: Invalid."""
    entries: Sequence[v201.AuthorizationData] = request.local_authorization_list or []
    return v16.SendLocalListRequest(
        list_version=request.version_number,
        update_type=v16.UpdateType(request.update_type.value),
        local_authorization_list=[_entry_v16(item) for item in entries],
    )


def _entry_v16(item: v201.AuthorizationData) -> v16.AuthorizationData:
    info = item.id_token_info
    if info is None:
        return v16.AuthorizationData(id_tag=item.id_token.id_token)
    status = info.status.value if info.status.value in _V16_STATUSES else "Invalid"
    held = v16.IdTagInfo(status=v16.AuthorizationStatus(status))
    if info.cache_expiry_date_time is not None:
        held.expiry_date = info.cache_expiry_date_time
    if info.group_id_token is not None:
        held.parent_id_tag = info.group_id_token.id_token
    return v16.AuthorizationData(id_tag=item.id_token.id_token, id_tag_info=held)
