"""Alembic environment of schema `roaming`."""

from csms_shared.migrations import run_env
from roaming.db import SCHEMA, metadata

run_env(metadata, SCHEMA)
