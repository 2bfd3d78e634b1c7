"""The commands eMSPs send (OCPI commands, receiver): each is checked and answered at once, then
run through the suite's command path in the station's OCPP version, and its outcome POSTed to
the eMSP's `response_url` when command-api publishes it.

A command becomes a request on `ocpp.command-requests` (`BackOfficeRequest`, requestId
`roaming:<command id>`), staged in the transaction that stores the command and relayed after
its commit: command-api runs it as an operator's REST command would (checked against the
station's version, audited as `broker:<this service's broker user>`) and publishes exactly one
`command.completed`, which `follow_commands` turns into the CommandResult. Each version's
spelling of a command is written here once (`_start`, `_stop`, ...), the rest is shared."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from csms_shared.bus.outbox import stage_rows
from csms_shared.contracts.command_requests import BackOfficeRequest
from csms_shared.ocpp.version import OcppVersion

from . import command_payloads, location_store, token_store
from .db import command_outbox, commands, sessions, station_presence
from .location_documents import Publisher
from .ocpi.commands import (
    CancelReservation,
    CommandResponse,
    CommandResponseType,
    CommandType,
    ReserveNow,
    StartSession,
    StopSession,
    UnlockConnector,
)
from .ocpi.locations import EvseStatus
from .ocpi.tokens import Token
from .ocpi.types import Status, ci_key
from .platforms import now
from .settings import Settings
from .token_store import TokenKey

REQUEST_PREFIX = "roaming:"
# How long a START_SESSION counts as the cause of a transaction that starts with its token
# on its EVSE (a 1.6 station's start names no remote start id).
START_WINDOW = timedelta(minutes=15)

Party = tuple[str, str]


class CommandError(Exception):
    """Not a command this CPO can take: answered as an OCPI error (`status`, `http`)."""

    def __init__(self, message: str, status: Status, http: int) -> None:
        super().__init__(message)
        self.status = status
        self.http = http


class Refused(Exception):
    """Understood, not run: answered CommandResponse `result` with `message`."""

    def __init__(self, result: CommandResponseType, message: str) -> None:
        super().__init__(message)
        self.result = result


@dataclass(frozen=True, slots=True)
class Target:
    """The station a command goes to, in its version, and the EVSE and connector it names."""

    charge_point_id: str
    version: OcppVersion
    evse_id: int | None = None
    connector_id: int | None = None


@dataclass(frozen=True, slots=True)
class Asked:
    """A command ready to send: its station, owner, OCPP action and payload."""

    target: Target
    owner: Party
    action: str
    payload: dict[str, Any]
    token_uid: str | None = None
    reservation_id: str | None = None


async def _version(session: AsyncSession, charge_point_id: str) -> OcppVersion:
    row = (
        await session.execute(
            select(station_presence.c.online, station_presence.c.ocpp_version).where(
                station_presence.c.charge_point_id == charge_point_id
            )
        )
    ).first()
    if row is None or not row.online or row.ocpp_version is None:
        raise Refused(CommandResponseType.REJECTED, "the charge point is offline")
    return OcppVersion(row.ocpp_version)


async def _target(
    session: AsyncSession,
    publisher: Publisher,
    location_id: str,
    evse_uid: str | None,
    connector_id: str | None,
) -> Target:
    """The station EVSE (and connector) of a published location a command names: the only EVSE
    of the location when it names none."""
    stored = await location_store.load(session, location_id, publisher)
    if stored is None:
        raise CommandError(f"no location {location_id}", Status.UNKNOWN_LOCATION, 404)
    present = [e for e in stored.evses if not e.removed]
    if evse_uid is None:
        if len(present) != 1:
            raise Refused(
                CommandResponseType.REJECTED,
                f"location {stored.id} has {len(present)} EVSEs: name one (evse_uid)",
            )
        evse = present[0]
    else:
        found = [e for e in present if ci_key(e.uid) == ci_key(evse_uid)]
        if not found:
            raise CommandError(
                f"no EVSE {evse_uid} in location {stored.id}", Status.UNKNOWN_LOCATION, 404
            )
        evse = found[0]
    if evse.status in (EvseStatus.INOPERATIVE, EvseStatus.OUTOFORDER):
        raise Refused(CommandResponseType.REJECTED, f"EVSE {evse.uid} is {evse.status.value}")
    number = None
    if connector_id is not None:
        numbers = {str(c.connector_id): c.connector_id for c in evse.settings.connectors}
        if connector_id not in numbers:
            raise CommandError(
                f"no connector {connector_id} on EVSE {evse.uid}", Status.UNKNOWN_LOCATION, 404
            )
        number = numbers[connector_id]
    cp = evse.settings.charge_point_id
    return Target(cp, await _version(session, cp), evse.settings.evse_id, number)


def owner_of(token: Token) -> Party:
    return (ci_key(token.country_code), ci_key(token.party_id))


async def _reservation(
    session: AsyncSession, owner: Party, reservation_id: str
) -> tuple[int, str] | None:
    """The latest RESERVE_NOW of the party's `reservation_id`: the OCPP reservation id it was
    sent with (a replaced one keeps the first's) and its station."""
    row = (
        await session.execute(
            select(commands.c.payload, commands.c.charge_point_id)
            .where(
                commands.c.command == CommandType.RESERVE_NOW.value,
                commands.c.country_code == owner[0],
                commands.c.party_id == owner[1],
                commands.c.reservation_id == ci_key(reservation_id),
            )
            .order_by(commands.c.created_at.desc(), commands.c.number.desc())
            .limit(1)
        )
    ).first()
    if row is None:
        return None
    sent = row.payload.get("reservationId", row.payload.get("id"))
    return int(sent), row.charge_point_id


async def _any_evse(session: AsyncSession, publisher: Publisher, location_id: str) -> Target:
    """A reservation of any EVSE of a location: of its one station (OCPP reserves any EVSE of
    a station, not of a location)."""
    stored = await location_store.load(session, location_id, publisher)
    if stored is None:
        raise CommandError(f"no location {location_id}", Status.UNKNOWN_LOCATION, 404)
    stations = {e.settings.charge_point_id for e in stored.evses if not e.removed}
    if len(stations) != 1:
        raise Refused(
            CommandResponseType.REJECTED,
            f"location {stored.id} has {len(stations)} stations: name an EVSE (evse_uid)",
        )
    cp = stations.pop()
    return Target(cp, await _version(session, cp))


async def _known_token(
    session: AsyncSession, token: Token, platform_id: str, may_act_for: Any
) -> None:
    """The command's token may be one the eMSP never pushed: kept (as sent) so the
    session-service accepts it when the station asks; a pushed one stays as pushed."""
    owner = (ci_key(token.country_code), ci_key(token.party_id))
    if not may_act_for(owner):
        raise CommandError(
            f"the token belongs to {owner[0]}-{owner[1]}, not a party of this platform",
            Status.CLIENT_ERROR,
            404,
        )
    key = TokenKey.of(token.country_code, token.party_id, token.uid, token.type)
    if await token_store.get(session, key) is None:
        await token_store.put(session, key, token, platform_id)


async def take(
    session: AsyncSession,
    settings: Settings,
    command: CommandType,
    body: Any,
    *,
    platform_id: str,
    caller: Party,
    may_act_for: Any,
) -> CommandResponse:
    """Check `body`, store the command and stage its request to command-api (sent once the
    caller's transaction commits): the CommandResponse to answer with. CommandError for a
    command naming what is not there; Refused answers REJECTED (or UNKNOWN_SESSION) at once."""
    publisher = Publisher.of(settings)
    command_id = str(uuid.uuid4())
    row = (
        await session.execute(
            insert(commands)
            .values(
                id=command_id,
                platform_id=platform_id,
                country_code=caller[0],
                party_id=caller[1],
                command=command.value,
                body=body.wire(),
                charge_point_id="",
                action="",
                payload={},
                response_url=body.response_url,
            )
            .returning(commands.c.number)
        )
    ).one()
    number: int = row.number
    owner = caller
    token_uid = reservation = None
    if isinstance(body, StartSession):
        await _known_token(session, body.token, platform_id, may_act_for)
        target = await _target(
            session, publisher, body.location_id, body.evse_uid, body.connector_id
        )
        action, payload = command_payloads.start(target, body.token, number)
        owner = (ci_key(body.token.country_code), ci_key(body.token.party_id))
        token_uid = ci_key(body.token.uid)
    elif isinstance(body, ReserveNow):
        await _known_token(session, body.token, platform_id, may_act_for)
        if body.evse_uid is None:
            target = await _any_evse(session, publisher, body.location_id)
        else:
            target = await _target(session, publisher, body.location_id, body.evse_uid, None)
        earlier = await _reservation(session, owner_of(body.token), body.reservation_id)
        if earlier is not None:  # a known reservation_id replaces that reservation (OCPI, OCPP)
            number = earlier[0]
        action, payload = command_payloads.reserve(target, body, number)
        owner = (ci_key(body.token.country_code), ci_key(body.token.party_id))
        token_uid, reservation = ci_key(body.token.uid), ci_key(body.reservation_id)
    elif isinstance(body, UnlockConnector):
        target = await _target(
            session, publisher, body.location_id, body.evse_uid, body.connector_id
        )
        action, payload = command_payloads.unlock(target)
    elif isinstance(body, StopSession):
        found = (
            await session.execute(select(sessions).where(sessions.c.id == body.session_id))
        ).first()
        if (
            found is None
            or found.platform_id != platform_id
            or not may_act_for((found.country_code, found.party_id))
        ):
            raise Refused(CommandResponseType.UNKNOWN_SESSION, f"no session {body.session_id}")
        if found.status != "ACTIVE":
            raise Refused(CommandResponseType.REJECTED, f"session {found.id} has ended")
        version = await _version(session, found.charge_point_id)
        target = Target(found.charge_point_id, version)
        action, payload = command_payloads.stop(
            version, found.transaction_id, found.station_transaction_id
        )
        owner = (found.country_code, found.party_id)
    else:
        assert isinstance(body, CancelReservation)
        made = await _reservation(session, caller, body.reservation_id)
        if made is None:
            raise Refused(CommandResponseType.REJECTED, f"no reservation {body.reservation_id}")
        reserved_as, reserved_at = made
        target = Target(reserved_at, await _version(session, reserved_at))
        action, payload = command_payloads.cancel(reserved_as)
        reservation = ci_key(body.reservation_id)
    await session.execute(
        update(commands)
        .where(commands.c.id == command_id)
        .values(
            country_code=owner[0],
            party_id=owner[1],
            charge_point_id=target.charge_point_id,
            evse_id=target.evse_id,
            token_uid=token_uid,
            reservation_id=reservation,
            action=action,
            payload=payload,
        )
    )
    request = BackOfficeRequest(
        requestId=REQUEST_PREFIX + command_id,
        chargePointId=target.charge_point_id,
        action=action,
        payload=payload,
        timeout=settings.command_timeout,
    )
    stage_rows(session, command_outbox, [(target.charge_point_id, request.encode())])
    return CommandResponse(
        result=CommandResponseType.ACCEPTED, timeout=int(settings.command_timeout) + 30
    )


async def started_by_command(
    session: AsyncSession,
    charge_point_id: str,
    evse_id: int,
    id_tag: str | None,
    remote_start_id: int | None,
) -> dict[str, Any] | None:
    """The START_SESSION a transaction started by: its remote start id (2.0.1), else one for its
    token on its EVSE within START_WINDOW (1.6); its OCPI body, None when none."""
    where = [
        commands.c.command == CommandType.START_SESSION.value,
        commands.c.charge_point_id == charge_point_id,
    ]
    if remote_start_id is not None:
        where.append(commands.c.number == remote_start_id)
    elif id_tag:
        where += [
            commands.c.token_uid == ci_key(id_tag),
            commands.c.evse_id == evse_id,
            commands.c.created_at > now() - START_WINDOW,
        ]
    else:
        return None
    row = (
        await session.execute(
            select(commands.c.body).where(*where).order_by(commands.c.created_at.desc()).limit(1)
        )
    ).first()
    return None if row is None else dict(row.body)
