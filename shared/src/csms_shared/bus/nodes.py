"""The broker URL setting: one node's AMQP URL, or a cluster's nodes separated by commas."""

from __future__ import annotations

from yarl import URL

SCHEMES = ("amqp", "amqps")


def broker_urls(setting: str) -> list[str]:
    """The nodes a broker URL setting names, in the order given.

    `amqp://u:p@rabbit-0:5672/,amqp://u:p@rabbit-1:5672/`: each item a whole AMQP URL (its
    own host, port and vhost). Every node must log in as the same user, since the suite checks
    a message's sender by that user (BrokerSettings.broker_users). ValueError says what is wrong.
    """
    items = [item.strip() for item in setting.split(",")]
    if not any(items):
        raise ValueError("the broker URL is empty")
    urls = []
    for index, item in enumerate(items, 1):
        if not item:
            raise ValueError(f"broker URL: node {index} of {len(items)} is empty (a stray comma?)")
        try:
            url = URL(item)
        except ValueError as exc:
            raise ValueError(f"broker URL node {index} of {len(items)}: {exc}") from None
        if url.scheme not in SCHEMES or not url.host:
            raise ValueError(
                f"broker URL node {index} {_shown(url)!r}: not an AMQP URL"
                " (amqp://user:password@host:port/vhost, or amqps://)"
            )
        urls.append(item)
    users = {URL(u).user or "guest" for u in urls}
    if len(users) > 1:
        raise ValueError(
            f"the broker URL's nodes log in as different users ({', '.join(sorted(users))}):"
            " every node of a cluster must log in as the same user"
        )
    return urls


def _shown(url: URL) -> str:
    return str(url.with_password("******")) if url.password else str(url)
