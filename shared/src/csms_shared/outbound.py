"""Where the central system may connect on behalf of someone else's URL (webhook receivers,
roaming parties): public addresses, or networks a setting allows; and a request pinned to the
address that was checked, so a second lookup cannot answer another one."""

from __future__ import annotations

import asyncio
import ipaddress
import socket

import httpx

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class RefusedTarget(ValueError):
    """A URL that is malformed or resolves where the central system may not connect."""


# RFC 6052's well-known NAT64 prefix and RFC 4291's deprecated IPv4-compatible addresses carry
# an IPv4 address in their last 32 bits, which a NAT64 gateway or the host's stack connects to.
_LAST_32_BITS = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("::/96"))
# RFC 8215's local-use NAT64 prefix: the IPv4 address sits where its operator chose; not global.
_LOCAL_NAT64 = ipaddress.IPv6Network("64:ff9b:1::/48")


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if any(ip in net for net in _LAST_32_BITS):
        return ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF)
    return None


def allowed_address(address: str, allowed: list[Network]) -> bool:
    """Whether the central system may connect to `address`: public or inside an allowed
    network; an IPv6 address carrying an IPv4 one (mapped, 6to4, NAT64) is judged by the IPv4
    one too."""
    ip = ipaddress.ip_address(address.split("%")[0])
    if ip.is_unspecified:  # 0.0.0.0 and :: connect to this host
        return False
    if any(ip in net for net in allowed):
        return True
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in _LOCAL_NAT64:
            return False
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            return allowed_address(str(embedded), allowed)
    # Loopback, link-local (cloud metadata at 169.254.169.254), private, shared, reserved.
    return ip.is_global and not ip.is_multicast


async def check_target(
    url: str, allowed: list[Network], setting: str = "API_WEBHOOK_ALLOWED_NETWORKS"
) -> list[str]:
    """The addresses `url`'s host resolves to; RefusedTarget unless `url` is http(s) and every
    one of them is public (or inside a network `setting` allows)."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise RefusedTarget(f"not a URL: {exc}") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise RefusedTarget("the URL must be http:// or https:// with a host")
    if parsed.userinfo:
        raise RefusedTarget("the URL may not carry credentials")
    host = parsed.raw_host.decode("ascii")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError, ValueError) as exc:  # UnicodeError: a label IDNA refuses
        raise RefusedTarget(f"{host} does not resolve: {exc}") from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise RefusedTarget(f"{host} resolves to no address")
    for address in addresses:
        if not allowed_address(address, allowed):
            raise RefusedTarget(
                f"{host} resolves to {address}, a loopback, link-local or private "
                f"address ({setting} allows chosen networks)"
            )
    return addresses


def pinned_request(
    client: httpx.AsyncClient,
    url: str,
    address: str,
    headers: dict[str, str],
    body: bytes | None,
    method: str = "POST",
) -> httpx.Request:
    """A `method` request (POST by default) of `body` to `url` over the checked `address`
    (resolving the host again could answer another one): the URL's host still names the
    server in `Host`, and for https in TLS, SNI and the certificate's check (httpcore's
    `sni_hostname`)."""
    target = httpx.URL(url)
    return client.build_request(
        method,
        target.copy_with(host=address),
        content=body,
        headers={"Host": target.netloc.decode("ascii")} | headers,
        extensions={"sni_hostname": target.raw_host.decode("ascii")}
        if target.scheme == "https"
        else None,
    )
