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

Each back office gets a user of its own with `--back-office NAME=ROLE` (viewer, operator or
admin; repeat the option), its password from `CSMS_BACK_OFFICE_PASSWORD_<NAME>` (upper case,
other characters as `_`), its queues `NAME.*`; a viewer may not publish commands. Give
command-api the same map as `API_BACK_OFFICES` (`back-offices` prints it).
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

from csms_shared.bus.access import (
    GRANTS,
    ROLES,
    Grant,
    definitions,
    named_users,
)
from csms_shared.bus.back_offices import back_office_grant, check_back_offices


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


def back_office_variable(name: str) -> str:
    """`CSMS_BACK_OFFICE_PASSWORD_BILLING_ERP` for `billing-erp`."""
    return "CSMS_BACK_OFFICE_PASSWORD_" + "".join(c if c.isalnum() else "_" for c in name.upper())


def back_offices(specs: Sequence[str]) -> dict[str, str]:
    """`NAME=ROLE` options as {name: role}; exits naming a bad one."""
    found: dict[str, str] = {}
    for spec in specs:
        name, sep, role = spec.partition("=")
        if not sep:
            sys.exit(f"broker_users: --back-office {spec!r}: expected NAME=ROLE")
        found[name] = role
    try:
        return check_back_offices(found)
    except ValueError as exc:
        sys.exit(f"broker_users: {exc}")


def document(args: argparse.Namespace) -> dict[str, Any]:
    """The definitions of the chosen roles and back offices, passwords hashed."""
    users = {role: name for role, name in named_users(args.prefix).items() if role in args.roles}
    secrets = passwords(args.roles, args.admin)
    admin = (args.admin, secrets.pop("admin")) if args.admin else None
    offices = back_offices(args.back_office)
    missing = [
        back_office_variable(n) for n in offices if not os.environ.get(back_office_variable(n))
    ]
    if missing:
        sys.exit(f"broker_users: set {', '.join(missing)} (no default passwords)")
    return definitions(
        args.vhost,
        users,
        secrets,
        admin,
        {name: (role, os.environ[back_office_variable(name)]) for name, role in offices.items()},
    )


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


def _k8s_user(name: str, grant: Grant, cluster: str, vhost: str) -> list[dict[str, Any]]:
    """A User (credentials from the Secret `name`), its Permission and TopicPermissions."""
    ref = {"name": cluster}
    objects: list[dict[str, Any]] = [
        {
            "apiVersion": "rabbitmq.com/v1beta1",
            "kind": "User",
            "metadata": {"name": name},
            "spec": {
                "rabbitmqClusterReference": ref,
                "importCredentialsSecret": {"name": name},
            },
        },
        {
            "apiVersion": "rabbitmq.com/v1beta1",
            "kind": "Permission",
            "metadata": {"name": name},
            "spec": {
                "vhost": vhost,
                "userReference": {"name": name},
                "permissions": {
                    "configure": grant.configure,
                    "write": grant.write,
                    "read": grant.read,
                },
                "rabbitmqClusterReference": ref,
            },
        },
    ]
    for exchange, (write, read) in grant.topics.items():
        objects.append(
            {
                "apiVersion": "rabbitmq.com/v1beta1",
                "kind": "TopicPermission",
                "metadata": {"name": f"{name}-{exchange.replace('.', '-')}"},
                "spec": {
                    "vhost": vhost,
                    "userReference": {"name": name},
                    "permissions": {"exchange": exchange, "write": write, "read": read},
                    "rabbitmqClusterReference": ref,
                },
            }
        )
    return objects


def k8s_objects(
    cluster: str, vhost: str, prefix: str, offices: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """The messaging-topology operator's objects for every role (Secret `csms-broker-<role>`,
    keys `username`, which must be `<prefix><role>`, and `password`) and each back office
    (Secret `csms-back-office-<name>`, `username` = the name)."""
    objects: list[dict[str, Any]] = []
    for role in ROLES:
        objects += _k8s_user(f"csms-broker-{role}", GRANTS[role], cluster, vhost)
    for name, role in (offices or {}).items():
        objects += _k8s_user(
            f"csms-back-office-{name}", back_office_grant(name, role), cluster, vhost
        )
    return objects


def k8s_yaml(cluster: str, vhost: str, prefix: str, offices: dict[str, str] | None = None) -> str:
    """`k8s_objects` as one YAML stream, with the header saying where it comes from."""
    import yaml  # a developer's tool; the service images that run `definitions` lack it

    header = (
        "# Generated by `python scripts/broker_users.py k8s`: edit csms_shared/bus/access.py and\n"
        "# generate again (tests/deploy checks the two agree). Regexes do not wrap:\n"
        "# yamllint disable rule:line-length\n"
    )
    objects = k8s_objects(cluster, vhost, prefix, offices)
    body = yaml.safe_dump_all(objects, sort_keys=False, width=200)
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
        p.add_argument(
            "--back-office", action="append", default=[], metavar="NAME=ROLE",
            help="a back office's own user (viewer, operator or admin); repeatable",
        )  # fmt: skip
        if name == "apply":
            p.add_argument("--rabbitmqctl", help="path of rabbitmqctl (default: from PATH)")
        else:
            p.add_argument("--out", default="-", help="file to write, `-` for stdout")
    k8s = sub.add_parser("k8s")
    k8s.add_argument("--cluster", default="csms-rabbitmq")
    k8s.add_argument("--vhost", default="/")
    k8s.add_argument("--prefix", default="csms-")
    k8s.add_argument("--back-office", action="append", default=[], metavar="NAME=ROLE")
    users = sub.add_parser("users")
    users.add_argument("--prefix", default="csms-")
    offices = sub.add_parser("back-offices", help="print API_BACK_OFFICES for command-api")
    offices.add_argument("--back-office", action="append", default=[], metavar="NAME=ROLE")
    args = parser.parse_args(argv)
    if args.command == "apply":
        apply(args)
    elif args.command == "definitions":
        write_definitions(args)
    elif args.command == "k8s":
        offices = back_offices(args.back_office)
        print(k8s_yaml(args.cluster, args.vhost, args.prefix, offices), end="")
    elif args.command == "back-offices":
        print(json.dumps(back_offices(args.back_office)))
    else:
        print(json.dumps(named_users(args.prefix)))


if __name__ == "__main__":
    main()
