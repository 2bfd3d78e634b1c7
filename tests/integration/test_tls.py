"""Profile 3 at a TLS gateway: trust and CRL files reloaded whole (SIGHUP or a file change);
SignCertificate only for the CP's own id."""

from __future__ import annotations

import os
import signal
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from websockets.exceptions import InvalidMessage

from tests.integration.certs import Authority, Issued, csr
from tests.integration.support import ChargePointClient, ServiceProcess, eventually

pytestmark = pytest.mark.integration

BOOT = {"chargePointVendor": "ACME", "chargePointModel": "X1"}
RELOADED = "TLS certificates reloaded"
RELOAD_FAILED = "could not reload the TLS certificates"


@dataclass
class Pki:
    """Two CAs the gateway trusts (A also signed its server certificate), and the files it reads."""

    a: Authority
    b: Authority
    server: Issued
    trust: Path
    crl: Path

    def write(self, path: Path, data: bytes) -> None:
        """Replace a file whole, as a Kubernetes Secret update does (no half-written reads)."""
        staged = path.with_suffix(".new")
        staged.write_bytes(data)
        os.replace(staged, path)

    def trust_only(self, *authorities: Authority) -> None:
        self.write(self.trust, b"".join(ca.files.cert.read_bytes() for ca in authorities))

    def revoke(self, *revoked: Issued) -> None:
        """Write both CAs' CRLs: `revoked` listed in A's."""
        self.write(self.crl, self.a.crl(*revoked) + self.b.crl())


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    a, b = Authority(tmp_path, "ca-a"), Authority(tmp_path, "ca-b")
    pki = Pki(a, b, a.issue("localhost", server=True), tmp_path / "trust.pem", tmp_path / "crl.pem")
    pki.trust_only(a, b)
    pki.revoke()
    return pki


@dataclass
class TlsGateway:
    process: ServiceProcess
    url: str

    def log_count(self, text: str) -> int:
        return self.process.log_path.read_text(errors="replace").count(text)


async def start_gateway(suite: Any, pki: Pki, name: str, **env: str) -> TlsGateway:
    process, port = suite.extra_gateway(
        name,
        GATEWAY_TLS_CERT_FILE=str(pki.server.cert),
        GATEWAY_TLS_KEY_FILE=str(pki.server.key),
        GATEWAY_TLS_CLIENT_CA_FILE=str(pki.trust),
        **env,
    )
    return TlsGateway(process, f"wss://127.0.0.1:{port}")


@pytest.fixture
async def sighup_gateway(suite: Any, pki: Pki) -> AsyncIterator[TlsGateway]:
    """Reloads on SIGHUP only; checks client certificates against the CRL file."""
    gateway = await start_gateway(
        suite,
        pki,
        "gateway-tls-sighup",
        GATEWAY_TLS_RELOAD_INTERVAL="0",
        GATEWAY_TLS_CRL_FILE=str(pki.crl),
    )
    yield gateway
    gateway.process.stop()


@pytest.fixture
async def watching_gateway(suite: Any, pki: Pki) -> AsyncIterator[TlsGateway]:
    """Reloads when its files change (checked every 0.1 s)."""
    gateway = await start_gateway(
        suite,
        pki,
        "gateway-tls-watch",
        GATEWAY_TLS_RELOAD_INTERVAL="0.1",
        GATEWAY_TLS_CRL_FILE=str(pki.crl),
    )
    yield gateway
    gateway.process.stop()


def client_tls(pki: Pki, cert: Issued) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki.a.files.cert))
    context.load_cert_chain(str(cert.cert), str(cert.key))
    return context


async def profile_3(api: httpx.AsyncClient, *cp_ids: str) -> None:
    for cp_id in cp_ids:
        response = await api.put(f"/charge-points/{cp_id}", json={"securityProfile": 3})
        assert response.status_code == 200, response.text


async def gets_in(url: str, cp_id: str, context: ssl.SSLContext) -> None:
    cp = await ChargePointClient.connect(url, cp_id, ssl_context=context)
    assert (await cp.call("BootNotification", BOOT))["status"] == "Accepted"
    await cp.close()


async def refused_at_tls(url: str, cp_id: str, context: ssl.SSLContext) -> bool:
    """True when the TLS handshake fails (no HTTP status: the upgrade request never got read)."""
    try:
        cp = await ChargePointClient.connect(url, cp_id, ssl_context=context)
    except (ssl.SSLError, ConnectionError, InvalidMessage):
        return True
    await cp.close()
    return False


async def sighup(gateway: TlsGateway, wait_for: str = RELOADED) -> None:
    """Send SIGHUP and wait for the gateway's log to say how the reload went."""
    before = gateway.log_count(wait_for)
    assert gateway.process.proc is not None
    gateway.process.proc.send_signal(signal.SIGHUP)

    async def logged() -> bool:
        return gateway.log_count(wait_for) > before

    await eventually(logged, timeout=10)


async def test_ca_removed_from_the_trust_file_is_refused_after_sighup(
    api: httpx.AsyncClient, sighup_gateway: TlsGateway, pki: Pki, cp_id: str
) -> None:
    cp_a, cp_b = f"{cp_id}-A", f"{cp_id}-B"
    await profile_3(api, cp_a, cp_b)
    by_a, by_b = client_tls(pki, pki.a.issue(cp_a)), client_tls(pki, pki.b.issue(cp_b))
    await gets_in(sighup_gateway.url, cp_b, by_b)

    pki.trust_only(pki.a)
    await sighup(sighup_gateway)
    assert await refused_at_tls(sighup_gateway.url, cp_b, by_b)
    await gets_in(sighup_gateway.url, cp_a, by_a)


async def test_ca_removed_from_the_trust_file_is_refused_once_the_file_changes(
    api: httpx.AsyncClient, watching_gateway: TlsGateway, pki: Pki, cp_id: str
) -> None:
    cp_a, cp_b = f"{cp_id}-A", f"{cp_id}-B"
    await profile_3(api, cp_a, cp_b)
    by_a, by_b = client_tls(pki, pki.a.issue(cp_a)), client_tls(pki, pki.b.issue(cp_b))
    await gets_in(watching_gateway.url, cp_b, by_b)

    pki.trust_only(pki.a)
    await eventually(lambda: refused_at_tls(watching_gateway.url, cp_b, by_b), timeout=10)
    await gets_in(watching_gateway.url, cp_a, by_a)


async def test_revoked_client_certificate_is_refused_at_the_handshake(
    api: httpx.AsyncClient, watching_gateway: TlsGateway, pki: Pki, cp_id: str
) -> None:
    revoked_cp, other_cp = f"{cp_id}-R", f"{cp_id}-O"
    await profile_3(api, revoked_cp, other_cp)
    revoked, other = pki.a.issue(revoked_cp), pki.a.issue(other_cp)
    await gets_in(watching_gateway.url, revoked_cp, client_tls(pki, revoked))

    # The CRL is reloaded with the rest: revoking needs no restart.
    pki.revoke(revoked)
    await eventually(
        lambda: refused_at_tls(watching_gateway.url, revoked_cp, client_tls(pki, revoked)),
        timeout=10,
    )
    await gets_in(watching_gateway.url, other_cp, client_tls(pki, other))


async def test_revoked_at_start_and_a_failed_reload_keeps_the_previous_context(
    api: httpx.AsyncClient, suite: Any, pki: Pki, cp_id: str
) -> None:
    revoked_cp, good_cp = f"{cp_id}-R", f"{cp_id}-G"
    await profile_3(api, revoked_cp, good_cp)
    revoked, good = pki.a.issue(revoked_cp), pki.a.issue(good_cp)
    pki.revoke(revoked)
    gateway = await start_gateway(
        suite,
        pki,
        "gateway-tls-crl",
        GATEWAY_TLS_RELOAD_INTERVAL="0",
        GATEWAY_TLS_CRL_FILE=str(pki.crl),
    )
    try:
        assert await refused_at_tls(gateway.url, revoked_cp, client_tls(pki, revoked))
        await gets_in(gateway.url, good_cp, client_tls(pki, good))

        # A broken trust file: the reload fails, says why, and the gateway goes on as before.
        pki.write(pki.trust, b"-----BEGIN CERTIFICATE-----\nnot a certificate\n")
        await sighup(gateway, wait_for=RELOAD_FAILED)
        await gets_in(gateway.url, good_cp, client_tls(pki, good))
        assert await refused_at_tls(gateway.url, revoked_cp, client_tls(pki, revoked))
        assert gateway.process.proc is not None and gateway.process.proc.poll() is None
    finally:
        gateway.process.stop()


async def test_sign_certificate_for_another_cp_id_is_rejected_and_recorded(
    api: httpx.AsyncClient,
    sighup_gateway: TlsGateway,
    pki: Pki,
    cp_id: str,
    db: asyncpg.Connection,
) -> None:
    await profile_3(api, cp_id)
    cp = await ChargePointClient.connect(
        sighup_gateway.url, cp_id, ssl_context=client_tls(pki, pki.a.issue(cp_id))
    )
    try:
        assert (await cp.call("BootNotification", BOOT))["status"] == "Accepted"
        # A CP asking for a certificate in another CP's name.
        assert await cp.call("SignCertificate", {"csr": csr("CP-VICTIM")}) == {"status": "Rejected"}
        assert await cp.call("SignCertificate", {"csr": "x" * 5000}) == {"status": "Rejected"}
        own = csr(cp_id)
        assert await cp.call("SignCertificate", {"csr": own}) == {"status": "Accepted"}
    finally:
        await cp.close()

    events = (await api.get(f"/charge-points/{cp_id}/security-events")).json()["items"]
    invalid = [e for e in events if e["type"] == "InvalidCsr"]
    assert [e["source"] for e in invalid] == ["csms", "csms"]
    tech_info = sorted(e["techInfo"] for e in invalid)
    assert tech_info[0] == "the CSR is not a PEM certificate signing request (ValueError)"
    assert tech_info[1] == "the CSR's commonName 'CP-VICTIM' is not this charge point's id"
    # Only the CSR for its own id is kept for the CA integration.
    kept = (await api.get(f"/charge-points/{cp_id}/certificate-requests")).json()["items"]
    assert [item["csr"] for item in kept] == [own]
    assert (
        await db.fetchval(
            "SELECT count(*) FROM registry.security_events WHERE charge_point_id = $1"
            " AND type = 'InvalidCsr'",
            cp_id,
        )
        == 2
    )
