"""Decide whether an address or host, and which ports, may be connected to (SSRF guard).

Pure standard library on purpose: the Flask API imports it to refuse a
submitted domain before scheduling a crawl, and the crawl imports it in the
connection-time resolver (:mod:`emailscan.resolver`) and the downloader
middleware (:mod:`emailscan.middlewares`), so all three apply one policy.

Only globally routable unicast addresses are acceptable.  :mod:`ipaddress`
does most of the work, but ``is_global`` on Python 3.11 is wrong or silent
for several ranges (multicast, NAT64, 6to4, site-local, the IPv4-compatible
``::/96``, 3fff::/20 ...), so the special ranges are listed explicitly and
``is_global`` is only the last word.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import unicodedata
from collections.abc import Callable, Collection, Iterable
from typing import Any
from urllib.parse import unquote

__all__ = [
    "UNRESOLVABLE_PREFIX",
    "WEB_PORTS",
    "IPAddress",
    "address_refusal",
    "allowed_ports",
    "host_refusal",
    "is_localhost_name",
    "parse_ip_literal",
    "port_refusal",
    "refusal_message",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: :func:`host_refusal` messages for names that do not resolve start with this.
UNRESOLVABLE_PREFIX = "could not resolve"

#: The only ports a guarded crawl connects to unless configured otherwise: a scan must not
#: poke ssh, scrapyd (6800), PostgreSQL (5432) or any other service of a public host either.
WEB_PORTS: frozenset[int] = frozenset({80, 443, 8080, 8443})

_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network

# First match wins, so more specific networks come first.
_IPV4_RULES: tuple[tuple[ipaddress.IPv4Network, str], ...] = (
    (_V4("169.254.169.254/32"), "link-local cloud metadata address"),
    # Alibaba Cloud's metadata service lives in the shared address space.
    (_V4("100.100.100.200/32"), "cloud metadata address in shared address space"),
    (_V4("0.0.0.0/32"), "unspecified address"),
    # Linux connects 0.0.0.0/8 destinations to the local host.
    (_V4("0.0.0.0/8"), "'this network' address"),
    (_V4("127.0.0.0/8"), "loopback address"),
    (_V4("10.0.0.0/8"), "private network address"),
    (_V4("172.16.0.0/12"), "private network address"),
    (_V4("192.168.0.0/16"), "private network address"),
    # is_private is False here, only is_global tells (RFC 6598).
    (_V4("100.64.0.0/10"), "shared address space (carrier-grade NAT)"),
    (_V4("169.254.0.0/16"), "link-local address"),
    (_V4("192.0.2.0/24"), "documentation address"),
    (_V4("198.51.100.0/24"), "documentation address"),
    (_V4("203.0.113.0/24"), "documentation address"),
    (_V4("198.18.0.0/15"), "benchmarking address"),
    # is_global is True for multicast on Python 3.11.
    (_V4("224.0.0.0/4"), "multicast address"),
    (_V4("255.255.255.255/32"), "broadcast address"),
    (_V4("240.0.0.0/4"), "reserved address"),
)

_IPV6_RULES: tuple[tuple[ipaddress.IPv6Network, str], ...] = (
    (_V6("::/128"), "unspecified address"),
    (_V6("::1/128"), "loopback address"),
    # Deprecated IPv4-compatible addresses (RFC 4291 2.5.5.1); is_global is True.
    (_V6("::/96"), "IPv4-compatible address"),
    # RFC 8215: local-use NAT64 prefix, the embedding depends on the local setup.
    (_V6("64:ff9b:1::/48"), "local-use NAT64 address"),
    # AWS instance metadata over IPv6.
    (_V6("fd00:ec2::254/128"), "unique local cloud metadata address"),
    (_V6("fc00::/7"), "unique local address"),
    (_V6("fe80::/10"), "link-local address"),
    (_V6("fec0::/10"), "site-local address"),
    (_V6("ff00::/8"), "multicast address"),
    (_V6("100::/64"), "discard-only address"),
    (_V6("2001::/32"), "Teredo address"),
    (_V6("2001:db8::/32"), "documentation address"),
    (_V6("3fff::/20"), "documentation address"),
)

_NAT64_WKP = _V6("64:ff9b::/96")  # RFC 6052
_SIX_TO_FOUR = _V6("2002::/16")  # RFC 3056
_GLOBAL_UNICAST = _V6("2000::/3")  # RFC 4291; everything else is reserved

_REASON_NON_GLOBAL = "non-global address"
_REASON_LOCALHOST = "loopback host name"


def address_refusal(ip: str | IPAddress) -> str | None:
    """Return why *ip* must not be connected to, or ``None`` if it is global.

    Addresses that embed an IPv4 address (IPv4-mapped, NAT64, 6to4, Teredo)
    are judged by the embedded address too.  Raise :exc:`ValueError` if *ip*
    is not an IP address.
    """
    if isinstance(ip, str):
        ip = ipaddress.ip_address(ip)
    if isinstance(ip, ipaddress.IPv4Address):
        return _ipv4_refusal(ip)
    return _ipv6_refusal(ip)


def _ipv4_refusal(ip: ipaddress.IPv4Address) -> str | None:
    for network, reason in _IPV4_RULES:
        if ip in network:
            return reason
    return None if ip.is_global else _REASON_NON_GLOBAL


def _ipv6_refusal(ip: ipaddress.IPv6Address) -> str | None:
    # Drop any zone id: it does not change the address class and scoped
    # addresses do not compare equal to network members.
    ip = ipaddress.IPv6Address(int(ip))
    if ip.ipv4_mapped is not None:
        return _embedded("IPv4-mapped", _ipv4_refusal(ip.ipv4_mapped))
    if ip in _NAT64_WKP:
        embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        return _embedded("NAT64", _ipv4_refusal(embedded))
    if ip.sixtofour is not None:
        reason = _embedded("6to4", _ipv4_refusal(ip.sixtofour))
        if reason:
            return reason
    if ip.teredo is not None:
        server, client = ip.teredo
        reason = _ipv4_refusal(client) or _ipv4_refusal(server)
        return _embedded("Teredo", reason) or "Teredo address"
    for network, reason in _IPV6_RULES:
        if ip in network:
            return reason
    if ip not in _GLOBAL_UNICAST:
        return "reserved address"
    return None if ip.is_global else _REASON_NON_GLOBAL


def _embedded(kind: str, reason: str | None) -> str | None:
    return f"{kind} {reason}" if reason else None


_HEX = re.compile(r"[0-9a-f]*")
_OCT = re.compile(r"[0-7]+")
_DEC = re.compile(r"[0-9]+")


def parse_ip_literal(host: str) -> IPAddress | None:
    """Return the address *host* denotes if it is an IP literal, else ``None``.

    Accepts what browsers (WHATWG URL "IPv4 parser") and libc ``inet_aton()``
    accept: ``127.1``, ``2130706433``, ``0x7f000001``, ``017700000001``,
    ``0x7f.0.0.1``, ``0177.0.0.1``, a trailing dot, full-width digits; and
    IPv6 with or without brackets, with a zone id (``%eth0`` or ``%25eth0``).
    """
    text = unquote(host).strip()
    if not text.isascii():
        # IDNA maps full-width digits and dots to ASCII before the IPv4 check.
        text = unicodedata.normalize("NFKC", text).replace("\u3002", ".")
    if text.startswith("[") and text.endswith("]"):
        return _parse_ipv6(text[1:-1])
    if ":" in text:
        return _parse_ipv6(text)
    return _parse_ipv4(text)


def _parse_ipv6(text: str) -> ipaddress.IPv6Address | None:
    try:
        return ipaddress.IPv6Address(text)
    except ValueError:
        return None


def _parse_ipv4(text: str) -> ipaddress.IPv4Address | None:
    # https://url.spec.whatwg.org/#concept-ipv4-parser
    parts = text.split(".")
    if len(parts) > 1 and parts[-1] == "":
        parts.pop()
    if not 1 <= len(parts) <= 4 or "" in parts:
        return None
    numbers = [_parse_ipv4_number(part) for part in parts]
    if None in numbers:
        return None
    *leading, last = numbers
    if any(n > 255 for n in leading) or last >= 256 ** (5 - len(numbers)):
        return None
    value = last
    for i, n in enumerate(leading):
        value += n << (8 * (3 - i))
    return ipaddress.IPv4Address(value)


def _parse_ipv4_number(part: str) -> int | None:
    part = part.lower()
    if part.startswith("0x"):
        digits, base, pattern = part[2:], 16, _HEX
    elif len(part) > 1 and part.startswith("0"):
        digits, base, pattern = part[1:], 8, _OCT
    else:
        digits, base, pattern = part, 10, _DEC
    # int() alone would also accept "+1", " 1" and "1_0".
    if not pattern.fullmatch(digits):
        return None
    return int(digits, base) if digits else 0


def port_refusal(port: int, allowed: Collection[int] | None = WEB_PORTS) -> str | None:
    """Return why *port* must not be connected to, or ``None``; *allowed* ``None`` is any port."""
    if allowed is None or port in allowed:
        return None
    ports = ", ".join(str(number) for number in sorted(allowed))
    return f"port {port} is not allowed (allowed ports: {ports})"


def allowed_ports(values: Iterable[str | int]) -> frozenset[int] | None:
    """Parse a list of ports (the ``EMAILSCAN_ALLOWED_PORTS`` setting); ``*`` means any port.

    Raise :exc:`ValueError` on anything else, so a typo cannot silently open or close ports.
    """
    ports: set[int] = set()
    for value in values:
        text = str(value).strip()
        if text == "*":
            return None
        if not (text.isascii() and text.isdigit() and 0 < int(text) < 65536):
            raise ValueError(f"not a TCP port: {value!r}")
        ports.add(int(text))
    if not ports:
        raise ValueError("no port listed (* allows any port)")
    return frozenset(ports)


def is_localhost_name(host: str) -> bool:
    """``localhost`` and ``*.localhost`` always mean this machine (RFC 6761 6.3)."""
    name = host.strip().rstrip(".").lower()
    return name == "localhost" or name.endswith(".localhost")


def refusal_message(address: str | IPAddress, reason: str, host: str | None = None) -> str:
    """The user-facing sentence, e.g. ``refused to connect to 10.0.0.5
    (private network address) for intranet.acme.com``."""
    message = f"refused to connect to {address} ({reason})"
    if host and host.strip("[]") != str(address):
        message += f" for {host}"
    return message


def host_refusal(
    host: str,
    resolve: Callable[..., list[tuple[Any, ...]]] = socket.getaddrinfo,
) -> str | None:
    """Return a message saying why *host* must not be crawled, or ``None``.

    *host* is a bare host name or IP literal (no scheme, no port).

    Meant for refusing a submitted domain early (the API); the crawl itself
    re-checks every address at connection time.  IP literals are judged
    directly, ``localhost`` names are refused without a lookup, other names
    are resolved with *resolve* (``socket.getaddrinfo`` signature) and refused
    if ANY address is refused, because the crawler may connect to any of them.

    A name that cannot be resolved is also refused, with a message starting
    with :data:`UNRESOLVABLE_PREFIX`, so the caller can report it as a user
    error (typo, expired domain) distinct from a forbidden target.
    """
    ip = parse_ip_literal(host)
    if ip is not None:
        reason = address_refusal(ip)
        return refusal_message(ip, reason, host) if reason else None
    name = host.strip().strip("[]")
    if is_localhost_name(name):
        return refusal_message(name, _REASON_LOCALHOST)
    try:
        infos = resolve(name, None, 0, socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        return f"{UNRESOLVABLE_PREFIX} {name}: {exc}"
    if not infos:
        return f"{UNRESOLVABLE_PREFIX} {name}: no address found"
    for *_, sockaddr in infos:
        reason = address_refusal(sockaddr[0])
        if reason:
            return refusal_message(sockaddr[0], reason, name)
    return None
