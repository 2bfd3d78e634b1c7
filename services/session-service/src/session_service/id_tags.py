"""Reads of the authorization list and of the transactions an id tag holds open."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Integer,
    Row,
    Select,
    String,
    any_,
    bindparam,
    column,
    func,
    literal_column,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from csms_shared.vocabulary import AuthorizationDecision

from . import reservations, roaming_tokens
from .auth import IdTagRecord
from .checks import INT32, fits
from .db import id_tags, transactions
from .db import reservations as reservations_table


def _status(value: str | None) -> AuthorizationDecision | None:
    try:
        return AuthorizationDecision(value) if value is not None else None
    except ValueError:
        return AuthorizationDecision.INVALID


def _record(row: Row[Any] | None, prefix: str = "") -> IdTagRecord | None:
    if row is None:
        return None
    m = row._mapping
    if m[f"{prefix}id_tag"] is None:
        return None
    return IdTagRecord(
        id_tag=m[f"{prefix}id_tag"],
        status=_status(m[f"{prefix}status"]) or AuthorizationDecision.INVALID,
        expiry_date=m[f"{prefix}expiry_date"],
        parent_id_tag=m[f"{prefix}parent_id_tag"],
        max_concurrent_tx=m[f"{prefix}max_concurrent_tx"],
        parent_status=_status(m[f"{prefix}parent_status"]),
        type=m[f"{prefix}type"],
        parent_type=m[f"{prefix}parent_type"],
        charging_priority=m[f"{prefix}charging_priority"],
    )


# The statements below are built once, with parameters (arrays: one statement for a whole group
# of calls, prepared once per connection): building a SELECT of subqueries costs more CPU than
# running it.


def _tag_query(tag: Any) -> Select[Any]:
    """The list entry whose lower-cased idTag is `tag`, with its parent's status."""
    t = id_tags
    parent = aliased(id_tags)
    return (
        select(
            t.c.id_tag,
            t.c.status,
            t.c.expiry_date,
            t.c.parent_id_tag,
            t.c.max_concurrent_tx,
            parent.c.status.label("parent_status"),
            t.c.type,
            parent.c.type.label("parent_type"),
            t.c.charging_priority,
        )
        .outerjoin(parent, func.lower(parent.c.id_tag) == func.lower(t.c.parent_id_tag))
        .where(func.lower(t.c.id_tag) == tag)
    )


def _tags_and_held(lock: bool) -> Select[Any]:
    # One row per (lower-cased idTag, CP, time) asked, numbered from 1, whether or not the tag
    # is on the list (idTags of free vending are not).
    asked = (
        func.unnest(
            bindparam("tags", type_=ARRAY(String)),
            bindparam("cps", type_=ARRAY(String)),
            bindparam("ats", type_=ARRAY(DateTime(timezone=True))),
        )
        .table_valued(
            column("tag", String),
            column("cp", String),
            column("at", DateTime(timezone=True)),
            with_ordinality="n",
        )
        .render_derived("asked")
    )
    r = reservations_table.c
    reservation = func.json_build_array(r.reservation_id, r.connector_id, r.id_tag, r.parent_id_tag)
    held = (
        select(
            func.coalesce(
                func.json_agg(
                    aggregate_order_by(reservation, r.connector_id.desc(), r.reserved_at)
                ),
                literal_column("'[]'::json"),
                type_=JSON,
            )
        )
        .where(r.charge_point_id == asked.c.cp, reservations.active_at(asked.c.at))
        .scalar_subquery()
        .label("held")
    )
    tag = _tag_query(asked.c.tag)
    if lock:
        tag = tag.with_for_update(of=id_tags)
    found = tag.lateral("tag")
    return (
        select(asked.c.n, held, *found.c)
        .select_from(asked.outerjoin(found, true()))
        .order_by(asked.c.n)
    )


def _for_stops() -> Select[Any]:
    asked = (
        func.unnest(bindparam("ids", type_=ARRAY(Integer)), bindparam("tags", type_=ARRAY(String)))
        .table_valued(column("tx_id", Integer), column("tag", String), with_ordinality="n")
        .render_derived("asked")
    )
    locked = (
        select(transactions)
        .where(transactions.c.id == asked.c.tx_id)
        .with_for_update()
        .lateral("tx")
    )
    tag = _tag_query(asked.c.tag).lateral("tag")
    return (
        select(asked.c.n, locked, *(c.label(f"tag_{c.name}") for c in tag.c))
        .select_from(asked.outerjoin(locked, true()).outerjoin(tag, true()))
        .order_by(asked.c.n)
    )


_LIMITED = select(func.lower(id_tags.c.id_tag)).where(
    func.lower(id_tags.c.id_tag) == any_(bindparam("tags", type_=ARRAY(String))),
    id_tags.c.max_concurrent_tx.is_not(None),
)
_LOAD_WITH_HELD = {False: _tags_and_held(False), True: _tags_and_held(True)}
_LOAD_TAG = _tag_query(bindparam("tag", type_=String))
_LOAD_FOR_STOPS = _for_stops()


async def load_id_tags_and_reservations(
    session: AsyncSession,
    asked: Sequence[tuple[str, str, datetime]],
    *,
    asker: roaming_tokens.Asker,
    lock: bool = False,
) -> list[tuple[IdTagRecord | None, list[reservations.Held]]]:
    """For each (idTag, CP, time): the list entry of the idTag (any case, with its parent's
    status; `lock` serializes starts), or else the one its roaming token stands for
    (roaming_tokens.py), and the reservations in force on the CP at that time
    (`reservations.in_force`). One statement for them all, and one more for roaming tokens
    when the list lacks some (those whose eMSP wants each use authorized are asked of it, by
    `asker`)."""
    params = {
        "tags": [tag.lower() for tag, _, _ in asked],
        "cps": [cp for _, cp, _ in asked],
        "ats": [at for _, _, at in asked],
    }
    rows = (await session.execute(_LOAD_WITH_HELD[lock], params)).all()
    found = [(_record(row), [reservations.Held(*item) for item in row.held]) for row in rows]
    # What the list does not hold, the tokens eMSPs pushed may (one more statement, only then).
    missing = [n for n, (record, _) in enumerate(found) if record is None]
    if missing:
        roaming = await roaming_tokens.entries(
            session, [(asked[n][0], asked[n][1]) for n in missing], asker
        )
        for n, entry in zip(missing, roaming, strict=True):
            found[n] = (entry, found[n][1])
    return found


async def load_id_tag_and_reservations(
    session: AsyncSession,
    id_tag: str,
    cp_id: str,
    at: datetime,
    *,
    asker: roaming_tokens.Asker,
    lock: bool = False,
) -> tuple[IdTagRecord | None, list[reservations.Held]]:
    """`load_id_tags_and_reservations` of one idTag."""
    [found] = await load_id_tags_and_reservations(
        session, [(id_tag, cp_id, at)], asker=asker, lock=lock
    )
    return found


async def load_for_stops(
    session: AsyncSession, asked: Sequence[tuple[int, str | None]]
) -> list[tuple[Row[Any] | None, IdTagRecord | None]]:
    """StopTransactions' reads in one statement: for each (transactionId, idTag or None), the
    transaction, locked until the commit (`transactions.load_for_update`), and the list entry
    of the idTag."""
    # Locked in transaction id order, as a MeterValues batch locks them (`lock_transactions`).
    order = sorted(range(len(asked)), key=lambda n: asked[n][0])
    params = {
        # An id past 32 bits names none of ours (ids are serials from 1): asked as -1.
        "ids": [asked[n][0] if fits(asked[n][0], INT32) else -1 for n in order],
        "tags": [tag.lower() if tag is not None else None for tag in (asked[n][1] for n in order)],
    }
    rows = (await session.execute(_LOAD_FOR_STOPS, params)).all()
    found: list[tuple[Row[Any] | None, IdTagRecord | None]] = [(None, None)] * len(asked)
    for n, row in zip(order, rows, strict=True):
        found[n] = ((row if row.id is not None else None), _record(row, "tag_"))
    return found


async def load_for_stop(
    session: AsyncSession, transaction_id: int, id_tag: str | None
) -> tuple[Row[Any] | None, IdTagRecord | None]:
    """`load_for_stops` of one StopTransaction."""
    [found] = await load_for_stops(session, [(transaction_id, id_tag)])
    return found


async def load_id_tag(session: AsyncSession, id_tag: str) -> IdTagRecord | None:
    """The list entry of `id_tag` (any case), with its parent's status; None: not on the list."""
    return _record((await session.execute(_LOAD_TAG, {"tag": id_tag.lower()})).first())


async def limited_id_tags(session: AsyncSession, id_tags_asked: Sequence[str]) -> set[str]:
    """Which of the idTags (lower-cased) have a concurrency limit on the list."""
    tags = sorted({tag.lower() for tag in id_tags_asked})
    return set(await session.scalars(_LIMITED, {"tags": tags}))


async def count_open_transactions(
    session: AsyncSession,
    id_tag: str,
    *,
    except_connector: tuple[str, int] | None = None,
    except_charge_point: str | None = None,
) -> int:
    """Accepted transactions `id_tag` holds open; stale or superseded ones hold it no more."""
    tx = transactions.c
    stmt = (
        select(func.count())
        .select_from(transactions)
        .where(
            func.lower(tx.id_tag) == id_tag.lower(),
            tx.stop_time.is_(None),
            tx.id_tag_status == AuthorizationDecision.ACCEPTED.value,
            tx.stale_since.is_(None),
            tx.superseded_by.is_(None),
        )
    )
    if except_connector is not None:
        # A new start on this connector supersedes what is open there.
        cp, connector = except_connector
        stmt = stmt.where((tx.charge_point_id != cp) | (tx.connector_id != connector))
    if except_charge_point is not None:
        stmt = stmt.where(tx.charge_point_id != except_charge_point)
    return int(await session.scalar(stmt) or 0)
