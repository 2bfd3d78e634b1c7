"""Alembic environment of schema `sessions`."""

from csms_shared.migrations import run_env
from session_service.db import SCHEMA, metadata

run_env(metadata, SCHEMA)
