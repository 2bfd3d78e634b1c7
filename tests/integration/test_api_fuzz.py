"""A property-based fuzz of command-api's OpenAPI against the running app: no 500s."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.integration.conftest import ADMIN_KEY

pytestmark = pytest.mark.integration

# Python frames deep enough for schemathesis's first imports. It imports many of its modules
# lazily, in loading the schema and deep inside hypothesis's drawing, and pytest rewrites their
# asserts (schemathesis is a pytest plugin) by parsing them there; CPython 3.11 before 3.11.8
# (gh-106905) then reports a parse that ran out of the little depth left as "SystemError: AST
# constructor recursion depth mismatch" instead of a RecursionError. With room to spare, the
# parse never runs out.
DEPTH = 20_000


@contextmanager
def _stack_room() -> Iterator[None]:
    before = sys.getrecursionlimit()
    sys.setrecursionlimit(max(before, DEPTH))
    try:
        yield
    finally:
        sys.setrecursionlimit(before)


def test_no_input_makes_the_api_fail(suite: Any) -> None:
    # Loading the schema and drawing cases both import (and pytest rewrites) more of
    # schemathesis's modules: the whole fuzz gets the room.
    with _stack_room():
        _fuzz(suite.api_url.removesuffix("/api/v1") + "/openapi.json")


def _fuzz(schema_url: str) -> None:
    schema = schemathesis.openapi.from_url(schema_url)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 26
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=int(os.environ.get("CSMS_FUZZ_EXAMPLES", "8")),
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def exercise(case: Any) -> None:
            response = case.call(headers=headers, timeout=30)
            assert response.status_code < 500, (
                f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text}"
            )

        exercise()
