"""`messages.since`: a CP's records from a position on, oldest first, a late row read again."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from csms_shared.bus.router import Context
from csms_shared.bus.rpc import RpcError
from csms_shared.contracts.rpc import ListMessages, MessageListing, MessageTail, TailMessages
from message_log.records import to_row
from message_log.rpc_messages import list_messages, messages_since
from message_log.settings import Settings
from message_log.writer import Writer

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def cp_id() -> str:
    return f"CP-{uuid.uuid4().hex[:8]}"


async def store(writer: Writer, cp_id: str, *frames: tuple[str, datetime]) -> None:
    """Commit CALLs of `action` at `at` from the CP, in the order given (ids follow it)."""
    await writer.store_rows(
        [
            to_row(
                {
                    "cp": cp_id,
                    "at": at.timestamp(),
                    "kind": "frame",
                    "dir": "in",
                    "mt": 2,
                    "id": uuid.uuid4().hex,
                    "action": action,
                    "payload": {},
                    "size": 20,
                    "conn": "c1",
                },
                "gw-1",
            )
            for action, at in frames
        ]
    )


class Log:
    """The message log's reads, each in a session of its own as the runtime opens one."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        self._sessions = sessions
        self._settings = settings

    async def since(self, cp_id: str, after: str | None, limit: int = 200) -> MessageTail:
        params = TailMessages(charge_point_id=cp_id, after=after, limit=limit)
        async with self._sessions() as session:
            return await messages_since(params, Context(session, self._settings))

    async def list(self, cp_id: str) -> MessageListing:
        async with self._sessions() as session:
            return await list_messages(
                ListMessages(charge_point_id=cp_id), Context(session, self._settings)
            )


@pytest.fixture
def log(sessions: async_sessionmaker[AsyncSession], settings: Settings) -> Log:
    return Log(sessions, settings)


def actions(answer: MessageTail) -> list[str]:
    return [str(item.action) for item in answer.items]


async def test_records_come_oldest_first_each_with_its_position(
    writer: Writer, log: Log, cp_id: str
) -> None:
    await store(writer, cp_id, ("Authorize", NOW - timedelta(seconds=1)))
    start = (await log.since(cp_id, None)).position
    await store(
        writer,
        cp_id,
        ("StatusNotification", NOW + timedelta(seconds=2)),
        ("Heartbeat", NOW),
        ("MeterValues", NOW + timedelta(seconds=1)),
    )

    answer = await log.since(cp_id, start)

    assert actions(answer) == ["Authorize", "Heartbeat", "MeterValues", "StatusNotification"]
    assert answer.more is False
    listed = await log.list(cp_id)
    assert answer.positions == listed.positions[::-1]
    assert answer.position == answer.positions[-1]


async def test_with_no_position_it_answers_no_records_but_the_newest_position(
    writer: Writer, log: Log, cp_id: str
) -> None:
    await store(
        writer,
        cp_id,
        ("BootNotification", NOW - timedelta(minutes=1)),
        ("Heartbeat", NOW - timedelta(seconds=30)),
    )

    start = await log.since(cp_id, None)
    assert start.items == [] and start.more is False
    assert start.position == (await log.list(cp_id)).positions[0]

    await store(writer, cp_id, ("StatusNotification", NOW))
    # The newest record read again (the follower has it), not those long before it.
    assert actions(await log.since(cp_id, start.position)) == ["Heartbeat", "StatusNotification"]


async def test_a_cp_with_nothing_logged_is_followed_from_its_first_record(
    writer: Writer, log: Log, cp_id: str
) -> None:
    start = await log.since(cp_id, None)
    assert start.items == []

    # However far the gateway's clock is behind this one's.
    await store(writer, cp_id, ("BootNotification", NOW - timedelta(minutes=10)))
    assert actions(await log.since(cp_id, start.position)) == ["BootNotification"]


async def test_a_row_committed_late_within_the_window_is_read_again_an_older_one_is_not(
    writer: Writer, log: Log, cp_id: str
) -> None:
    await store(writer, cp_id, ("Heartbeat", NOW))
    position = (await log.since(cp_id, None)).position
    # Stored after the position was given, stamped before it: another writer's batch.
    await store(
        writer,
        cp_id,
        ("MeterValues", NOW - timedelta(seconds=2)),
        ("Authorize", NOW - timedelta(seconds=10)),
    )

    answer = await log.since(cp_id, position)

    assert actions(answer) == ["MeterValues", "Heartbeat"]
    # A row read again never moves the position back.
    assert answer.position == position


async def test_more_records_than_the_limit_is_a_flood(writer: Writer, log: Log, cp_id: str) -> None:
    await store(writer, cp_id, ("Heartbeat", NOW))
    position = (await log.since(cp_id, None)).position
    await store(
        writer, cp_id, *(("MeterValues", NOW + timedelta(milliseconds=n)) for n in range(1, 4))
    )

    answer = await log.since(cp_id, position, limit=3)

    assert answer.more is True
    assert actions(answer) == ["Heartbeat", "MeterValues", "MeterValues"]
    assert answer.position == answer.positions[-1]


async def test_other_cps_records_are_not_followed(writer: Writer, log: Log, cp_id: str) -> None:
    position = (await log.since(cp_id, None)).position
    await store(writer, cp_id + "-other", ("Heartbeat", NOW))
    assert (await log.since(cp_id, position)).items == []


@pytest.mark.parametrize("after", ["not a position", "MTIz", "LTYyMTM1NTk2ODAwMDAwMDAwLjE"])
async def test_a_position_this_api_did_not_give_is_refused(
    log: Log, cp_id: str, after: str
) -> None:
    with pytest.raises(RpcError, match="after") as refused:
        await log.since(cp_id, after)
    assert refused.value.code == "invalid"
