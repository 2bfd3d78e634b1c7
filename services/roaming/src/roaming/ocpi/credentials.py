"""The credentials module (credentials.asciidoc): the token a party uses to call the other, the
URL of its versions endpoint, and the roles it plays."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from .types import BusinessDetails, CountryCode, OcpiModel, PartyId, Role, Url

# Printable non-whitespace ASCII (U+0021..U+007E), up to 64 characters.
Token = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[\x21-\x7E]+$")]


class CredentialsRole(OcpiModel):
    """One role a platform plays, as which party."""

    role: Role
    business_details: BusinessDetails
    party_id: PartyId
    country_code: CountryCode


class Credentials(OcpiModel):
    """What a party hands the other: a token to call it with, its versions URL, its roles."""

    token: Token
    url: Url
    roles: list[CredentialsRole] = Field(min_length=1)
