"""Broker users, one per role, with the permissions csms_shared.bus.access grants them.

    CSMS_BROKER_PASSWORD_GATEWAY=… (one per role) python scripts/broker_users.py apply --vhost /
    python scripts/broker_users.py definitions --out definitions.json [--admin csms-admin]
    python scripts/broker_users.py k8s --cluster csms-rabbitmq > broker-users.yaml

`apply` imports the users into a running node with `rabbitmqctl import_definitions`;
`definitions` writes the file RabbitMQ loads at boot (docker-compose.yml); `k8s` prints the
messaging-topology operator's User, Permission and TopicPermission objects (no passwords: each
User imports them from the Secret `csms-broker-<role>`). Passwords come from the environment,
`CSMS_BROKER_PASSWORD_<ROLE>` (`CSMS_BROKER_PASSWORD_STATION_REGISTRY`, …); there are none by
default. The users are named `<prefix><role>` (`csms-gateway`, …): `users` prints the matching
`CSMS_BROKER_USERS` for the services.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from csms_shared.bus.access import GRANTS, ROLES, definitions, named_users


def password_variable(role: str) -> str:
    """`CSMS_BROKER_PASSWORD_STATION_REGISTRY` for `station-registry`."""
    return "CSMS_BROKER_PASSWORD_" + role.upper().replace("-", "_")


def passwords(roles: Sequence[str], admin: str | None) -> dict[str, str]:
    """Each role's password from the environment; exits naming every one missing."""
    wanted = {role: password_variable(role) for role in roles}
    if admin:
        wanted["admin"] = "CSMS_BROKER_ADMIN_PASSWORD"
    missing = [var for var in wanted.values() if not os.environ.get(var)]
    if missing:
        sys.exit(f"broker_users: set {', '.join(missing)} (no default passwords)")
    return {role: os.environ[var] for role, var in wanted.items()}


def document(args: argparse.Namespace) -> dict[str, Any]:
    """The definitions of the chosen roles, passwords hashed."""
    users = {role: name for role, name in named_users(args.prefix).items() if role in args.roles}
    secrets = passwords(args.roles, args.admin)
    admin = (args.admin, secrets.pop("admin")) if args.admin else None
    return definitions(args.vhost, users, secrets, admin)


def apply(args: argparse.Namespace) -> None:
    """Create or update the users on the local node, through rabbitmqctl."""
    ctl = args.rabbitmqctl or shutil.which("rabbitmqctl")
    if ctl is None:
        sys.exit("broker_users: rabbitmqctl not found (or use `definitions`)")
    # Through stdin: no password on a command line, only salted hashes in the document.
    result = subprocess.run(
        [ctl, "import_definitions"],
        input=json.dumps(document(args)),
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        sys.exit(f"broker_users: rabbitmqctl import_definitions failed: {result.stderr.strip()}")


def write_definitions(args: argparse.Namespace) -> None:
    """Write the definitions file a node loads at boot (`load_definitions`)."""
    text = json.dumps(document(args), indent=2)
    if args.out == "-":
        print(text)
        return
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)


def k8s_objects(cluster: str, vhost: str, prefix: str) -> list[dict[str, Any]]:
    """The messaging-topology operator's objects for every role."""
    objects: list[dict[str, Any]] = []
    ref = {"name": cluster}
    for role in ROLES:
        grant = GRANTS[role]
        user = f"csms-broker-{role}"
        objects.append(
            {
                "apiVersion": "rabbitmq.com/v1beta1",
                "kind": "User",
                "metadata": {"name": user},
                "spec": {
                    "rabbitmqClusterReference": ref,
                    # Keys `username` (must be `<prefix><role>`) and `password`.
                    "importCredentialsSecret": {"name": user},
                },
            }
        )
        objects.append(
            {
                "apiVersion": "rabbitmq.com/v1beta1",
                "kind": "Permission",
                "metadata": {"name": user},
                "spec": {
                    "vhost": vhost,
                    "userReference": {"name": user},
                    "permissions": {
                        "configure": grant.configure,
                        "write": grant.write,
                        "read": grant.read,
                    },
                    "rabbitmqClusterReference": ref,
                },
            }
        )
        for exchange, (write, read) in grant.topics.items():
            objects.append(
                {
                    "apiVersion": "rabbitmq.com/v1beta1",
                    "kind": "TopicPermission",
                    "metadata": {"name": f"{user}-{exchange.replace('.', '-')}"},
                    "spec": {
                        "vhost": vhost,
                        "userReference": {"name": user},
                        "permissions": {"exchange": exchange, "write": write, "read": read},
                        "rabbitmqClusterReference": ref,
                    },
                }
            )
    return objects


def k8s_yaml(cluster: str, vhost: str, prefix: str) -> str:
    """`k8s_objects` as one YAML stream, with the header saying where it comes from."""
    import yaml  # a developer's tool; the service images that run `definitions` lack it

    header = (
        "# Generated by `python scripts/broker_users.py k8s`: edit csms_shared/bus/access.py and\n"
        "# generate again (tests/deploy checks the two agree). Regexes do not wrap:\n"
        "# yamllint disable rule:line-length\n"
    )
    body = yaml.safe_dump_all(k8s_objects(cluster, vhost, prefix), sort_keys=False, width=200)
    return header + body


def main(argv: Sequence[str] | None = None) -> None:
    """Command line entry."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("apply", "definitions"):
        p = sub.add_parser(name)
        p.add_argument("--vhost", default="/")
        p.add_argument("--prefix", default="csms-", help="user names are <prefix><role>")
        p.add_argument("--roles", nargs="+", choices=ROLES, default=list(ROLES))
        p.add_argument("--admin", help="also an administrator of this name (management UI)")
        if name == "apply":
            p.add_argument("--rabbitmqctl", help="path of rabbitmqctl (default: from PATH)")
        else:
            p.add_argument("--out", default="-", help="file to write, `-` for stdout")
    k8s = sub.add_parser("k8s")
    k8s.add_argument("--cluster", default="csms-rabbitmq")
    k8s.add_argument("--vhost", default="/")
    k8s.add_argument("--prefix", default="csms-")
    users = sub.add_parser("users")
    users.add_argument("--prefix", default="csms-")
    args = parser.parse_args(argv)
    if args.command == "apply":
        apply(args)
    elif args.command == "definitions":
        write_definitions(args)
    elif args.command == "k8s":
        print(k8s_yaml(args.cluster, args.vhost, args.prefix), end="")
    else:
        print(json.dumps(named_users(args.prefix)))


if __name__ == "__main__":
    main()
