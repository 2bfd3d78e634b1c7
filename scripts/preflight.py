"""Check that RabbitMQ and Postgres answer before the suite starts; say how to start them."""

from __future__ import annotations

import os
import socket
import sys
from urllib.parse import urlsplit

from csms_shared.settings import DEFAULT_BROKER_URL, DEFAULT_DATABASE_URL

HOW_TO_START = {
    "RabbitMQ": "rabbitmq-server -detached",
    "PostgreSQL": "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
}


def reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or default_port), 3
        ):
            return True
    except OSError:
        return False


def main() -> int:
    broker = os.environ.get("CSMS_BROKER_URL", DEFAULT_BROKER_URL)
    database = os.environ.get("CSMS_DATABASE_URL", DEFAULT_DATABASE_URL)
    missing = [
        (name, url)
        for name, url, port in (("RabbitMQ", broker, 5672), ("PostgreSQL", database, 5432))
        if not reachable(url, port)
    ]
    for name, url in missing:
        safe = urlsplit(url)._replace(netloc=urlsplit(url).hostname or "").geturl()
        print(f"error: {name} is not reachable at {safe}", file=sys.stderr)
        print(f"  start it with: {HOW_TO_START[name]}", file=sys.stderr)
        print("  or point CSMS_BROKER_URL / CSMS_DATABASE_URL elsewhere", file=sys.stderr)
    if missing:
        return 1
    if "--banner" in sys.argv:
        key = os.environ.get("CSMS_ADMIN_API_KEY", "")
        password = os.environ.get("CSMS_ADMIN_PASSWORD", "")
        api = f"http://127.0.0.1:{os.environ.get('API_HTTP_PORT') or 8080}"
        print(
            "csms: charge points connect to ws://127.0.0.1:9000/ocpp/{id} or"
            " ws://127.0.0.1:9001/ocpp/{id} (subprotocol ocpp1.6)\n"
            f"csms: operators use {api}/api/v1 (OpenAPI at {api}/docs)"
            f" with the admin key:\n\n    export CSMS_ADMIN_API_KEY={key}\n\n"
            f"csms: the operator console is at {api}/ ; log in as admin with"
            f" the password:\n\n    {password}\n\n"
            "    (change it in the console: Password; CSMS_ADMIN_PASSWORD only makes the first"
            " admin)\n\n"
            "csms: /healthz /readyz /metrics only on the internal ports: gateways 8084 and 8085,"
            " station-registry 8081, session-service 8082, command-api 8083, message-log 8086,"
            " load-manager 8087\n"
            "csms: DEVELOPMENT SECURITY: any charge point id connects without credentials and can"
            " take over another's connection (REGISTRY_MIN_SECURITY_PROFILE="
            f"{os.environ.get('REGISTRY_MIN_SECURITY_PROFILE', '0')},"
            " REGISTRY_UNKNOWN_CHARGE_POINTS="
            f"{os.environ.get('REGISTRY_UNKNOWN_CHARGE_POINTS', 'accept')}); never expose this"
            " setup, see docs/security.md\n"
            "csms: Ctrl-C stops everything."
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
