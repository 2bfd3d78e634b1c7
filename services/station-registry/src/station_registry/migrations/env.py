"""Alembic environment of schema `registry`."""

from csms_shared.migrations import run_env
from station_registry.db import SCHEMA, metadata

run_env(metadata, SCHEMA)
