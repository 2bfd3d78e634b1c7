"""Calls to parties: only to public addresses unless a network is allowed; the envelope is
checked; what went wrong is said."""

from __future__ import annotations

import ipaddress

import httpx
import pytest

from roaming.ocpi.versions import Version
from roaming.ocpi_client import OcpiClient, PartyError


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/ocpi/versions",
        "http://localhost:9/ocpi/versions",
        "http://169.254.169.254/latest/meta-data",
        "http://10.0.0.1/ocpi/versions",
        "http://[::1]:9/ocpi/versions",
    ],
)
async def test_a_party_url_into_a_private_network_is_refused(url: str) -> None:
    client = OcpiClient(2.0, [])
    with pytest.raises(PartyError, match="ROAMING_ALLOWED_NETWORKS"):
        await client.call("GET", url, "t", list[Version])
    await client.close()


async def test_an_allowed_network_is_called_over_the_checked_address() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            200, json={"status_code": 1000, "timestamp": "2026-11-26T20:00:00Z", "data": []}
        )

    client = OcpiClient(
        2.0, [ipaddress.ip_network("127.0.0.0/8")], transport=httpx.MockTransport(answer)
    )
    assert await client.call("GET", "http://localhost:9/ocpi/versions", "tok", list[Version]) == []
    (request,) = seen
    assert request.url.host == "127.0.0.1" and request.headers["host"] == "localhost:9"
    assert request.headers["authorization"] == "Token dG9r"
    assert request.headers["x-request-id"] and request.headers["x-correlation-id"]
    await client.close()


@pytest.mark.parametrize(
    ("status", "body", "problem"),
    [
        (200, b"<html>", "not an OCPI response"),
        (200, b'{"status_code": 2001, "timestamp": "2026-11-26T20:00:00Z"}', "OCPI status 2001"),
        (500, b'{"status_code": 3000, "timestamp": "2026-11-26T20:00:00Z"}', "HTTP 500"),
        (
            200,
            b'{"status_code": 1000, "timestamp": "2026-11-26T20:00:00Z", "data": [{"v": 1}]}',
            "its data is not OCPI's",
        ),
    ],
)
async def test_an_answer_that_is_not_a_success_says_why(
    status: int, body: bytes, problem: str
) -> None:
    client = OcpiClient(
        2.0, None, transport=httpx.MockTransport(lambda r: httpx.Response(status, content=body))
    )
    with pytest.raises(PartyError, match=problem):
        await client.call("GET", "http://emsp.test/ocpi/versions", "t", list[Version])
    await client.close()


def _envelope(status: int) -> bytes:
    return b'{"status_code": %d, "timestamp": "2026-11-26T20:00:00Z"}' % status


@pytest.mark.parametrize(
    ("status", "body", "refused"),
    [
        (400, _envelope(2001), True),  # a client error: the request will not do
        (200, _envelope(2003), True),  # the same in the envelope alone
        (404, b"<html>", True),  # no envelope, the HTTP status says enough
        (401, _envelope(2000), True),
        (400, _envelope(3001), False),  # its server failed to call ours: may pass
        (200, _envelope(3000), False),
        (500, _envelope(2000), False),  # any 5xx may pass
        (503, b"", False),
        (408, _envelope(2000), False),  # timed out, too many requests: try again
        (429, b"", False),
        (200, _envelope(4001), False),  # a hub's error: retried as before
        (200, b"<html>", False),
    ],
)
async def test_a_refusal_for_good_is_told_from_a_failure_that_may_pass(
    status: int, body: bytes, refused: bool
) -> None:
    client = OcpiClient(
        2.0, None, transport=httpx.MockTransport(lambda r: httpx.Response(status, content=body))
    )
    with pytest.raises(PartyError) as raised:
        await client.call("PUT", "http://emsp.test/ocpi/2.2.1/locations/DE/CSM/L1", "t", None)
    assert raised.value.refused is refused
    assert raised.value.http_status == status
    await client.close()


async def test_no_answer_is_no_refusal() -> None:
    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    client = OcpiClient(2.0, None, transport=httpx.MockTransport(unreachable))
    with pytest.raises(PartyError) as raised:
        await client.call("PUT", "http://emsp.test/ocpi/2.2.1/locations/DE/CSM/L1", "t", None)
    assert not raised.value.refused and raised.value.http_status is None
    await client.close()


@pytest.mark.parametrize("excl_vat", ["0.25", True])
def test_a_number_sent_as_a_string_or_a_boolean_is_refused(excl_vat: object) -> None:
    from pydantic import ValidationError

    from roaming.ocpi.types import Price

    with pytest.raises(ValidationError, match="excl_vat"):
        Price.model_validate({"excl_vat": excl_vat})
    assert Price.model_validate({"excl_vat": 0.25}).wire() == {"excl_vat": 0.25}
