"""Roaming sessions and CDRs as stored: a transaction started with a roaming token becomes a
Session pushed (PUT) to the token's eMSP at its start and at its end, and its CDR is written once
and POSTed to the eMSP. Written in the transaction of the event that caused it; a redelivered
event changes nothing and pushes nothing again.

Which transactions are roaming ones: those whose id token an eMSP pushed (`tokens`, the same
uid compared without case; an RFID token for a 1.6 id tag or a 2.0.1 ISO14443/ISO15693 one,
another type for the rest), on an EVSE published in a location (OCPI wants the Session's
location, EVSE and connector). A roaming session on an EVSE that is in no location is logged and
not sent."""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from csms_shared.contracts.resources_sessions import Transaction
from csms_shared.contracts.rpc_roaming_locations import (
    LocationEvse,
    LocationSettings,
)

from . import authorizations, cdr_store, command_store, session_documents
from .db import cdrs, location_evses, locations, sessions, tokens
from .location_documents import Publisher
from .ocpi.cdrs import AuthMethod
from .ocpi.locations import Connector
from .ocpi.sessions import SessionStatus
from .ocpi.tokens import TokenType
from .ocpi.types import ci_key
from .ocpi.versions import ModuleId
from .platforms import now
from .push_queue import Push, enqueue, receivers
from .session_documents import Authorized, Place, TokenRef

log = logging.getLogger(__name__)

# The 2.0.1 idToken types of a card, which an eMSP's RFID token stands for (1.6: no type).
_CARD_TYPES = {None, "ISO14443", "ISO15693"}


def could_roam(transaction: Transaction) -> bool:
    """Whether the transaction may have started with a roaming token: it has a token, and the
    session-service does not say the operator's list (or no entry) decided it. The source is
    decided once, with the first token, so a transaction it rules out at its stop was ruled out
    at its start too, and has no Session here: most transactions are told apart without a
    query (every event of a transaction not roaming reaches this service)."""
    return bool(transaction.id_tag) and transaction.id_token_source not in ("list", "none")


async def token_of(session: AsyncSession, transaction: Transaction) -> TokenRef | None:
    """The roaming token the transaction started with: the one of the eMSP the session-service
    says authorized it; none when it says the operator's list (or no entry) did. Of a
    transaction from a session-service that says neither: of the uid, the kind of token its type
    says, valid ones first, then the newest."""
    if not transaction.id_tag or not could_roam(transaction):
        return None
    query = select(tokens).where(tokens.c.uid == ci_key(transaction.id_tag))
    if transaction.id_token_source == "roaming" and transaction.roaming_party:
        country_code, _, party_id = transaction.roaming_party.partition("-")
        query = query.where(
            tokens.c.country_code == ci_key(country_code), tokens.c.party_id == ci_key(party_id)
        )
    rows = (await session.execute(query)).all()
    card = transaction.id_token_type in _CARD_TYPES
    fitting = [r for r in rows if (r.type == TokenType.RFID.value) == card]
    if not fitting:
        return None
    best = max(fitting, key=lambda r: (r.valid, r.last_updated))
    return TokenRef(
        country_code=best.country_code,
        party_id=best.party_id,
        uid=best.document["uid"],
        type=TokenType(best.type),
        contract_id=best.contract_id,
        platform_id=best.platform_id,
    )


async def place_of(
    session: AsyncSession, transaction: Transaction, publisher: Publisher
) -> Place | None:
    """Where the transaction runs as its location publishes it; None off every location. Read
    from the EVSE's and the location's settings alone (not the whole Location built)."""
    row = (
        await session.execute(
            select(
                location_evses.c.uid,
                location_evses.c.settings.label("evse"),
                locations.c.id,
                locations.c.settings,
                locations.c.updated_at,
            )
            .join(locations, locations.c.key == location_evses.c.location_key)
            .where(
                location_evses.c.charge_point_id == transaction.charge_point_id,
                location_evses.c.evse_id == transaction.connector_id,
                location_evses.c.removed_at.is_(None),
            )
        )
    ).first()
    if row is None:
        return None
    evse = LocationEvse.model_validate(row.evse)
    wanted = transaction.evse_connector_id or 1
    given = next((c for c in evse.connectors if c.connector_id == wanted), evse.connectors[0])
    connector = Connector.model_validate(
        {
            "id": str(given.connector_id),
            "standard": given.standard,
            "format": given.format,
            "power_type": given.power_type,
            "max_voltage": given.max_voltage,
            "max_amperage": given.max_amperage,
            "max_electric_power": given.max_electric_power,
            "tariff_ids": given.tariff_ids,
            "last_updated": row.updated_at,
        }
    )
    return Place(
        location_id=row.id,
        location=LocationSettings.model_validate(row.settings),
        evse_uid=row.uid,
        evse_emi3_id=evse.emi3_id,
        connector=connector,
    )


def _place_json(place: Place) -> dict[str, Any]:
    return {
        "location_id": place.location_id,
        "location": place.location.model_dump(mode="json", by_alias=True, exclude_none=True),
        "evse_uid": place.evse_uid,
        "evse_emi3_id": place.evse_emi3_id,
        "connector": place.connector.wire(),
    }


def _place(raw: dict[str, Any]) -> Place:
    return Place(
        location_id=raw["location_id"],
        location=LocationSettings.model_validate(raw["location"]),
        evse_uid=raw["evse_uid"],
        evse_emi3_id=raw["evse_emi3_id"],
        connector=Connector.model_validate(raw["connector"]),
    )


def token_ref(raw: dict[str, Any]) -> TokenRef:
    """A stored session's token (its `token` column) as the documents take it."""
    return TokenRef(**(raw | {"type": TokenType(raw["type"])}))


async def _push_session(
    session: AsyncSession, document: dict[str, Any], token: TokenRef, publisher: Publisher
) -> None:
    if token.platform_id not in await receivers(session, ModuleId.SESSIONS):
        return  # it pulls them (GET), or takes none
    await enqueue(
        session,
        Push(
            module=ModuleId.SESSIONS,
            object_key=f"session:{document['id']}",
            method="PUT",
            path=f"/{publisher.country_code}/{publisher.party_id}/{document['id']}",
            body=document,
            supersedes="object",
            to=(token.country_code, token.party_id),
        ),
        [token.platform_id],
    )


async def _begin(
    session: AsyncSession, transaction: Transaction, publisher: Publisher
) -> tuple[TokenRef, Place, Authorized] | None:
    token = await token_of(session, transaction)
    if token is None:
        return None
    place = await place_of(session, transaction, publisher)
    if place is None:
        log.warning(
            "transaction %s of %s started with eMSP token %s-%s %s is on EVSE %s, which is in no"
            " published location: no OCPI Session or CDR can name it",
            transaction.transaction_id,
            transaction.charge_point_id,
            token.country_code,
            token.party_id,
            token.uid,
            transaction.connector_id,
        )
        return None
    command = await command_store.started_by_command(
        session,
        transaction.charge_point_id,
        transaction.connector_id,
        transaction.id_tag,
        transaction.remote_start_id,
    )
    if command is not None:
        return token, place, Authorized(AuthMethod.COMMAND, command.get("authorization_reference"))
    requested = await authorizations.started_by_request(
        session,
        (token.country_code, token.party_id, token.uid, token.type.value),
        transaction.charge_point_id,
        transaction.start_time,
    )
    return token, place, requested or Authorized()


async def _record(
    session: AsyncSession,
    transaction: Transaction,
    token: TokenRef,
    place: Place,
    publisher: Publisher,
    at: datetime,
    auth: Authorized,
    sent: dict[str, Any] | None = None,
) -> dict[str, Any] | None:
    """Store the session as the transaction says now (`sent`: as last sent, with the charging
    periods sent while it ran); its document, None when it was there already in that state (a
    redelivery)."""
    document = session_documents.session(
        transaction, token, place, publisher, at, auth, sent
    ).wire()
    values = {
        "id": document["id"],
        "transaction_id": transaction.transaction_id,
        "charge_point_id": transaction.charge_point_id,
        "station_transaction_id": transaction.station_transaction_id,
        "ocpp_version": transaction.ocpp_version,
        "meter_start": transaction.meter_start,
        "platform_id": token.platform_id,
        "country_code": token.country_code,
        "party_id": token.party_id,
        "token": asdict(token) | {"type": token.type.value},
        "place": _place_json(place),
        "auth_method": auth.method.value,
        "authorization_reference": auth.reference,
        "status": document["status"],
        "document": document,
        "last_updated": at,
    }
    stmt = insert(sessions).values(values)
    stored = await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[sessions.c.id],
            set_={
                "status": stmt.excluded.status,
                "document": stmt.excluded.document,
                "last_updated": stmt.excluded.last_updated,
            },
            where=sessions.c.status != SessionStatus.COMPLETED.value,
        ).returning(sessions.c.id)
    )
    return document if stored.first() is not None else None


async def started(session: AsyncSession, transaction: Transaction, publisher: Publisher) -> bool:
    """A transaction started: if with a roaming token, its Session (ACTIVE) stored and pushed.
    Whether it is a roaming session new here."""
    if not could_roam(transaction):
        return False
    known = (
        await session.execute(
            select(sessions.c.id).where(sessions.c.transaction_id == transaction.transaction_id)
        )
    ).first()
    if known is not None:
        return False
    begun = await _begin(session, transaction, publisher)
    if begun is None:
        return False
    token, place, auth = begun
    document = await _record(session, transaction, token, place, publisher, now(), auth)
    if document is None:
        return False
    await _push_session(session, document, token, publisher)
    return True


async def stopped(session: AsyncSession, transaction: Transaction, publisher: Publisher) -> bool:
    """A transaction ended: its Session COMPLETED and pushed, its CDR written once and POSTed.
    Whether anything was new (False for a redelivery, or a transaction not roaming)."""
    if not could_roam(transaction):
        return False
    row = (
        await session.execute(
            select(sessions)
            .where(sessions.c.transaction_id == transaction.transaction_id)
            .with_for_update()
        )
    ).first()
    sent = None
    if row is None:
        begun = await _begin(session, transaction, publisher)  # its start was not seen as one
        if begun is None:
            return False
        token, place, auth = begun
    else:
        sent = row.document
        if row.status == SessionStatus.COMPLETED.value:
            return False
        token, place = token_ref(row.token), _place(row.place)
        auth = Authorized(AuthMethod(row.auth_method), row.authorization_reference)
    at = now()
    document = await _record(session, transaction, token, place, publisher, at, auth, sent)
    if document is None:
        return False
    await _push_session(session, document, token, publisher)
    record = session_documents.cdr(transaction, token, place, publisher, at, auth, sent).wire()
    written = await session.execute(
        insert(cdrs)
        .values(
            id=record["id"],
            session_id=document["id"],
            platform_id=token.platform_id,
            country_code=token.country_code,
            party_id=token.party_id,
            document=record,
            last_updated=at,
        )
        .on_conflict_do_nothing(index_elements=[cdrs.c.id])
        .returning(cdrs.c.id)
    )
    if written.first() is not None:
        await cdr_store.push_cdr(
            session, record, token.platform_id, (token.country_code, token.party_id)
        )
    return True


async def active_stations(session: AsyncSession) -> list[str]:
    """The stations with a running roaming session (whose meter values are followed)."""
    rows = await session.scalars(
        select(sessions.c.charge_point_id)
        .where(sessions.c.status == SessionStatus.ACTIVE.value)
        .distinct()
    )
    return list(rows)


async def still_running_at(session: AsyncSession, charge_point_id: str) -> bool:
    found = await session.execute(
        select(sessions.c.id)
        .where(
            sessions.c.charge_point_id == charge_point_id,
            sessions.c.status == SessionStatus.ACTIVE.value,
        )
        .limit(1)
    )
    return found.first() is not None
