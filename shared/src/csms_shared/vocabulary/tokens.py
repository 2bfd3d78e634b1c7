"""An id token: a value of up to 36 characters (2.0.1 IdToken, eMAIDs) and its type; a 1.6
idTag (20 characters at most) is an ISO 14443 card's UID."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints
from pydantic.alias_generators import to_camel

from ..ocpp.v201.enums import IdTokenEnum

MAX_TOKEN_LENGTH = 36  # 2.0.1 IdTokenType.idToken, identifierString (OCPI: uid, 36)
V16_MAX_TOKEN_LENGTH = 20  # 1.6 IdToken, CiString20

# A token's value: printable, no surrounding whitespace, compared without regard to case.
TokenValue = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_TOKEN_LENGTH, pattern=r"^\S(.*\S)?$")
]


class IdTokenType(StrEnum):
    """How a token was presented (2.0.1's IdTokenEnum)."""

    CENTRAL = "Central"
    EMAID = "eMAID"
    ISO14443 = "ISO14443"
    ISO15693 = "ISO15693"
    KEY_CODE = "KeyCode"
    LOCAL = "Local"
    MAC_ADDRESS = "MacAddress"
    NO_AUTHORIZATION = "NoAuthorization"

    def to_v201(self) -> IdTokenEnum:
        return IdTokenEnum(self.value)


# What a 1.6 idTag is: an RFID card's UID, read as ISO 14443.
V16_TOKEN_TYPE = IdTokenType.ISO14443


class IdToken(BaseModel):
    """A token: its value and type (camelCase on the wire: `{"value": .., "type": ..}`)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)

    value: TokenValue
    # Required: a 1.6 idTag is one by `from_v16` (ISO14443), never by a forgotten argument.
    type: IdTokenType

    @classmethod
    def from_v16(cls, id_tag: str) -> IdToken:
        return cls(value=id_tag, type=V16_TOKEN_TYPE)

    @classmethod
    def from_v201(cls, id_token: str, kind: IdTokenEnum) -> IdToken:
        return cls(value=id_token, type=IdTokenType(kind.value))

    def fits_v16(self) -> bool:
        """Whether a 1.6 station can be told this token (its idTag has 20 characters at most)."""
        return len(self.value) <= V16_MAX_TOKEN_LENGTH

    def same(self, other: IdToken | str | None) -> bool:
        """The same token value, compared without regard to case (CiString)."""
        value = other.value if isinstance(other, IdToken) else other
        return value is not None and value.casefold() == self.value.casefold()
