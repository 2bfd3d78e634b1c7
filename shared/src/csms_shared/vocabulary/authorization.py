"""An authorization decision: the union of both versions' statuses, said in each station's
version at the edge."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from ..ocpp.v16.datatypes import IdTagInfo
from ..ocpp.v16.enums import AuthorizationStatus
from ..ocpp.v201.enums import AuthorizationStatusEnum


class AuthorizationDecision(StrEnum):
    """Whether a token may charge, and if not why (2.0.1's AuthorizationStatusEnum, a
    superset of 1.6's)."""

    ACCEPTED = "Accepted"
    BLOCKED = "Blocked"
    CONCURRENT_TX = "ConcurrentTx"
    EXPIRED = "Expired"
    INVALID = "Invalid"
    NO_CREDIT = "NoCredit"
    NOT_ALLOWED_TYPE_EVSE = "NotAllowedTypeEVSE"
    NOT_AT_THIS_LOCATION = "NotAtThisLocation"
    NOT_AT_THIS_TIME = "NotAtThisTime"
    UNKNOWN = "Unknown"

    @classmethod
    def from_v16(cls, status: AuthorizationStatus) -> AuthorizationDecision:
        return cls(status.value)

    @classmethod
    def from_v201(cls, status: AuthorizationStatusEnum) -> AuthorizationDecision:
        return cls(status.value)

    def to_v16(self) -> AuthorizationStatus:
        """1.6's status: a refusal 1.6 has no word for is Invalid."""
        return _V16.get(self, AuthorizationStatus.INVALID)

    def to_v201(self) -> AuthorizationStatusEnum:
        return AuthorizationStatusEnum(self.value)

    @property
    def accepted(self) -> bool:
        return self is AuthorizationDecision.ACCEPTED


_V16 = {AuthorizationDecision(status.value): status for status in AuthorizationStatus}


def id_tag_info(
    decision: AuthorizationDecision, expiry: datetime | None, parent: str | None
) -> IdTagInfo:
    """A decision as a 1.6 idTagInfo (a status 1.6 has no word for is Invalid); only what has
    a value is set: an optional field of OCPP is left out, never null."""
    info = IdTagInfo(status=decision.to_v16())
    if expiry is not None:
        info.expiry_date = expiry
    if parent is not None:
        info.parent_id_tag = parent
    return info
