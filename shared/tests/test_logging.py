"""Log lines: RFC 3339 UTC timestamps with milliseconds, context fields, escaped control chars."""

from __future__ import annotations

import asyncio
import logging
import re

import orjson
import pytest

from csms_shared.log_context import bind, bound, current
from csms_shared.logging import configure_logging, rfc3339

RFC3339_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def _lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return capsys.readouterr().err.splitlines()


def test_rfc3339_is_utc_with_milliseconds() -> None:
    assert rfc3339(0.5) == "1970-01-01T00:00:00.500Z"
    assert RFC3339_MS.match(rfc3339(1_790_000_000.123456))


def test_json_lines_carry_the_bound_context(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("unit", "INFO", json=True)
    with bound(charge_point_id="CP-1", connection_id="c-9"):
        logging.getLogger("t").info("hello %s", "world", extra={"command_id": "cmd-1"})
    logging.getLogger("t").info("after")
    first, second = (orjson.loads(line) for line in _lines(capsys))
    assert RFC3339_MS.match(first["ts"])
    assert first["service"] == "unit" and first["msg"] == "hello world"
    assert first["charge_point_id"] == "CP-1"
    assert first["connection_id"] == "c-9"
    assert first["command_id"] == "cmd-1"
    assert "charge_point_id" not in second  # the block ended: nothing leaks


def test_text_lines_escape_control_characters_in_context(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("unit", "INFO", json=False)
    with bound(charge_point_id="CP\nforged"):
        logging.getLogger("t").warning("id %s", "a\rb")
    [line] = _lines(capsys)
    assert RFC3339_MS.match(line.split(" ")[0])
    assert "id a\\x0db" in line and line.endswith("charge_point_id=CP\\x0aforged")


async def test_context_stays_in_its_task() -> None:
    seen: dict[str, object] = {}

    async def connection(name: str) -> None:
        bind(charge_point_id=name)
        await asyncio.sleep(0)
        seen[name] = current().get("charge_point_id")

    await asyncio.gather(connection("A"), connection("B"))
    assert seen == {"A": "A", "B": "B"}
    assert "charge_point_id" not in current()


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown log context fields"):
        bind(service="x")
