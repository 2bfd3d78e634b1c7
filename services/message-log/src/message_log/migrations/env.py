"""Alembic environment of schema `messages`."""

from csms_shared.migrations import run_env
from message_log.db import SCHEMA, metadata

run_env(metadata, SCHEMA)
