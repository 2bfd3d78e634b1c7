"""Server TLS (security profiles 2 and 3): contexts built whole from the files, swapped."""

from __future__ import annotations

import asyncio
import logging
import os
import ssl

from .settings import Settings

log = logging.getLogger(__name__)


def build_context(settings: Settings) -> ssl.SSLContext:
    """A server context from the certificate, trust and CRL files as they are now."""
    if not settings.tls_cert_file:
        raise ValueError("GATEWAY_TLS_CERT_FILE is not set")
    # No default CA store is loaded: a client certificate must chain to the trust file alone.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(settings.tls_cert_file, settings.tls_key_file)
    if settings.tls_client_ca_file:
        # Optional: profile-2 CPs have no certificate; the registry decides per CP.
        context.verify_mode = ssl.CERT_OPTIONAL
        context.load_verify_locations(settings.tls_client_ca_file)
        if settings.tls_crl_file:
            context.load_verify_locations(settings.tls_crl_file)
            context.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
        # No session resumption: a resumed session skips certificate verification, so a CP
        # could keep coming back after its CA was removed or its certificate revoked.
        context.options |= ssl.OP_NO_TICKET
        context.num_tickets = 0
    elif settings.tls_crl_file:
        raise ValueError("GATEWAY_TLS_CRL_FILE needs GATEWAY_TLS_CLIENT_CA_FILE")
    return context


def _file_state(settings: Settings) -> list[tuple[int, int, int] | None]:
    """What tells a rewritten file apart: inode (a renewed Secret is a new file), mtime, size."""
    files = [
        settings.tls_cert_file,
        settings.tls_key_file,
        settings.tls_client_ca_file,
        settings.tls_crl_file,
    ]
    state: list[tuple[int, int, int] | None] = []
    for path in files:
        try:
            st = os.stat(path) if path else None
        except OSError:
            st = None
        state.append((st.st_ino, st.st_mtime_ns, st.st_size) if st else None)
    return state


class ServerTls:
    """The listening context; each handshake switches to the newest context built from the files."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.current = build_context(settings)
        # Built like the others: OpenSSL keeps the verify mode and flags (CRL check) of the
        # context a connection started on, and takes the certificates and trust store of the
        # one it is switched to.
        self.listening = build_context(settings)
        self.listening.sni_callback = self._use_current

    def _use_current(
        self, connection: ssl.SSLObject | ssl.SSLSocket, server_name: str | None, _: ssl.SSLContext
    ) -> None:
        # OpenSSL calls this on every ClientHello, server_name None when the CP sent no SNI (it
        # dialled an IP address): every handshake gets the newest context.
        connection.context = self.current

    def reload(self) -> bool:
        """Build a fresh context from the files; if that fails, keep the one in use."""
        try:
            context = build_context(self._settings)
        except (OSError, ssl.SSLError, ValueError) as exc:
            log.error("could not reload the TLS certificates, keeping the previous ones: %s", exc)
            return False
        self.current = context
        log.info("TLS certificates reloaded")
        return True

    async def watch(self, interval: float) -> None:
        """Reload when a certificate, trust or CRL file changes (a renewed Kubernetes Secret)."""
        seen = _file_state(self._settings)
        while True:
            await asyncio.sleep(interval)
            now = _file_state(self._settings)
            if now != seen:
                seen = now
                self.reload()


def server_tls(settings: Settings) -> ServerTls | None:
    """The gateway's TLS, or None to serve plain ws://."""
    return ServerTls(settings) if settings.tls_cert_file else None
