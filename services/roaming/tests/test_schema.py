"""The migrations make exactly the tables db.py describes (autogenerate finds nothing to do)."""

from __future__ import annotations

from roaming.db import SCHEMA, metadata
from roaming.settings import Settings
from tests.integration.schema_check import schema_differences


async def test_the_migrated_schema_is_the_one_db_py_describes(settings: Settings) -> None:
    assert await schema_differences(settings.database_url, metadata, SCHEMA) == []
