"""The Local Authorization List in either version's terms: our `LocalList` (the vocabulary's)
spelled as each version's SendLocalList, and read back from either; command-api (which sends
lists) and session-service (which records what a station holds) agree on it through these.

A 1.6 station holds idTags of 20 characters at most: the list built for one leaves out longer
tokens (`BuildLocalList` counts them), so `to_v16` never meets one.
"""

from __future__ import annotations

from ..vocabulary.authorization import AuthorizationDecision, id_tag_info
from ..vocabulary.local_lists import ListEntry, LocalList
from ..vocabulary.tokens import IdToken, IdTokenType
from . import v16, v201

# 1.6's idTags are ISO 14443 card UIDs unless the id tag says otherwise (docs/rest.md, Reads).
DEFAULT_TOKEN_TYPE = IdTokenType.ISO14443
# A parent id tag has no card of its own: its group token is the central system's.
GROUP_TOKEN_TYPE = IdTokenType.CENTRAL


def to_v16(listed: LocalList) -> v16.SendLocalListRequest:
    """`listed` as a 1.6 CP reads it (every token fits: see the module)."""
    return v16.SendLocalListRequest(
        list_version=listed.version,
        update_type=v16.UpdateType(listed.update_type),
        local_authorization_list=[_entry_v16(entry) for entry in listed.entries],
    )


def _entry_v16(entry: ListEntry) -> v16.AuthorizationData:
    if entry.decision is None:  # a difference removing the tag
        return v16.AuthorizationData(id_tag=entry.token.value)
    group = entry.group.value if entry.group is not None else None
    info = id_tag_info(entry.decision, entry.expiry, group)
    return v16.AuthorizationData(id_tag=entry.token.value, id_tag_info=info)


def to_v201(listed: LocalList) -> v201.SendLocalListRequest:
    """`listed` as a 2.0.1 station reads it: idTokens with their type, an idTokenInfo with the
    group's idToken and the chargingPriority (left out when 0)."""
    sent = v201.SendLocalListRequest(
        version_number=listed.version, update_type=v201.UpdateEnum(listed.update_type)
    )
    entries = [_entry_v201(entry) for entry in listed.entries]
    if entries:  # 2.0.1 has minItems 1: an empty list is left out, which says the same
        sent.local_authorization_list = entries
    return sent


def _entry_v201(entry: ListEntry) -> v201.AuthorizationData:
    token = v201.IdToken(id_token=entry.token.value, type=entry.token.type.to_v201())
    if entry.decision is None:
        return v201.AuthorizationData(id_token=token)
    told = v201.IdTokenInfo(status=entry.decision.to_v201())
    if entry.expiry is not None:
        told.cache_expiry_date_time = entry.expiry
    if entry.group is not None:
        told.group_id_token = v201.IdToken(id_token=entry.group.value, type=entry.group.type)
    if entry.charging_priority:
        told.charging_priority = entry.charging_priority
    return v201.AuthorizationData(id_token=token, id_token_info=told)


def from_v16(request: v16.SendLocalListRequest) -> LocalList:
    """What a 1.6 SendLocalList put on the CP: ISO14443 tokens, groups of the central's."""
    entries = []
    for item in request.local_authorization_list or []:
        info = item.id_tag_info
        token = IdToken.from_v16(item.id_tag)
        if info is None:
            entries.append(ListEntry(token=token))
            continue
        group = info.parent_id_tag
        entries.append(
            ListEntry(
                token=token,
                decision=AuthorizationDecision.from_v16(info.status),
                expiry=info.expiry_date,
                group=IdToken(value=group, type=GROUP_TOKEN_TYPE) if group else None,
            )
        )
    return LocalList(
        version=request.list_version, update_type=request.update_type.value, entries=entries
    )


def from_v201(request: v201.SendLocalListRequest) -> LocalList:
    """What a 2.0.1 SendLocalList put on the station."""
    entries = []
    for item in request.local_authorization_list or []:
        token = IdToken.from_v201(item.id_token.id_token, item.id_token.type)
        info = item.id_token_info
        if info is None:
            entries.append(ListEntry(token=token))
            continue
        group = info.group_id_token
        entries.append(
            ListEntry(
                token=token,
                decision=AuthorizationDecision.from_v201(info.status),
                expiry=info.cache_expiry_date_time,
                group=IdToken.from_v201(group.id_token, group.type) if group else None,
                charging_priority=info.charging_priority or 0,
            )
        )
    return LocalList(
        version=request.version_number, update_type=request.update_type.value, entries=entries
    )
