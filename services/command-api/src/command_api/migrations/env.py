"""Alembic environment of schema `commands`."""

from command_api.db import SCHEMA, metadata
from csms_shared.migrations import run_env

run_env(metadata, SCHEMA)
