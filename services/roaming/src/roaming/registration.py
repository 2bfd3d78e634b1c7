"""The credentials handshake (credentials.asciidoc), both ways, for several platforms at once.

A platform registers with us: we handed it token A (`invite`); it POSTs its credentials (its
token B and versions URL) with A; we read its 2.2.1 endpoints with B and answer with our
credentials holding a new token C, which replaces A. A PUT with C does the same again (new
endpoints, a new token both ways); a DELETE ends it.

We register with a platform: it handed us its versions URL and token A (`register_with`); we
read its endpoints with A, POST our credentials with a new token B (which it may use at once to
read our versions), and keep the token C it answers with. `rotate` PUTs new credentials the same
way; `unregister` DELETEs ours at the platform.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from . import platforms
from .credential_tokens import digest, new_token
from .ocpi.credentials import Credentials, CredentialsRole
from .ocpi.types import VERSION, BusinessDetails, Role, Status, ci_key
from .ocpi.versions import InterfaceRole, ModuleId, Version, VersionDetails
from .ocpi_client import OcpiClient, PartyError
from .platforms import Caller, PlatformState
from .settings import Settings

log = logging.getLogger(__name__)


class RegistrationRefused(Exception):
    """The request cannot be done: `http` and `status` say how to answer (405 for a POST of a
    registered platform, a PUT or DELETE of one that is not)."""

    def __init__(self, message: str, status: Status, http: int) -> None:
        super().__init__(message)
        self.status = status
        self.http = http


def our_credentials(settings: Settings, token: str) -> Credentials:
    """Our credentials as handed to a platform: `token` to call us with, our versions URL, and
    our one role (this CPO)."""
    return Credentials(
        token=token,
        url=f"{settings.public_url}/versions",
        roles=[
            CredentialsRole(
                role=Role.CPO,
                business_details=BusinessDetails(
                    name=settings.business_name, website=settings.business_website
                ),
                party_id=settings.party_id,
                country_code=settings.country_code,
            )
        ],
    )


async def read_endpoints(client: OcpiClient, versions_url: str, token: str) -> VersionDetails:
    """The platform's 2.2.1 endpoints: 3002 when it has no 2.2.1, 3003 when it has no
    credentials endpoint, 3001 when it cannot be read."""
    versions: list[Version] = await client.call("GET", versions_url, token, list[Version])
    wanted = [v for v in versions if v.version == VERSION]
    if not wanted:
        offered = ", ".join(v.version for v in versions) or "none"
        raise PartyError(
            f"{versions_url} offers no OCPI {VERSION} (it offers {offered})",
            Status.UNSUPPORTED_VERSION,
        )
    details: VersionDetails = await client.call("GET", wanted[0].url, token, VersionDetails)
    if details.url_of(ModuleId.CREDENTIALS, InterfaceRole.SENDER) is None and not any(
        e.identifier == ModuleId.CREDENTIALS.value for e in details.endpoints
    ):
        raise PartyError(
            f"{wanted[0].url} lists no credentials endpoint", Status.NO_MATCHING_ENDPOINTS
        )
    return details


def credentials_url(details: VersionDetails) -> str:
    """The platform's credentials endpoint (its role there does not matter, 2.2.1 says)."""
    return next(e.url for e in details.endpoints if e.identifier == ModuleId.CREDENTIALS.value)


def _check_roles(settings: Settings, roles: list[CredentialsRole]) -> None:
    ours = (settings.country_code, settings.party_id)
    for role in roles:
        if (ci_key(role.country_code), ci_key(role.party_id)) == ours and role.role is Role.CPO:
            raise RegistrationRefused(
                f"{ours[0]}-{ours[1]} CPO is this platform's own role",
                Status.INVALID_PARAMETERS,
                400,
            )


@dataclass(slots=True)
class Registrations:
    """The handshake's rules over the store and the parties' interfaces."""

    sessions: async_sessionmaker[AsyncSession]
    client: OcpiClient
    settings: Settings
    # The token made for the next hand-over (tests give their own).
    make_token: Callable[[], str] = new_token

    # --- a platform calls us ---

    async def accept(self, caller: Caller, offered: Credentials, *, update: bool) -> Credentials:
        """A POST (`update` False) or PUT of `offered` by `caller`: its endpoints read with its
        token, our credentials with a new token for it returned."""
        if update and caller.state is not PlatformState.REGISTERED:
            raise RegistrationRefused(
                "not registered: register with POST first", Status.CLIENT_ERROR, 405
            )
        if not update and caller.state is not PlatformState.INVITED:
            raise RegistrationRefused(
                "already registered: update with PUT, or DELETE first", Status.CLIENT_ERROR, 405
            )
        _check_roles(self.settings, offered.roles)
        async with self.sessions() as session:
            taken = await platforms.taken_roles(session, offered.roles, caller.platform_id)
        if taken:
            raise RegistrationRefused(
                "roles registered by another platform: " + ", ".join(taken),
                Status.INVALID_PARAMETERS,
                400,
            )
        try:
            details = await read_endpoints(self.client, offered.url, offered.token)
        except PartyError as exc:
            raise RegistrationRefused(str(exc), exc.status, 400) from exc
        token = self.make_token()
        async with self.sessions.begin() as session:
            state = await platforms.lock(session, caller.platform_id)
            expected = PlatformState.REGISTERED if update else PlatformState.INVITED
            if state is not expected:  # a concurrent POST/PUT/DELETE went first
                raise RegistrationRefused(
                    f"the platform is {state or 'gone'} now", Status.CLIENT_ERROR, 405
                )
            await platforms.store_registration(
                session,
                caller.platform_id,
                token_hash=digest(token),
                their_token=offered.token,
                versions_url=offered.url,
                details=details,
                roles=offered.roles,
            )
        log.info(
            "OCPI platform %s %s: %s",
            caller.platform_id,
            "updated its credentials" if update else "registered",
            ", ".join(f"{r.country_code}-{r.party_id} {r.role.value}" for r in offered.roles),
        )
        return our_credentials(self.settings, token)

    async def ended_by_them(self, caller: Caller) -> None:
        """A DELETE of the credentials: the platform unregisters."""
        async with self.sessions.begin() as session:
            if await platforms.lock(session, caller.platform_id) is not PlatformState.REGISTERED:
                raise RegistrationRefused("not registered", Status.CLIENT_ERROR, 405)
            await platforms.end(session, caller.platform_id, "them")
        log.info("OCPI platform %s unregistered", caller.platform_id)

    # --- the operator's side ---

    async def invite(self, name: str) -> tuple[str, str]:
        """A new platform to register with us: its id and the token A to hand it (with our
        versions URL) out of band."""
        token = self.make_token()
        async with self.sessions.begin() as session:
            platform_id = await platforms.create(session, name, PlatformState.INVITED, token)
        return platform_id, token

    async def register_with(self, name: str, versions_url: str, token_a: str) -> str:
        """Register with the platform at `versions_url` that handed us `token_a`; its id.
        PartyError when it cannot be used; nothing is kept then."""
        details = await read_endpoints(self.client, versions_url, token_a)
        token_b = self.make_token()
        async with self.sessions.begin() as session:
            platform_id = await platforms.create(
                session, name, PlatformState.REGISTERING, token_b, versions_url=versions_url
            )
        try:
            theirs: Credentials = await self.client.call(
                "POST",
                credentials_url(details),
                token_a,
                Credentials,
                body=our_credentials(self.settings, token_b),
            )
            _check_roles(self.settings, theirs.roles)
            await self._store(platform_id, digest(token_b), theirs)
        except (PartyError, RegistrationRefused):
            async with self.sessions.begin() as session:
                await platforms.forget(session, platform_id)
            raise
        return platform_id

    async def rotate(self, platform_id: str) -> None:
        """New credentials both ways with a registered platform (PUT), its endpoints read
        again: the old token works until the platform has answered."""
        platform = await self._registered(platform_id)
        assert platform.their_token is not None and platform.versions_url is not None
        details = await read_endpoints(self.client, platform.versions_url, platform.their_token)
        token = self.make_token()
        async with self.sessions.begin() as session:
            await platforms.set_pending_token(session, platform_id, digest(token))
        try:
            theirs: Credentials = await self.client.call(
                "PUT",
                credentials_url(details),
                platform.their_token,
                Credentials,
                body=our_credentials(self.settings, token),
            )
            _check_roles(self.settings, theirs.roles)
        except (PartyError, RegistrationRefused):
            async with self.sessions.begin() as session:
                await platforms.set_pending_token(session, platform_id, None)
            raise
        await self._store(platform_id, digest(token), theirs)

    async def unregister(self, platform_id: str) -> str | None:
        """End the registration with a platform: our credentials DELETEd there, and nothing of
        either side's works any more here. What the platform answered when it failed (the
        registration ends here all the same), else None."""
        platform = await self._registered(platform_id)
        problem: str | None = None
        assert platform.their_token is not None
        url = next((e["url"] for e in platform.endpoints if e["identifier"] == "credentials"), None)
        if url is None:
            problem = "it lists no credentials endpoint"
        else:
            try:
                await self.client.call("DELETE", url, platform.their_token, None)
            except PartyError as exc:
                problem = str(exc)
        async with self.sessions.begin() as session:
            await platforms.end(session, platform_id, "us")
        return problem

    async def _registered(self, platform_id: str) -> platforms.Platform:
        async with self.sessions() as session:
            platform = await platforms.get(session, platform_id)
        if platform is None:
            raise RegistrationRefused(f"no platform {platform_id}", Status.CLIENT_ERROR, 404)
        if platform.state is not PlatformState.REGISTERED:
            raise RegistrationRefused(
                f"platform {platform_id} is {platform.state.value}", Status.CLIENT_ERROR, 409
            )
        return platform

    async def _store(self, platform_id: str, token_hash: str, theirs: Credentials) -> None:
        """The platform's answer to our POST/PUT: its token, endpoints and roles kept."""
        details = await read_endpoints(self.client, theirs.url, theirs.token)
        async with self.sessions.begin() as session:
            taken = await platforms.taken_roles(session, theirs.roles, platform_id)
            if taken:
                raise RegistrationRefused(
                    "roles registered by another platform: " + ", ".join(taken),
                    Status.INVALID_PARAMETERS,
                    409,
                )
            await platforms.store_registration(
                session,
                platform_id,
                token_hash=token_hash,
                their_token=theirs.token,
                versions_url=theirs.url,
                details=details,
                roles=theirs.roles,
            )
