"""Server TLS contexts: trust from the configured files alone; a failed reload changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.certs import Authority
from ws_gateway.settings import Settings
from ws_gateway.tls import ServerTls, build_context


@pytest.fixture
def ca(tmp_path: Path) -> Authority:
    return Authority(tmp_path, "gateway-ca")


def tls_settings(ca: Authority, **extra: str) -> Settings:
    server = ca.issue("localhost", server=True)
    files = {"tls_cert_file": str(server.cert), "tls_key_file": str(server.key)}
    return Settings(**{"tls_client_ca_file": str(ca.files.cert), **files, **extra})  # type: ignore[arg-type]


def test_client_certificates_chain_to_the_trust_file_alone(
    ca: Authority, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Whatever OpenSSL's default store holds (here: another CA) is not trusted for clients.
    monkeypatch.setenv("SSL_CERT_FILE", str(Authority(tmp_path, "system-ca").files.cert))
    context = build_context(tls_settings(ca))
    assert context.cert_store_stats()["x509_ca"] == 1
    assert [c["subject"] for c in context.get_ca_certs()] == [((("commonName", "gateway-ca"),),)]


def test_crl_file_needs_a_client_ca_file(ca: Authority, tmp_path: Path) -> None:
    crl = tmp_path / "crl.pem"
    crl.write_bytes(ca.crl())
    settings = tls_settings(ca, tls_crl_file=str(crl))
    assert build_context(settings).cert_store_stats()["crl"] == 1
    with pytest.raises(ValueError, match="GATEWAY_TLS_CLIENT_CA_FILE"):
        build_context(settings.model_copy(update={"tls_client_ca_file": None}))


def test_failed_reload_keeps_the_context_in_use(
    ca: Authority, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    trust = tmp_path / "trust.pem"
    trust.write_bytes(ca.files.cert.read_bytes())
    tls = ServerTls(tls_settings(ca, tls_client_ca_file=str(trust)))
    in_use = tls.current
    trust.write_text("-----BEGIN CERTIFICATE-----\nbroken\n")
    assert tls.reload() is False
    assert tls.current is in_use
    assert "keeping the previous ones" in caplog.text
    trust.write_bytes(ca.files.cert.read_bytes())
    assert tls.reload() is True
    assert tls.current is not in_use
