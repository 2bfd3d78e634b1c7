"""The message routing headers of 2.2.1's functional modules (OCPI-from/to-country-code and
-party-id): who a request is from and for, checked against the caller's roles, and stamped
on the response the other way round. Configuration modules (versions, credentials) carry none."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.responses import JSONResponse

from .. import platforms
from ..ocpi.types import Role, Status, ci_key
from .answers import OcpiError
from .auth import RegisteredCaller
from .state import AppState

Party = tuple[str, str]  # country code, party id: upper-case


@dataclass(frozen=True, slots=True)
class Route:
    """A functional module's request: the caller's roles, the party it speaks for (its
    OCPI-from headers, when it sent them) and whether it is a hub (speaks for any party)."""

    platform_id: str
    parties: frozenset[Party]
    hub: bool
    sender: Party | None
    ours: Party

    def may_act_for(self, owner: Party) -> bool:
        """Whether the caller may push or read `owner`'s objects: a party it registered as
        (and the one its OCPI-from headers name, if any), or any party for a hub."""
        if self.sender is not None and self.sender != owner:
            return False
        return self.hub or owner in self.parties

    def owners(self) -> set[Party] | None:
        """The parties whose objects a list shows the caller: its own (the one its OCPI-from
        headers name, if any); None for a hub that names none (every party's)."""
        if self.sender is not None:
            return {self.sender} if self.may_act_for(self.sender) else set()
        return None if self.hub else set(self.parties)

    def stamp(self, response: JSONResponse) -> JSONResponse:
        """The response's routing headers: from us, to the sender when it said who it is."""
        response.headers["OCPI-from-country-code"] = self.ours[0]
        response.headers["OCPI-from-party-id"] = self.ours[1]
        if self.sender is not None:
            response.headers["OCPI-to-country-code"] = self.sender[0]
            response.headers["OCPI-to-party-id"] = self.sender[1]
        return response


def _pair(request: Request, end: str) -> Party | None:
    country = request.headers.get(f"ocpi-{end}-country-code")
    party = request.headers.get(f"ocpi-{end}-party-id")
    if country is None and party is None:
        return None
    if (
        country is None
        or party is None
        or len(country) != 2
        or not country.isascii()
        or not country.isalpha()
        or len(party) != 3
        or not party.isascii()
        or not party.isalnum()
    ):
        raise OcpiError(
            f"OCPI-{end}-country-code and OCPI-{end}-party-id come together: two letters, three"
            " letters or digits",
            Status.INVALID_PARAMETERS,
            400,
        )
    return ci_key(country), ci_key(party)


async def route(request: Request, caller: RegisteredCaller) -> Route:
    """The routing of a functional module's request: 400 (2001) when it is addressed to
    another party than this CPO, 404 when it speaks for a party that is not the caller's."""
    state: AppState = request.app.state.roaming
    ours = (state.settings.country_code, state.settings.party_id)
    receiver = _pair(request, "to")
    if receiver is not None and receiver != ours:
        raise OcpiError(
            f"addressed to {receiver[0]}-{receiver[1]}; this platform is {ours[0]}-{ours[1]}",
            Status.INVALID_PARAMETERS,
            400,
        )
    sender = _pair(request, "from")
    async with state.sessions() as session:
        roles = await platforms.roles_of(session, caller.platform_id)
    found = Route(
        platform_id=caller.platform_id,
        parties=frozenset((cc, pid) for _, cc, pid in roles),
        hub=any(role == Role.HUB.value for role, _, _ in roles),
        sender=sender,
        ours=ours,
    )
    # An error answered after this point carries the routing headers too (answers.ocpi_error).
    request.state.ocpi_route = found
    if sender is not None and not found.hub and sender not in found.parties:
        raise OcpiError(
            f"{sender[0]}-{sender[1]} is not a party of this platform", Status.CLIENT_ERROR, 404
        )
    return found


Routed = Annotated[Route, Depends(route)]
