"""command-api's dispatcher and the gateway's side of a command, on the wire: the command goes
as a CommandRequest, the outcome comes back as a CommandOutcome; a malformed outcome is logged
and dropped and the command stays pending until a readable one comes."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

import aio_pika
import pytest

from command_api.dispatcher import Dispatcher
from command_api.recorder import record_sent
from csms_shared.bus.topology import COMMANDS
from csms_shared.contracts.envelopes import CommandOutcome, CommandRequest
from csms_shared.db import create_engine, session_factory
from tests.integration.support import eventually


async def test_a_malformed_outcome_is_logged_dropped_and_the_command_stays_pending(
    suite: Any, db: Any, caplog: pytest.LogCaptureFixture
) -> None:
    infra = suite.infra
    engine = create_engine(infra.database_url, pool_size=1)
    dispatcher = Dispatcher(
        infra.broker_url, f"test-{uuid.uuid4().hex[:6]}", session_factory(engine)
    )
    await dispatcher.start()
    connection = await aio_pika.connect(infra.broker_url)
    cp_id, command_id = f"CP-{uuid.uuid4().hex[:8]}", str(uuid.uuid4())
    try:
        # Stands in for the gateway holding the CP.
        channel = await connection.channel()
        gateway = await channel.declare_queue("", exclusive=True)
        await gateway.bind(COMMANDS.name, cp_id)
        received: asyncio.Queue[aio_pika.abc.AbstractIncomingMessage] = asyncio.Queue()
        await gateway.consume(received.put, no_ack=True)
        async with session_factory(engine)() as session, session.begin():
            await record_sent(
                session,
                command_id=command_id,
                charge_point_id=cp_id,
                action="Reset",
                request={"type": "Soft"},
                requested_by="test",
                timeout=10,
            )
        outcome = dispatcher.waiter.expect(command_id)
        await dispatcher.send(command_id, cp_id, "Reset", {"type": "Soft"}, 10)
        message = await asyncio.wait_for(received.get(), 10)
        assert CommandRequest.decode(message.body) == CommandRequest(
            action="Reset", payload={"type": "Soft"}, timeout=10
        )

        async def answer(body: bytes) -> None:
            await channel.default_exchange.publish(
                aio_pika.Message(body, correlation_id=message.correlation_id),
                routing_key=message.reply_to or "",
            )

        with caplog.at_level(logging.ERROR, "command_api.dispatcher"):
            await answer(b'{"status": "exploded"}')

            async def logged() -> bool:
                return f"dropping the malformed outcome of command {command_id}" in caplog.text

            await eventually(logged, timeout=10)
        assert "not a CommandOutcome: status: Input should be" in caplog.text
        status = await db.fetchval("SELECT status FROM commands.commands WHERE id = $1", command_id)
        assert status == "pending" and not outcome.done()
        # A readable outcome after it is recorded as usual.
        await answer(CommandOutcome(status="result", response={"status": "Accepted"}).encode())
        answered = await asyncio.wait_for(outcome, 10)
        assert answered == CommandOutcome(status="result", response={"status": "Accepted"})

        async def recorded() -> Any:
            return await db.fetchval(
                "SELECT status FROM commands.commands WHERE id = $1 AND status <> 'pending'",
                command_id,
            )

        assert await eventually(recorded, timeout=10) == "result"
    finally:
        await connection.close()
        await dispatcher.close()
        await engine.dispose()
