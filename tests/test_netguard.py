"""Tables for emailscan.netguard: what counts as a non-public target."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from emailscan.netguard import (
    UNRESOLVABLE_PREFIX,
    WEB_PORTS,
    address_refusal,
    allowed_ports,
    host_refusal,
    is_localhost_name,
    parse_ip_literal,
    port_refusal,
    refusal_message,
)


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        # IPv4
        ("127.0.0.1", "loopback address"),
        ("127.255.255.254", "loopback address"),
        ("10.0.0.5", "private network address"),
        ("172.16.0.1", "private network address"),
        ("172.31.255.255", "private network address"),
        ("192.168.1.1", "private network address"),
        ("169.254.169.254", "link-local cloud metadata address"),
        ("169.254.1.1", "link-local address"),
        ("100.64.0.1", "shared address space (carrier-grade NAT)"),
        ("100.127.255.255", "shared address space (carrier-grade NAT)"),
        ("100.100.100.200", "cloud metadata address in shared address space"),
        ("0.0.0.0", "unspecified address"),
        ("0.1.2.3", "'this network' address"),
        ("198.18.0.1", "benchmarking address"),
        ("198.19.255.255", "benchmarking address"),
        ("192.0.2.1", "documentation address"),
        ("198.51.100.1", "documentation address"),
        ("203.0.113.1", "documentation address"),
        ("224.0.0.1", "multicast address"),  # is_global is True on 3.11
        ("239.255.255.250", "multicast address"),
        ("240.0.0.1", "reserved address"),
        ("255.255.255.255", "broadcast address"),
        ("192.0.0.1", "non-global address"),  # IETF protocol assignments
        # IPv6
        ("::1", "loopback address"),
        ("::", "unspecified address"),
        ("fe80::1", "link-local address"),
        ("fe80::1%eth0", "link-local address"),
        ("fc00::1", "unique local address"),
        ("fd12:3456::1", "unique local address"),
        ("fd00:ec2::254", "unique local cloud metadata address"),
        ("fec0::1", "site-local address"),
        ("ff02::1", "multicast address"),
        ("2001:db8::1", "documentation address"),
        ("3fff::1", "documentation address"),
        ("100::1", "discard-only address"),
        ("5f00::1", "reserved address"),
        ("::127.0.0.1", "IPv4-compatible address"),
        # IPv4 embedded in IPv6: the embedded address decides
        ("::ffff:127.0.0.1", "IPv4-mapped loopback address"),
        ("::ffff:7f00:1", "IPv4-mapped loopback address"),
        ("::ffff:10.0.0.1", "IPv4-mapped private network address"),
        ("::ffff:169.254.169.254", "IPv4-mapped link-local cloud metadata address"),
        ("64:ff9b::7f00:1", "NAT64 loopback address"),
        ("64:ff9b::10.0.0.1", "NAT64 private network address"),
        ("64:ff9b::169.254.169.254", "NAT64 link-local cloud metadata address"),
        ("64:ff9b:1::808:808", "local-use NAT64 address"),
        ("64:ff9b:1::a00:1", "local-use NAT64 address"),
        ("2002:7f00:1::1", "6to4 loopback address"),
        ("2002:a00:1::", "6to4 private network address"),
        ("2002:a9fe:a9fe::", "6to4 link-local cloud metadata address"),
        # Teredo: server 65.54.227.120, client ~0x3fff:fdd2 -> 192.0.2.45
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo documentation address"),
        # Teredo with public server and client (8.8.8.8 obfuscated)
        ("2001:0:4136:e378:8000:63bf:f7f7:f7f7", "Teredo address"),
    ],
)
def test_address_refused(address: str, reason: str) -> None:
    assert address_refusal(address) == reason
    assert address_refusal(ipaddress.ip_address(address)) == reason


@pytest.mark.parametrize(
    "address",
    [
        "93.184.216.34",
        "8.8.8.8",
        "1.1.1.1",
        "100.63.255.255",  # just below 100.64/10
        "100.128.0.0",  # just above
        "172.15.255.255",
        "172.32.0.0",
        "192.0.0.9",  # PCP anycast, globally reachable
        "2606:4700:4700::1111",
        "2a00:1450:4001:81c::200e",
        "::ffff:93.184.216.34",
        "64:ff9b::93.184.216.34",
        "2002:5db8:d822::1",  # 6to4 of 93.184.216.34
    ],
)
def test_address_allowed(address: str) -> None:
    assert address_refusal(address) is None


def test_address_refusal_rejects_names() -> None:
    with pytest.raises(ValueError, match="does not appear to be"):
        address_refusal("example.com")


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("127.0.1", "127.0.0.1"),
        ("10.1", "10.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0X7F000001", "127.0.0.1"),
        ("017700000001", "127.0.0.1"),
        ("0x7f.0.0.1", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("0177.0.0.01", "127.0.0.1"),
        ("0xa9.0xfe.0xa9.0xfe", "169.254.169.254"),
        ("0xA9FEA9FE", "169.254.169.254"),
        ("2852039166", "169.254.169.254"),
        ("169.254.43518", "169.254.169.254"),
        ("127.0.0.1.", "127.0.0.1"),
        ("2130706433.", "127.0.0.1"),
        ("0", "0.0.0.0"),
        ("0x", "0.0.0.0"),  # WHATWG: empty hex number is 0
        ("4294967295", "255.255.255.255"),
        ("%31%32%37.0.0.1", "127.0.0.1"),
        ("\uff11\uff12\uff17\u3002\uff10\uff0e\uff10\uff0e\uff11", "127.0.0.1"),  # full-width
        ("::1", "::1"),
        ("[::1]", "::1"),
        ("[0:0:0:0:0:0:0:1]", "::1"),
        ("::ffff:127.0.0.1", "::ffff:7f00:1"),
        ("[::ffff:7f00:1]", "::ffff:7f00:1"),
        ("[fe80::1%eth0]", "fe80::1%eth0"),
        ("[fe80::1%25eth0]", "fe80::1%eth0"),
        ("fe80::1%25eth0", "fe80::1%eth0"),
        ("[64:ff9b::7f00:1]", "64:ff9b::7f00:1"),
    ],
)
def test_parse_ip_literal(host: str, expected: str) -> None:
    assert parse_ip_literal(host) == ipaddress.ip_address(expected)


@pytest.mark.parametrize(
    "host",
    [
        "",
        ".",
        "example.com",
        "localhost",
        "127.0.0.1.example.com",
        "1.2.3.4.5",
        "1..2",
        "256.0.0.1",
        "1.256.0.0.1",
        "1.16777216",  # last part too big for 2 parts
        "4294967296",
        "1.2.3.09",  # invalid octal
        "0x1g",
        "+1",
        "1_0",
        " ",
        "[example.com]",
        "[::1",
        ":::",
    ],
)
def test_parse_ip_literal_rejects(host: str) -> None:
    assert parse_ip_literal(host) is None


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("localhost", True),
        ("LOCALHOST.", True),
        ("foo.localhost", True),
        ("Foo.LocalHost.", True),
        ("localhost.example.com", False),
        ("notlocalhost", False),
        ("example.com", False),
    ],
)
def test_is_localhost_name(host: str, expected: bool) -> None:
    assert is_localhost_name(host) is expected


def test_refusal_message() -> None:
    assert (
        refusal_message("10.0.0.5", "private network address", "intranet.acme.com")
        == "refused to connect to 10.0.0.5 (private network address) for intranet.acme.com"
    )
    assert refusal_message("::1", "loopback address", "[::1]") == (
        "refused to connect to ::1 (loopback address)"
    )


def _sockaddr(address: str) -> tuple[object, ...]:
    if ":" in address:
        return (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, 0, 0, 0))
    return (socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, 0))


_FAKE_DNS = {
    "intranet.acme.com": ["10.0.0.5"],
    "metadata.test": ["169.254.169.254"],
    "v6loop.test": ["::1"],
    "mixed.test": ["93.184.216.34", "10.0.0.1"],
    "mixed6.test": ["2606:4700:4700::1111", "fd00::1"],
    "example.com": ["93.184.216.34"],
    "dual.test": ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"],
    "empty.test": [],
}


class FakeResolver:
    """getaddrinfo() stand-in: records the calls and never touches the network."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, host: str, port: object, family: int = 0, type: int = 0, *rest: int):
        self.calls.append(host)
        if host not in _FAKE_DNS:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [_sockaddr(address) for address in _FAKE_DNS[host]]


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        (
            "intranet.acme.com",
            "refused to connect to 10.0.0.5 (private network address) for intranet.acme.com",
        ),
        (
            "metadata.test",
            "refused to connect to 169.254.169.254 (link-local cloud metadata address)"
            " for metadata.test",
        ),
        ("v6loop.test", "refused to connect to ::1 (loopback address) for v6loop.test"),
        (
            "mixed.test",
            "refused to connect to 10.0.0.1 (private network address) for mixed.test",
        ),
        (
            "mixed6.test",
            "refused to connect to fd00::1 (unique local address) for mixed6.test",
        ),
        ("example.com", None),
        ("dual.test", None),
    ],
)
def test_host_refusal_resolves_names(host: str, expected: str | None) -> None:
    resolver = FakeResolver()
    assert host_refusal(host, resolve=resolver) == expected
    assert resolver.calls == [host]


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", "refused to connect to 127.0.0.1 (loopback address)"),
        ("127.1", "refused to connect to 127.0.0.1 (loopback address) for 127.1"),
        ("2130706433", "refused to connect to 127.0.0.1 (loopback address) for 2130706433"),
        ("0x7f000001", "refused to connect to 127.0.0.1 (loopback address) for 0x7f000001"),
        ("[::1]", "refused to connect to ::1 (loopback address)"),
        ("[::ffff:7f00:1]", "refused to connect to ::ffff:7f00:1 (IPv4-mapped loopback address)"),
        (
            "169.254.169.254",
            "refused to connect to 169.254.169.254 (link-local cloud metadata address)",
        ),
        ("localhost", "refused to connect to localhost (loopback host name)"),
        ("LOCALHOST.", "refused to connect to LOCALHOST. (loopback host name)"),
        ("api.localhost", "refused to connect to api.localhost (loopback host name)"),
        ("93.184.216.34", None),
    ],
)
def test_host_refusal_never_resolves_literals_or_localhost(host: str, expected: str | None) -> None:
    resolver = FakeResolver()
    assert host_refusal(host, resolve=resolver) == expected
    assert resolver.calls == []


@pytest.mark.parametrize("host", ["nosuchhost.test", "empty.test"])
def test_host_refusal_unresolvable(host: str) -> None:
    message = host_refusal(host, resolve=FakeResolver())
    assert message is not None
    assert message.startswith(f"{UNRESOLVABLE_PREFIX} {host}: ")


@pytest.mark.parametrize(
    ("port", "allowed", "expected"),
    [
        (80, WEB_PORTS, None),
        (443, WEB_PORTS, None),
        (8080, WEB_PORTS, None),
        (8443, WEB_PORTS, None),
        (22, WEB_PORTS, "port 22 is not allowed (allowed ports: 80, 443, 8080, 8443)"),
        (5432, WEB_PORTS, "port 5432 is not allowed (allowed ports: 80, 443, 8080, 8443)"),
        (6800, WEB_PORTS, "port 6800 is not allowed (allowed ports: 80, 443, 8080, 8443)"),
        (0, WEB_PORTS, "port 0 is not allowed (allowed ports: 80, 443, 8080, 8443)"),
        (6800, None, None),
        (9000, frozenset({9000}), None),
        (80, frozenset({9000, 443}), "port 80 is not allowed (allowed ports: 443, 9000)"),
    ],
)
def test_port_refusal(port: int, allowed: frozenset[int] | None, expected: str | None) -> None:
    assert port_refusal(port, allowed) == expected


def test_port_refusal_defaults_to_web_ports() -> None:
    assert {80, 443, 8080, 8443} == WEB_PORTS
    assert port_refusal(443) is None
    assert port_refusal(6800) is not None


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["80", "443"], frozenset({80, 443})),
        ([80, " 8080 "], frozenset({80, 8080})),
        (["*"], None),
        (["80", "*"], None),
        (["65535"], frozenset({65535})),
    ],
)
def test_allowed_ports(values: list, expected: frozenset[int] | None) -> None:
    assert allowed_ports(values) == expected


@pytest.mark.parametrize(
    "values", [[], [""], ["http"], ["0"], ["65536"], ["-1"], ["8o"], ["\u0668\u0660"], ["1e3"]]
)
def test_allowed_ports_refuses_typos(values: list) -> None:
    with pytest.raises(ValueError, match="port"):
        allowed_ports(values)
