"""Where webhooks may post: the address check, and the connection pinned to a checked address."""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker

from command_api.settings import Settings
from command_api.webhooks import Webhooks
from csms_shared.outbound import (
    Network,
    RefusedTarget,
    allowed_address,
    check_target,
    pinned_request,
)
from tests.integration.certs import Authority

LOOPBACK: list[Network] = [
    ipaddress.ip_network("127.0.0.0/8"),
    ipaddress.ip_network("::1/128"),
]
BODY = b'{"chargePointId":"CP-1"}'


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "::",
        "::1",
        "fe80::1",
        "fe80::1%eth0",
        "fc00::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "64:ff9b::7f00:1",
        "64:ff9b::a9fe:a9fe",
        "64:ff9b::",
        "64:ff9b:1::808:808",
        "2002:7f00:1::1",
        "2002:a00:1::1",
        "::7f00:1",
        "224.0.0.1",
        "ff02::1",
    ],
)
def test_non_public_addresses_are_refused(address: str) -> None:
    assert not allowed_address(address, [])


@pytest.mark.parametrize(
    "address",
    ["8.8.8.8", "2001:4860:4860::8888", "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1"],
)
def test_public_addresses_are_accepted(address: str) -> None:
    assert allowed_address(address, [])


def test_an_allowed_network_admits_its_addresses_and_no_other() -> None:
    assert allowed_address("127.0.0.1", LOOPBACK)
    assert allowed_address("::1", LOOPBACK)
    assert allowed_address("::ffff:127.0.0.1", LOOPBACK)
    assert allowed_address("64:ff9b::7f00:1", LOOPBACK)
    assert not allowed_address("10.0.0.1", LOOPBACK)
    assert not allowed_address("0.0.0.0", [ipaddress.ip_network("0.0.0.0/0")])


async def test_loopback_is_refused_unless_its_network_is_allowed() -> None:
    with pytest.raises(RefusedTarget, match="loopback"):
        await check_target("http://localhost:8080/hook", [])
    with pytest.raises(RefusedTarget, match=r"127\.0\.0\.1"):
        await check_target("http://127.0.0.1:8080/hook", [])
    addresses = await check_target("http://localhost:8080/hook", LOOPBACK)
    assert addresses and all(ipaddress.ip_address(a).is_loopback for a in addresses)
    assert await check_target("http://[::1]:8080/hook", LOOPBACK) == ["::1"]


@pytest.mark.parametrize(
    "url",
    [
        "http://10.1.2.3/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::ffff:127.0.0.1]/hook",
        "http://[64:ff9b::7f00:1]/hook",
        "http://[2002:7f00:1::1]/hook",
        "http://0.0.0.0:8080/hook",
        "http://[::]:8080/hook",
    ],
)
async def test_non_public_literal_urls_are_refused(url: str) -> None:
    with pytest.raises(RefusedTarget):
        await check_target(url, [])


async def test_public_literal_urls_pass_as_their_address() -> None:
    assert await check_target("https://8.8.8.8/hook", []) == ["8.8.8.8"]
    assert await check_target("https://[2001:4860:4860::8888]/h", []) == ["2001:4860:4860::8888"]


@pytest.mark.parametrize(
    ("url", "detail"),
    [
        ("ftp://8.8.8.8/x", "http"),
        ("file:///etc/passwd", "http"),
        ("8.8.8.8/x", "http"),
        ("http://user:pass@8.8.8.8/x", "credentials"),
        ("https://token@8.8.8.8/x", "credentials"),
    ],
)
async def test_other_schemes_and_credentials_are_refused(url: str, detail: str) -> None:
    with pytest.raises(RefusedTarget, match=detail):
        await check_target(url, LOOPBACK)


def test_the_pinned_request_goes_to_the_address_and_names_the_host() -> None:
    client = httpx.AsyncClient(timeout=3)
    request = pinned_request(client, "https://hooks.example.com/csms?x=1", "8.8.8.8", {}, BODY)
    assert str(request.url) == "https://8.8.8.8/csms?x=1"
    assert request.headers["Host"] == "hooks.example.com"
    assert request.extensions["sni_hostname"] == "hooks.example.com"
    assert request.extensions["timeout"]["connect"] == 3
    assert request.content == BODY

    v6 = pinned_request(client, "http://hooks.example.com:8080/h", "2001:db8::1", {}, BODY)
    assert str(v6.url) == "http://[2001:db8::1]:8080/h"
    assert v6.headers["Host"] == "hooks.example.com:8080"
    assert "sni_hostname" not in v6.extensions


def _webhooks(handler: httpx.MockTransport | httpx.AsyncHTTPTransport) -> Webhooks:
    settings = Settings(webhook_allowed_networks=["127.0.0.0/8", "::1/128"])
    return Webhooks(settings, async_sessionmaker(), transport=handler)


async def test_a_post_goes_to_a_checked_address_with_the_hosts_name() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    hooks = _webhooks(httpx.MockTransport(answer))
    checked = await check_target("https://localhost:8443/hooks", LOOPBACK)
    status = await hooks.post("https://localhost:8443/hooks", "s" * 16, "e-1", "x.y", BODY)
    assert status == 204
    [request] = seen
    assert request.url.host in checked
    assert request.url.port == 8443 and request.url.path == "/hooks"
    assert request.headers["Host"] == "localhost:8443"
    assert request.extensions["sni_hostname"] == "localhost"
    assert request.headers["X-CSMS-Event-Id"] == "e-1"
    assert request.content == BODY
    await hooks.close()


async def test_a_refused_connection_tries_the_next_checked_address_then_fails() -> None:
    tried: list[str] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        tried.append(request.url.host)
        raise httpx.ConnectError("refused", request=request)

    hooks = _webhooks(httpx.MockTransport(refuse))
    with pytest.raises(httpx.ConnectError):
        await hooks.post("http://localhost:9/hooks", "s" * 16, "e-1", "x.y", BODY)
    assert tried == await check_target("http://localhost:9/hooks", LOOPBACK)
    await hooks.close()


async def test_a_refused_target_is_not_posted_to() -> None:
    tried: list[httpx.Request] = []
    hooks = _webhooks(httpx.MockTransport(lambda r: tried.append(r) or httpx.Response(200)))
    with pytest.raises(RefusedTarget):
        await hooks.post("http://10.0.0.1/hooks", "s" * 16, "e-1", "x.y", BODY)
    assert tried == []
    await hooks.close()


class TlsReceiver:
    """An https endpoint on 127.0.0.1 whose certificate names localhost and 127.0.0.1."""

    def __init__(self, directory: Path) -> None:
        self.ca = Authority(directory, "webhook-ca")
        issued = self.ca.issue("receiver", server=True)
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(issued.cert, issued.key)
        self.context.sni_callback = self._sni
        self.names: list[str | None] = []
        self.hosts: list[str] = []

    def _sni(self, _conn: ssl.SSLObject, name: str | None, _context: ssl.SSLContext) -> None:
        self.names.append(name)

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=self.context)
        return int(self.server.sockets[0].getsockname()[1])

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"host:"):
                    self.hosts.append(line[5:].strip().decode())
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            await writer.drain()
        except (ssl.SSLError, ConnectionError):
            pass
        finally:
            writer.close()

    def client_transport(self) -> httpx.AsyncHTTPTransport:
        return httpx.AsyncHTTPTransport(
            verify=ssl.create_default_context(cafile=self.ca.files.cert)
        )


@pytest.fixture
async def tls_receiver(tmp_path: Path) -> AsyncIterator[tuple[TlsReceiver, int]]:
    receiver = TlsReceiver(tmp_path)
    port = await receiver.start()
    yield receiver, port
    receiver.server.close()


async def test_tls_to_the_pinned_address_uses_the_hosts_name_for_sni_and_the_certificate(
    tls_receiver: tuple[TlsReceiver, int],
) -> None:
    receiver, port = tls_receiver
    hooks = _webhooks(receiver.client_transport())
    assert await hooks.post(f"https://localhost:{port}/h", "s" * 16, "e-1", "x.y", BODY) == 200
    assert receiver.names[-1] == "localhost"
    assert receiver.hosts[-1] == f"localhost:{port}"
    await hooks.close()

    # The certificate covers 127.0.0.1, the address connected to, but not the URL's name.
    client = httpx.AsyncClient(transport=receiver.client_transport())
    request = pinned_request(client, f"https://elsewhere.test:{port}/h", "127.0.0.1", {}, BODY)
    with pytest.raises(httpx.ConnectError, match="certificate verify failed"):
        await client.send(request)
    await client.aclose()
