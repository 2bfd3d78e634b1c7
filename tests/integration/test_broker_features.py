"""The suite declares nothing RabbitMQ 4.x denies: every queue durable or exclusive."""

from __future__ import annotations

import shutil
import subprocess
from urllib.parse import unquote, urlsplit

import pytest

from tests.integration.conftest import Suite
from tests.integration.infra import Infra

pytestmark = pytest.mark.integration


def rabbitmqctl(*args: str) -> subprocess.CompletedProcess[str]:
    """rabbitmqctl for the node under test (`make test-rabbitmq4` puts its own first on PATH)."""
    if shutil.which("rabbitmqctl") is None:
        pytest.skip("needs rabbitmqctl on this machine to inspect the broker")
    return subprocess.run(["rabbitmqctl", "-q", *args], capture_output=True, text=True)


def vhost_of(infra: Infra) -> str:
    return unquote(urlsplit(infra.broker_url).path.lstrip("/")) or "/"


async def test_every_queue_is_durable_or_exclusive(suite: Suite, infra: Infra) -> None:
    listed = rabbitmqctl("list_queues", "-p", vhost_of(infra), "name", "durable", "exclusive")
    assert listed.returncode == 0, listed.stderr
    rows = [line.split("\t") for line in listed.stdout.splitlines()[1:] if line]
    queues = {row[0]: row[1:] for row in rows}
    # `transient_nonexcl_queues`: a non-durable queue must be exclusive to its connection.
    transient = [
        name for name, (durable, exclusive) in queues.items() if "true" not in (durable, exclusive)
    ]
    assert transient == []
    assert any(exclusive == "true" for _, exclusive in queues.values())  # the gateways' queues
    for service in ("station-registry", "session-service"):
        assert queues[f"{service}.rpc"][0] == "true"


async def test_rpc_queues_are_quorum(suite: Suite, infra: Infra) -> None:
    # A classic queue would live on one node of a cluster: make cluster-test.
    listed = rabbitmqctl("list_queues", "-p", vhost_of(infra), "name", "type")
    assert listed.returncode == 0, listed.stderr
    types = dict(line.split("\t") for line in listed.stdout.splitlines()[1:] if line)
    assert types["station-registry.rpc"] == types["session-service.rpc"] == "quorum"
    assert types["station-registry.calls"] == "quorum"


async def test_no_deprecated_feature_in_use(suite: Suite) -> None:
    used = rabbitmqctl("list_deprecated_features", "--used", "name", "--formatter", "csv")
    if used.returncode != 0:
        pytest.skip("the broker predates deprecated features (RabbitMQ < 3.13)")
    names = [line.strip('"') for line in used.stdout.splitlines()]
    assert [name for name in names if name not in ("", "name")] == []


async def test_an_rpc_queue_an_earlier_version_declared_transient_is_replaced(
    infra: Infra,
) -> None:
    import aio_pika
    import aiormq

    from csms_shared.bus.topology import declare_rpc_queue

    name = "upgrade-test.rpc"
    old = await aio_pika.connect(infra.broker_url)
    try:
        channel = await old.channel()
        await channel.declare_queue(name, durable=False, auto_delete=False)
    except aiormq.exceptions.AMQPError:
        # 4.x with transient_nonexcl_queues denied closes the connection: nothing to upgrade.
        pytest.skip("this broker denies transient non-exclusive queues (as 4.x should)")
    finally:
        await old.close()
    connection = await aio_pika.connect(infra.broker_url)
    async with connection:
        queue = await declare_rpc_queue(connection, await connection.channel(), name)
        assert queue.durable
        # Quorum queues refuse a delete with if-unused (aio-pika's default).
        await queue.delete(if_unused=False, if_empty=False)
