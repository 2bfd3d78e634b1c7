"""Per-run isolation on the real broker and database: a fresh vhost and a fresh database."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg

from csms_shared.settings import DEFAULT_BROKER_URL, DEFAULT_DATABASE_URL


@dataclass(frozen=True)
class Infra:
    """URLs of this test run's own vhost and database."""

    broker_url: str
    database_url: str

    @property
    def asyncpg_dsn(self) -> str:
        """The database URL as asyncpg spells it."""
        return self.database_url.replace("postgresql+asyncpg://", "postgresql://")


def _reachable(url: str, port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or port), 2):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def _containers() -> Iterator[tuple[str, str]]:
    """RabbitMQ and Postgres in containers, for machines with Docker but not the services."""
    from testcontainers.postgres import PostgresContainer
    from testcontainers.rabbitmq import RabbitMqContainer

    with RabbitMqContainer("rabbitmq:3.13") as rabbit, PostgresContainer("postgres:16") as pg:
        broker = (
            f"amqp://guest:guest@{rabbit.get_container_host_ip()}:{rabbit.get_exposed_port(5672)}/"
        )
        database = (
            f"postgresql+asyncpg://{pg.username}:{pg.password}@{pg.get_container_host_ip()}"
            f":{pg.get_exposed_port(5432)}/{pg.dbname}"
        )
        yield broker, database


@contextlib.contextmanager
def base_urls() -> Iterator[tuple[str, str]]:
    """The broker and database to use: the environment's, else local, else containers."""
    broker = os.environ.get("CSMS_TEST_BROKER_URL", DEFAULT_BROKER_URL)
    database = os.environ.get("CSMS_TEST_DATABASE_URL", DEFAULT_DATABASE_URL)
    if _reachable(broker, 5672) and _reachable(database, 5432):
        yield broker, database
    elif (
        shutil.which("docker")
        and subprocess.run(["docker", "info"], capture_output=True).returncode == 0
    ):
        with _containers() as urls:
            yield urls
    else:
        raise RuntimeError(
            "RabbitMQ or Postgres is not reachable and no Docker engine runs: start them "
            "(see README) or set CSMS_TEST_BROKER_URL / CSMS_TEST_DATABASE_URL"
        )


def _with_path(url: str, path: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=path))


@contextlib.contextmanager
def isolated_vhost(broker_url: str) -> Iterator[str]:
    """A vhost of our own when rabbitmqctl is at hand, else the URL's vhost."""
    ctl = shutil.which("rabbitmqctl")
    local = urlsplit(broker_url).hostname in ("127.0.0.1", "localhost")
    if not (ctl and local):
        yield broker_url
        return
    vhost = f"csms-test-{secrets.token_hex(4)}"
    user = urlsplit(broker_url).username or "guest"
    subprocess.run([ctl, "add_vhost", vhost], check=True, capture_output=True)
    subprocess.run(
        [ctl, "set_permissions", "-p", vhost, user, ".*", ".*", ".*"],
        check=True,
        capture_output=True,
    )
    try:
        yield _with_path(broker_url, "/" + quote(vhost, safe=""))
    finally:
        subprocess.run([ctl, "delete_vhost", vhost], capture_output=True)


@contextlib.asynccontextmanager
async def isolated_database(database_url: str):  # type: ignore[no-untyped-def]
    """A database of our own, dropped afterwards."""
    name = f"csms_test_{secrets.token_hex(4)}"
    admin_dsn = database_url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    try:
        yield _with_path(database_url, "/" + name)
    finally:
        conn = await asyncpg.connect(admin_dsn)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()
