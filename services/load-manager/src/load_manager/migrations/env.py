"""Alembic environment of schema `loads`."""

from csms_shared.migrations import run_env
from load_manager.db import SCHEMA, metadata

run_env(metadata, SCHEMA)
