"""Server TLS contexts: trust from the configured files alone; a failed reload changes nothing."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from tests.integration.certs import Authority, Issued
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


def handshake(
    server: ssl.SSLContext, client: ssl.SSLContext, session: ssl.SSLSession | None = None
) -> ssl.SSLObject:
    """A TLS handshake in memory, without SNI as a CP dialling an IP; the client's end."""
    c_in, c_out, s_in, s_out = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    client_end = client.wrap_bio(c_in, c_out, server_side=False, session=session)
    server_end = server.wrap_bio(s_in, s_out, server_side=True)
    done = {"client": False, "server": False}
    for _ in range(10):  # a handshake takes two or three flights
        for name, end in (("client", client_end), ("server", server_end)):
            if not done[name]:
                try:
                    end.do_handshake()
                    done[name] = True
                except ssl.SSLWantReadError:
                    pass
            s_in.write(c_out.read())
            c_in.write(s_out.read())
        if all(done.values()):
            break
    # TLS 1.3 tickets come after the handshake: the client takes them in with the first data.
    server_end.write(b"hello")
    c_in.write(s_out.read())
    assert client_end.read() == b"hello"
    return client_end


def client_context(server_ca: Authority, cert: Issued) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(server_ca.files.cert))
    context.check_hostname = False  # an IP address, no SNI
    context.load_cert_chain(str(cert.cert), str(cert.key))
    return context


@pytest.mark.parametrize(
    "version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3], ids=["TLSv1.2", "TLSv1.3"]
)
def test_no_session_resumption_around_a_reload(
    ca: Authority, tmp_path: Path, version: ssl.TLSVersion
) -> None:
    other = Authority(tmp_path, "other-ca")
    trust = tmp_path / "trust.pem"
    trust.write_bytes(ca.files.cert.read_bytes() + other.files.cert.read_bytes())
    tls = ServerTls(tls_settings(ca, tls_client_ca_file=str(trust)))
    client = client_context(ca, other.issue("CP-B"))
    client.maximum_version = version
    first = handshake(tls.listening, client)
    assert first.getpeercert() and not first.session_reused

    trust.write_bytes(ca.files.cert.read_bytes())
    assert tls.reload()
    # Resuming the session it had would skip the check of its certificate.
    with pytest.raises(ssl.SSLError, match="CERTIFICATE_VERIFY_FAILED"):
        handshake(tls.listening, client, session=first.session)
