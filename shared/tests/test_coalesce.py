"""The coalescing AMQP writer: frames of one loop turn go out in one write, in order."""

from __future__ import annotations

import asyncio
from typing import Any

import aiormq.connection

from csms_shared.bus import coalesce
from csms_shared.bus.coalesce import CoalescingWriter


class Recorder:
    """What a StreamWriter is asked to do."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.calls: list[str] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)
        self.calls.append("write")

    async def drain(self) -> None:
        self.calls.append("drain")

    def write_eof(self) -> None:
        self.calls.append("write_eof")

    def close(self) -> None:
        self.closing = True
        self.calls.append("close")

    def is_closing(self) -> bool:
        return self.closing

    def can_write_eof(self) -> bool:
        return True


def writer() -> tuple[CoalescingWriter, Recorder]:
    recorder = Recorder()
    return CoalescingWriter(recorder), recorder  # type: ignore[arg-type]


async def test_writes_of_one_turn_go_out_as_one_in_order() -> None:
    w, r = writer()
    for i in range(5):
        w.write(bytes([i]))
    assert r.writes == []
    await asyncio.sleep(0)
    assert r.writes == [bytes([0, 1, 2, 3, 4])]
    w.write(b"x")
    await asyncio.sleep(0)
    assert r.writes == [bytes([0, 1, 2, 3, 4]), b"x"]


async def test_drain_close_and_eof_write_what_is_pending_first() -> None:
    w, r = writer()
    w.write(b"a")
    w.write(b"b")
    await w.drain()
    assert r.writes == [b"ab"] and r.calls == ["write", "drain"]
    w.write(b"c")
    w.write_eof()
    w.write(b"d")
    w.close()
    assert r.writes == [b"ab", b"c", b"d"]
    assert r.calls[-4:] == ["write", "write_eof", "write", "close"]
    # The turn's scheduled flush finds nothing left; nothing is written after close.
    w.write(b"late")
    await asyncio.sleep(0)
    assert r.writes == [b"ab", b"c", b"d"]


async def test_other_attributes_are_the_stream_writers() -> None:
    w, _ = writer()
    assert w.can_write_eof() is True
    assert w.is_closing() is False


async def test_install_wraps_aiormq_writer_once(monkeypatch: Any) -> None:
    seen: list[Any] = []

    async def original(self: Any, stream: Any) -> None:
        seen.append(stream)

    monkeypatch.setattr(aiormq.connection.Connection, coalesce._WRITER_ATTR, original)
    assert coalesce.install() is True
    installed = getattr(aiormq.connection.Connection, coalesce._WRITER_ATTR)
    assert coalesce.install() is True
    assert getattr(aiormq.connection.Connection, coalesce._WRITER_ATTR) is installed
    stream = Recorder()
    await installed(object(), stream)
    assert isinstance(seen[0], CoalescingWriter)


def test_install_leaves_an_unknown_aiormq_alone(monkeypatch: Any) -> None:
    monkeypatch.delattr(aiormq.connection.Connection, coalesce._WRITER_ATTR)
    assert coalesce.install() is False
