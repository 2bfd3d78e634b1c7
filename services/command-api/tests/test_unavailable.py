"""A broker or database outage is answered 503 with Retry-After, never 500; bugs stay 500."""

from __future__ import annotations

import pytest
from aio_pika.exceptions import AMQPConnectionError, ChannelInvalidStateError
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.exc import DBAPIError

from command_api import problems


class _DriverError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"SQLSTATE {sqlstate}")
        self.sqlstate = sqlstate


def _client(exc: Exception) -> TestClient:
    app = FastAPI()
    problems.install(app)

    @app.get("/fail")
    async def fail() -> None:
        raise exc

    return TestClient(app, raise_server_exceptions=False)


@pytest.mark.parametrize(
    "exc",
    [
        ChannelInvalidStateError("channel closed"),
        AMQPConnectionError(111, "Connection refused"),
        ConnectionRefusedError(111, "Connection refused"),
        DBAPIError("SELECT 1", None, _DriverError("57P03")),  # cannot connect now
        DBAPIError("SELECT 1", None, _DriverError("08006")),  # connection failure
    ],
)
def test_a_dependency_outage_is_a_503_with_retry_after(exc: Exception) -> None:
    response = _client(exc).get("/fail")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert response.headers["content-type"] == problems.MEDIA_TYPE
    body = response.json()
    assert body["type"] == problems.UNAVAILABLE and body["status"] == 503


def test_any_other_database_error_is_still_a_500() -> None:
    response = _client(DBAPIError("INSERT", None, _DriverError("23505"))).get("/fail")
    assert response.status_code == 500
    assert response.json()["status"] == 500
