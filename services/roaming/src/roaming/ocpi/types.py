"""OCPI 2.2.1's shared types (types.asciidoc, status_codes.asciidoc): CiString, string, DateTime,
DisplayText, Price, Role, the response envelope and its status codes, and the BusinessDetails and
Image classes the credentials and locations modules both use."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from enum import IntEnum, StrEnum
from typing import Annotated, Any, Generic, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    WithJsonSchema,
)

T = TypeVar("T")

VERSION = "2.2.1"

# CiString: printable ASCII, compared without regard to case (the case sent is kept: a
# party's "DE"/"de" is one key through `ci_key`). string: printable UTF-8, no control
# characters. Both have the length OCPI gives them.
_PRINTABLE_ASCII = r"^[\x20-\x7E]*$"
_PRINTABLE = r"^[^\x00-\x1F\x7F]*$"


# CiString(n) and string(n) of the lengths 2.2.1 uses: mypy needs each alias written out.
CiString2 = Annotated[str, StringConstraints(max_length=2, pattern=_PRINTABLE_ASCII)]
CiString3 = Annotated[str, StringConstraints(max_length=3, pattern=_PRINTABLE_ASCII)]
CiString4 = Annotated[str, StringConstraints(max_length=4, pattern=_PRINTABLE_ASCII)]
CiString5 = Annotated[str, StringConstraints(max_length=5, pattern=_PRINTABLE_ASCII)]
CiString15 = Annotated[str, StringConstraints(max_length=15, pattern=_PRINTABLE_ASCII)]
CiString20 = Annotated[str, StringConstraints(max_length=20, pattern=_PRINTABLE_ASCII)]
CiString32 = Annotated[str, StringConstraints(max_length=32, pattern=_PRINTABLE_ASCII)]
CiString36 = Annotated[str, StringConstraints(max_length=36, pattern=_PRINTABLE_ASCII)]
CiString39 = Annotated[str, StringConstraints(max_length=39, pattern=_PRINTABLE_ASCII)]
CiString48 = Annotated[str, StringConstraints(max_length=48, pattern=_PRINTABLE_ASCII)]
CiString64 = Annotated[str, StringConstraints(max_length=64, pattern=_PRINTABLE_ASCII)]
CiString255 = Annotated[str, StringConstraints(max_length=255, pattern=_PRINTABLE_ASCII)]
String2 = Annotated[str, StringConstraints(max_length=2, pattern=_PRINTABLE)]
String3 = Annotated[str, StringConstraints(max_length=3, pattern=_PRINTABLE)]
String4 = Annotated[str, StringConstraints(max_length=4, pattern=_PRINTABLE)]
String5 = Annotated[str, StringConstraints(max_length=5, pattern=_PRINTABLE)]
String8 = Annotated[str, StringConstraints(max_length=8, pattern=_PRINTABLE)]
String10 = Annotated[str, StringConstraints(max_length=10, pattern=_PRINTABLE)]
String11 = Annotated[str, StringConstraints(max_length=11, pattern=_PRINTABLE)]
String15 = Annotated[str, StringConstraints(max_length=15, pattern=_PRINTABLE)]
String16 = Annotated[str, StringConstraints(max_length=16, pattern=_PRINTABLE)]
String20 = Annotated[str, StringConstraints(max_length=20, pattern=_PRINTABLE)]
String25 = Annotated[str, StringConstraints(max_length=25, pattern=_PRINTABLE)]
String36 = Annotated[str, StringConstraints(max_length=36, pattern=_PRINTABLE)]
String40 = Annotated[str, StringConstraints(max_length=40, pattern=_PRINTABLE)]
String45 = Annotated[str, StringConstraints(max_length=45, pattern=_PRINTABLE)]
String50 = Annotated[str, StringConstraints(max_length=50, pattern=_PRINTABLE)]
String64 = Annotated[str, StringConstraints(max_length=64, pattern=_PRINTABLE)]
String100 = Annotated[str, StringConstraints(max_length=100, pattern=_PRINTABLE)]
String255 = Annotated[str, StringConstraints(max_length=255, pattern=_PRINTABLE)]
String512 = Annotated[str, StringConstraints(max_length=512, pattern=_PRINTABLE)]
String5000 = Annotated[str, StringConstraints(max_length=5000, pattern=_PRINTABLE)]


def ci_key(value: str) -> str:
    """The form a CiString is compared and stored as a key in."""
    return value.upper()


CountryCode = Annotated[
    str, StringConstraints(min_length=2, max_length=2, pattern=r"^[A-Za-z]{2}$")
]
PartyId = Annotated[str, StringConstraints(min_length=3, max_length=3, pattern=r"^[A-Za-z0-9]{3}$")]
Url = Annotated[str, StringConstraints(max_length=255, pattern=r"^https?://[^\s]+$")]

_OFFSET = re.compile(r"(Z|[+-]\d\d:?\d\d)$")


def _parse_datetime(value: Any) -> Any:
    """OCPI's DateTime: RFC 3339 in UTC, `Z` or no designator (both UTC). An explicit offset
    is not OCPI's, but it is unambiguous: turned into UTC rather than refused."""
    if isinstance(value, str):
        text = value.strip()
        if not _OFFSET.search(text):
            text += "Z"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError as exc:
            raise ValueError(f"not an RFC 3339 date-time: {value!r}") from exc
        return parsed.astimezone(UTC)
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return value


def format_datetime(value: datetime) -> str:
    """A UTC time as OCPI writes it: `2015-06-29T20:39:09Z`, milliseconds when there are."""
    utc = value.astimezone(UTC)
    if utc.microsecond:
        return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
    return utc.strftime("%Y-%m-%dT%H:%M:%SZ")


DateTime = Annotated[
    datetime,
    BeforeValidator(_parse_datetime),
    PlainSerializer(format_datetime, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


# number: a JSON number (never a string), 4 decimals unless said otherwise. Kept as Decimal so
# money and kWh add up exactly; written as a JSON number.
def _json_number(value: Any) -> Any:
    """A number sent as a string ("0.25") is not OCPI's number: refused, not guessed at."""
    if isinstance(value, str | bool):
        raise ValueError("a JSON number is expected, not a string or a boolean")
    return value


Number = Annotated[
    Decimal,
    BeforeValidator(_json_number),
    PlainSerializer(lambda v: float(v) if v % 1 else int(v), return_type=float),
    WithJsonSchema({"type": "number"}),
]


class OcpiModel(BaseModel):
    """An OCPI object: its own snake_case names; fields it does not know are ignored (a newer
    party may send more), and optional ones left out when empty (`exclude_none` on output)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    def wire(self) -> dict[str, Any]:
        """The JSON object OCPI expects: optional fields without a value are left out."""
        data: dict[str, Any] = self.model_dump(mode="json", exclude_none=True)
        return data


class DisplayText(OcpiModel):
    language: Annotated[str, StringConstraints(min_length=2, max_length=2)]
    text: String512


class Price(OcpiModel):
    excl_vat: Number
    incl_vat: Number | None = None


class Role(StrEnum):
    CPO = "CPO"
    EMSP = "EMSP"
    HUB = "HUB"
    NAP = "NAP"
    NSP = "NSP"
    OTHER = "OTHER"
    SCSP = "SCSP"


class ImageCategory(StrEnum):
    CHARGER = "CHARGER"
    ENTRANCE = "ENTRANCE"
    LOCATION = "LOCATION"
    NETWORK = "NETWORK"
    OPERATOR = "OPERATOR"
    OTHER = "OTHER"
    OWNER = "OWNER"


class Image(OcpiModel):
    url: Url
    thumbnail: Url | None = None
    category: ImageCategory
    type: CiString4
    width: Annotated[int, Field(ge=0, le=99999)] | None = None
    height: Annotated[int, Field(ge=0, le=99999)] | None = None


class BusinessDetails(OcpiModel):
    name: String100
    website: Url | None = None
    logo: Image | None = None


class Status(IntEnum):
    """The status codes of the response envelope (status_codes.asciidoc)."""

    SUCCESS = 1000
    CLIENT_ERROR = 2000
    INVALID_PARAMETERS = 2001
    NOT_ENOUGH_INFORMATION = 2002
    UNKNOWN_LOCATION = 2003
    UNKNOWN_TOKEN = 2004
    SERVER_ERROR = 3000
    UNABLE_TO_USE_CLIENT_API = 3001
    UNSUPPORTED_VERSION = 3002
    NO_MATCHING_ENDPOINTS = 3003
    HUB_ERROR = 4000
    UNKNOWN_RECEIVER = 4001
    FORWARD_TIMEOUT = 4002
    CONNECTION_PROBLEM = 4003


class Response(BaseModel, Generic[T]):
    """The envelope of every OCPI answer: `data` (an object, a list, or none), `status_code`,
    `status_message`, `timestamp`."""

    model_config = ConfigDict(extra="ignore")

    data: T | None = None
    status_code: int
    status_message: String255 | None = None
    timestamp: DateTime

    def wire(self) -> dict[str, Any]:
        """The JSON body; optional fields without a value left out, in `data` too."""
        body: dict[str, Any] = self.model_dump(mode="json", exclude_none=True)
        return body

    @property
    def ok(self) -> bool:
        return 1000 <= self.status_code < 2000
