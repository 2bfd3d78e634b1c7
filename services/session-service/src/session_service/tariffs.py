"""Tariffs as data: which tariff prices a transaction a CP starts, and the CPs' tags to tell.

A transaction is priced by the tariff in force at its start (validFrom <= start < validTo) that
names its CP; failing that, one assigned to a tag the CP has; failing that, the default tariff
(defaults' validities never overlap: one at any moment, ex_tariffs_one_default); failing that,
SESSION_TARIFF_* (the one global tariff of earlier versions). Among several CP or tag tariffs,
the one valid from the latest time wins (then the newest): a price change scheduled as a second
tariff takes over on its date. A default price change is scheduled by ending the default with
validTo and adding the next default valid from then. The transaction copies the prices, so
later changes to a tariff never reprice it; with them its parking fee and its VAT rate, if the
tariff states one (the prices exclude VAT; SESSION_TARIFF_* state none, and charge no parking).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from .db import charge_point_tags, tariff_assignments, tariffs
from .settings import Settings

log = logging.getLogger(__name__)

CHARGE_POINT, TAG = "charge_point", "tag"


@dataclass(frozen=True, slots=True)
class Price:
    """What a transaction starting now is priced by, and why."""

    source: str  # chargePoint | tag | default | environment
    tariff_id: int | None
    price_per_kwh: Decimal
    session_fee: Decimal
    per_minute_fee: Decimal
    currency: str
    tag: str | None = None
    vat: Decimal | None = None  # percent; the prices exclude it (None: not stated)
    parking_per_minute_fee: Decimal = Decimal(0)  # on top of per_minute_fee while parked


_SOURCES = {0: "chargePoint", 1: "tag", 2: "default"}

# For each (CP, time) asked, the best tariff in force: one statement for a group of starts. The
# candidates come from the assignments of the CP and of its tags (by index), and the defaults.
_BEST = text(
    f"""
    SELECT q.i, best.*
    FROM unnest(CAST(:cps AS varchar[]), CAST(:ats AS timestamptz[])) WITH ORDINALITY
         AS q(cp, at, i)
    LEFT JOIN LATERAL (
        SELECT t.id, t.price_per_kwh, t.session_fee, t.per_minute_fee,
               t.parking_per_minute_fee, t.currency, t.vat, c.rank, c.tag
        FROM (
            SELECT a.tariff_id, 0 AS rank, NULL::varchar AS tag
              FROM {tariff_assignments.fullname} a
             WHERE a.target_kind = '{CHARGE_POINT}' AND a.target = q.cp
            UNION ALL
            SELECT a.tariff_id, 1, a.target
              FROM {charge_point_tags.fullname} g
              JOIN {tariff_assignments.fullname} a
                ON a.target_kind = '{TAG}' AND a.target = ANY (g.tags)
             WHERE g.charge_point_id = q.cp
            UNION ALL
            SELECT d.id, 2, NULL FROM {tariffs.fullname} d WHERE d.is_default
        ) c
        JOIN {tariffs.fullname} t ON t.id = c.tariff_id
        WHERE (t.valid_from IS NULL OR t.valid_from <= q.at)
          AND (t.valid_to IS NULL OR t.valid_to > q.at)
        ORDER BY c.rank, t.valid_from DESC NULLS LAST, t.id DESC, c.tag
        LIMIT 1
    ) best ON true
    ORDER BY q.i
    """
)


def environment_price(settings: Settings) -> Price:
    """SESSION_TARIFF_*: what prices a transaction no tariff applies to."""
    return Price(
        source="environment",
        tariff_id=None,
        price_per_kwh=settings.tariff_price_per_kwh,
        session_fee=settings.tariff_session_fee,
        per_minute_fee=Decimal(0),
        currency=settings.tariff_currency,
    )


async def prices(
    session: AsyncSession, settings: Settings, starts: list[tuple[str, datetime]]
) -> list[Price]:
    """The price of a transaction each (CP, start time) would open, in order."""
    if not starts:
        return []
    rows = await session.execute(
        _BEST, {"cps": [cp for cp, _ in starts], "ats": [at for _, at in starts]}
    )
    fallback = environment_price(settings)
    found: list[Price] = []
    for row in rows:
        if row.id is None:
            found.append(fallback)
            continue
        found.append(
            Price(
                source=_SOURCES[row.rank],
                tariff_id=row.id,
                price_per_kwh=row.price_per_kwh,
                session_fee=row.session_fee,
                per_minute_fee=row.per_minute_fee,
                currency=row.currency,
                tag=row.tag,
                vat=row.vat,
                parking_per_minute_fee=row.parking_per_minute_fee,
            )
        )
    return found
