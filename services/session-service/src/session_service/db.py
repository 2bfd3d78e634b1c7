"""Schema `sessions`: id tags, transactions, meter values, reservations, tariffs, outbox."""

from __future__ import annotations

from sqlalchemy import MetaData

from csms_shared.bus.outbox import outbox_table

SCHEMA = "sessions"
metadata = MetaData(schema=SCHEMA)

outbox = outbox_table(metadata)
