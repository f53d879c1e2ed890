"""SSRF guard: the resolver and middleware on their own, and real Scrapy crawls.

The crawls run in a subprocess: this very file, run as a script with a JSON
config.  Before Scrapy or Twisted are imported, the script replaces name
resolution with a fixed table (``socket.getaddrinfo`` and friends; unknown
names fail, literals are parsed with ``AI_NUMERICHOST``, so no DNS query is
ever sent) and wraps ``socket.socket.connect``/``connect_ex`` so that only
the test's own loopback server can be reached: every attempt is appended to
a file, and any other destination is refused without a packet being sent.
A broken guard therefore shows up as an unexpected attempt, not as traffic.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
PUBLIC_IP = "93.184.216.34"

# Mirrors the settings block at the top of emailscan/middlewares.py.
GUARD_SETTINGS: dict[str, Any] = {
    "ALLOW_PRIVATE_NETWORKS": False,
    "TWISTED_DNS_RESOLVER": "emailscan.resolver.GuardedResolver",
    "DOWNLOADER_MIDDLEWARES": {"emailscan.middlewares.PrivateNetworkGuardMiddleware": 990},
    "HTTPPROXY_ENABLED": False,
    "DOWNLOAD_HANDLERS": {"data": None, "file": None, "ftp": None, "s3": None},
    "TELNETCONSOLE_ENABLED": False,
    "REMOTE_CONTROL_ENABLED": False,
}
FAST_SETTINGS: dict[str, Any] = {
    "DOWNLOAD_TIMEOUT": 5,
    "RETRY_ENABLED": False,
    "ROBOTSTXT_OBEY": False,
    "LOG_LEVEL": "INFO",
}


# --------------------------------------------------------------------------
# Crawl process side (runs only under ``python tests/test_ssrf_crawl.py``)
# --------------------------------------------------------------------------


def _install_network_stubs(config: dict[str, Any]) -> list[str]:
    """Fake DNS and a connect() gate; return the list of looked-up names."""
    table: dict[str, list[list[str]]] = config.get("dns", {})
    allowed = {(host, port) for host, port in config.get("allowed_connects", [])}
    rewrites = {key: tuple(value) for key, value in config.get("connect_rewrites", {}).items()}
    attempts_file = open(config["attempts_file"], "a", buffering=1)  # noqa: SIM115
    lookups: list[str] = []
    answered: dict[str, int] = {}
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def answer(host: str) -> list[str] | None:
        name = host.lower().rstrip(".")
        if name not in table:
            return None
        lookups.append(name)
        answers = table[name]
        count = answered[name] = answered.get(name, 0) + 1
        return answers[min(count, len(answers)) - 1]  # rebinding: successive answers

    def fake_getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
        if isinstance(host, bytes):
            host = host.decode()
        addresses = answer(host) if host else None
        if addresses is None:
            # IP literals only: with AI_NUMERICHOST a name fails, unlooked-up.
            flags |= socket.AI_NUMERICHOST
            return real_getaddrinfo(host, port, family, type, proto, flags)
        infos = []
        for address in addresses:
            af = socket.AF_INET6 if ":" in address else socket.AF_INET
            if family not in (0, af):
                continue
            sockaddr = (address, port or 0, 0, 0) if af == socket.AF_INET6 else (address, port or 0)
            infos.append((af, socket.SOCK_STREAM, 6, "", sockaddr))
        if not infos:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return infos

    def fake_gethostbyname(host):
        infos = fake_getaddrinfo(host, 0, socket.AF_INET)
        return infos[0][4][0]

    def gate(sock: socket.socket, address: Any) -> Any:
        if sock.family not in (socket.AF_INET, socket.AF_INET6):
            return address
        host, port = address[0], address[1]
        attempts_file.write(json.dumps([host, port]) + "\n")
        if f"{host}:{port}" in rewrites:
            return rewrites[f"{host}:{port}"]
        return address if (host, port) in allowed else None

    def connect(self, address):
        target = gate(self, address)
        if target is None:
            raise ConnectionRefusedError(errno.ECONNREFUSED, "refused by the test's connect gate")
        return real_connect(self, target)

    def connect_ex(self, address):
        target = gate(self, address)
        if target is None:
            return errno.ECONNREFUSED
        return real_connect_ex(self, target)

    socket.getaddrinfo = fake_getaddrinfo
    socket.gethostbyname = fake_gethostbyname
    socket.gethostbyname_ex = lambda host: (host, [], [fake_gethostbyname(host)])
    socket.socket.connect = connect
    socket.socket.connect_ex = connect_ex
    return lookups


def _crawl_main(config_path: str) -> None:
    config = json.loads(Path(config_path).read_text())
    lookups = _install_network_stubs(config)

    # Imported only now, so that Twisted binds the stubbed getaddrinfo.
    import scrapy
    from scrapy.crawler import AsyncCrawlerProcess

    urls: list[str] = config["urls"]
    results: list[dict[str, Any]] = []
    extra: dict[str, Any] = {}

    class ProbeSpider(scrapy.Spider):
        """Fetch the URLs one after the other, recording each outcome."""

        name = "probe"

        async def start(self):
            yield self._request(0)

        def _request(self, index: int) -> scrapy.Request:
            return scrapy.Request(
                urls[index],
                callback=self.parse,
                errback=self.failed,
                dont_filter=True,
                meta={"probe_index": index},
            )

        def _next(self, index: int):
            if index + 1 < len(urls):
                yield self._request(index + 1)

        def parse(self, response):
            index = response.meta["probe_index"]
            results.append(
                {
                    "index": index,
                    "url": response.url,
                    "status": response.status,
                    "body": response.text[:200],
                }
            )
            yield from self._next(index)

        def failed(self, failure):
            index = failure.request.meta["probe_index"]
            results.append(
                {
                    "index": index,
                    "url": failure.request.url,
                    "error": type(failure.value).__name__,
                    "message": str(failure.value),
                }
            )
            yield from self._next(index)

        def closed(self, reason):
            from twisted.internet import reactor

            extra["resolver"] = type(reactor.nameResolver).__name__

    settings = {**GUARD_SETTINGS, **FAST_SETTINGS}
    for name, value in config.get("settings", {}).items():
        if value is None:
            settings.pop(name, None)  # back to Scrapy's default
        else:
            settings[name] = value
    process = AsyncCrawlerProcess(settings)
    crawler = process.create_crawler(ProbeSpider)
    process.crawl(crawler)
    process.start()

    stats = crawler.stats.get_stats()
    output = {
        "results": sorted(results, key=lambda result: result["index"]),
        "stats": {key: value for key, value in stats.items() if isinstance(value, int)},
        "lookups": lookups,
        **extra,
    }
    Path(config["out"]).write_text(json.dumps(output, indent=2))


# --------------------------------------------------------------------------
# Test side
# --------------------------------------------------------------------------


@dataclass
class Server:
    """A loopback HTTP server; ``/r/<name>`` redirects to ``redirects[name]``."""

    host: str
    port: int
    redirects: dict[str, str] = field(default_factory=dict)
    hits: list[str] = field(default_factory=list)


def _start_server(host: str, family: socket.AddressFamily) -> tuple[ThreadingHTTPServer, Server]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.hits.append(self.path)
            name = self.path.removeprefix("/r/")
            if name != self.path and name in state.redirects:
                self.send_response(302)
                self.send_header("Location", state.redirects[name])
                body = b""
            else:
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                body = f"<html>page {self.path}</html>".encode()
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    class Server6(ThreadingHTTPServer):
        address_family = family

    httpd = Server6((host, 0), Handler)
    state = Server(host, httpd.server_address[1])
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, state


@pytest.fixture
def server() -> Iterator[Server]:
    httpd, state = _start_server("127.0.0.1", socket.AF_INET)
    yield state
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def server6() -> Iterator[Server]:
    try:
        httpd, state = _start_server("::1", socket.AF_INET6)
    except OSError as exc:
        pytest.skip(f"no IPv6 loopback: {exc}")
    yield state
    httpd.shutdown()
    httpd.server_close()


@dataclass
class Crawl:
    results: list[dict[str, Any]]
    stats: dict[str, int]
    lookups: list[str]
    resolver: str
    attempts: list[tuple[str, int]]
    log: str

    def errors(self) -> list[tuple[str, str]]:
        return [(result.get("error", ""), result.get("message", "")) for result in self.results]


def crawl(tmp_path: Path, urls: list[str], **config: Any) -> Crawl:
    attempts_file = tmp_path / "connect-attempts.jsonl"
    attempts_file.write_text("")
    config_path = tmp_path / "crawl.json"
    out = tmp_path / "out.json"
    config_path.write_text(
        json.dumps({"urls": urls, "out": str(out), "attempts_file": str(attempts_file), **config})
    )
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.lower().endswith("_proxy") and not key.startswith("SCRAPY_")
    }
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, __file__, str(config_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr[-5000:]
    output = json.loads(out.read_text())
    attempts = [tuple(json.loads(line)) for line in attempts_file.read_text().splitlines()]
    assert len(output["results"]) == len(urls), proc.stderr[-5000:]
    return Crawl(
        output["results"],
        output["stats"],
        output["lookups"],
        output.get("resolver", ""),
        attempts,
        proc.stderr,
    )


def blocked(message: str) -> tuple[str, str]:
    return ("BlockedAddressError", message)


# (a) names that resolve to non-public addresses


def test_names_resolving_to_private_addresses_are_refused(tmp_path: Path) -> None:
    result = crawl(
        tmp_path,
        [
            "http://intranet.test/",
            "http://metadata.test/latest/meta-data/",
            "http://mixed.test/",
            "https://v6.test/",
            "http://nat64.test/",
        ],
        dns={
            "intranet.test": [["10.0.0.1"]],
            "metadata.test": [["169.254.169.254"]],
            "mixed.test": [[PUBLIC_IP, "10.0.0.5"]],
            "v6.test": [["fd00::1"]],
            "nat64.test": [["64:ff9b::a9fe:a9fe"]],
        },
    )
    assert result.errors() == [
        blocked("refused to connect to 10.0.0.1 (private network address) for intranet.test"),
        blocked(
            "refused to connect to 169.254.169.254 (link-local cloud metadata address)"
            " for metadata.test"
        ),
        blocked("refused to connect to 10.0.0.5 (private network address) for mixed.test"),
        blocked("refused to connect to fd00::1 (unique local address) for v6.test"),
        blocked(
            "refused to connect to 64:ff9b::a9fe:a9fe (NAT64 link-local cloud metadata address)"
            " for nat64.test"
        ),
    ]
    assert result.attempts == []
    assert result.stats["emailscan/ssrf_blocked"] == 5
    assert result.resolver == "GuardedResolver"
    assert (
        "Blocked <GET http://intranet.test/>: refused to connect to 10.0.0.1"
        " (private network address) for intranet.test"
    ) in result.log


# (b) DNS rebinding: the checked answer is the one connected to


@pytest.mark.parametrize("dnscache", [True, False])
def test_dns_rebinding(tmp_path: Path, dnscache: bool) -> None:
    result = crawl(
        tmp_path,
        ["http://rebind.test/a", "http://rebind.test/b"],
        dns={"rebind.test": [[PUBLIC_IP], ["127.0.0.1"]]},
        settings={"DNSCACHE_ENABLED": dnscache},
    )
    # The public answer is connected to (the gate refuses it without sending).
    first = result.errors()[0]
    assert first[0] == "DownloadConnectionRefusedError"
    if dnscache:
        # The second request reuses the checked answer, never asks again.
        assert result.lookups == ["rebind.test"]
        assert result.errors()[1][0] == "DownloadConnectionRefusedError"
        assert result.attempts == [(PUBLIC_IP, 80), (PUBLIC_IP, 80)]
    else:
        assert result.lookups == ["rebind.test", "rebind.test"]
        assert result.errors()[1] == blocked(
            "refused to connect to 127.0.0.1 (loopback address) for rebind.test"
        )
        assert result.attempts == [(PUBLIC_IP, 80)]
        assert result.stats["emailscan/ssrf_blocked"] == 1


# (c) redirects go through the guard again


def test_redirects_to_private_targets_are_refused(tmp_path: Path, server: Server) -> None:
    port = server.port
    server.redirects.update(
        {
            "loopback": f"http://127.0.0.1:{port}/x",
            "decimal": f"http://2130706433:{port}/x",
            "private": "http://10.0.0.1/",
            "metadata": "http://169.254.169.254/latest/meta-data/",
            "name": "http://intranet.test/",
            "localhost": f"http://localhost:{port}/x",
            "public": "http://public.test/ok",
        }
    )
    names = list(server.redirects)
    result = crawl(
        tmp_path,
        [f"http://public.test/r/{name}" for name in names],
        dns={
            "public.test": [[PUBLIC_IP]],
            "intranet.test": [["10.0.0.1"]],
            "localhost": [["127.0.0.1"]],
        },
        # "public.test" is served by the loopback server, but the crawler
        # (and the guard) only ever see PUBLIC_IP.
        connect_rewrites={f"{PUBLIC_IP}:80": ["127.0.0.1", port]},
    )
    assert result.errors() == [
        blocked("refused to connect to 127.0.0.1 (loopback address)"),
        blocked("refused to connect to 127.0.0.1 (loopback address) for 2130706433"),
        blocked("refused to connect to 10.0.0.1 (private network address)"),
        blocked("refused to connect to 169.254.169.254 (link-local cloud metadata address)"),
        blocked("refused to connect to 10.0.0.1 (private network address) for intranet.test"),
        blocked("refused to connect to localhost (loopback host name)"),
        ("", ""),
    ]
    assert result.results[-1]["status"] == 200
    assert result.results[-1]["body"] == "<html>page /ok</html>"
    assert sorted(server.hits) == sorted([f"/r/{name}" for name in names] + ["/ok"])
    assert set(result.attempts) == {(PUBLIC_IP, 80)}
    assert result.stats["emailscan/ssrf_blocked"] == 6
    assert result.stats["downloader/response_status_count/302"] == len(names)


# (d) loopback in many notations: reachable when allowed, refused otherwise

LOOPBACK_NOTATIONS = [
    ("127.0.0.1", "refused to connect to 127.0.0.1 (loopback address)"),
    ("localhost", "refused to connect to localhost (loopback host name)"),
    ("LOCALHOST.", "refused to connect to localhost. (loopback host name)"),
    ("127.1", "refused to connect to 127.0.0.1 (loopback address) for 127.1"),
    ("2130706433", "refused to connect to 127.0.0.1 (loopback address) for 2130706433"),
    ("0x7f000001", "refused to connect to 127.0.0.1 (loopback address) for 0x7f000001"),
    ("017700000001", "refused to connect to 127.0.0.1 (loopback address) for 017700000001"),
    ("0x7f.0.0.1", "refused to connect to 127.0.0.1 (loopback address) for 0x7f.0.0.1"),
    ("0177.0.0.1", "refused to connect to 127.0.0.1 (loopback address) for 0177.0.0.1"),
    (
        "[::ffff:127.0.0.1]",
        "refused to connect to ::ffff:7f00:1 (IPv4-mapped loopback address) for ::ffff:127.0.0.1",
    ),
]


@pytest.mark.parametrize("allow", [True, False], ids=["allowed", "guarded"])
def test_loopback_notations(tmp_path: Path, server: Server, allow: bool) -> None:
    port = server.port
    urls = [f"http://{host}:{port}/" for host, _ in LOOPBACK_NOTATIONS]
    result = crawl(
        tmp_path,
        urls,
        dns={"localhost": [["127.0.0.1"]]},
        allowed_connects=[["127.0.0.1", port], ["::ffff:127.0.0.1", port]],
        settings={"ALLOW_PRIVATE_NETWORKS": allow},
    )
    if allow:
        assert [r.get("status") for r in result.results] == [200] * len(urls), result.results
        assert {host for host, _ in result.attempts} <= {"127.0.0.1", "::ffff:127.0.0.1"}
        assert len(server.hits) == len(urls)
        assert "emailscan/ssrf_blocked" not in result.stats
    else:
        assert result.errors() == [blocked(message) for _, message in LOOPBACK_NOTATIONS]
        assert result.attempts == []
        assert server.hits == []
        assert result.stats["emailscan/ssrf_blocked"] == len(urls)


@pytest.mark.parametrize("allow", [True, False], ids=["allowed", "guarded"])
def test_ipv6_loopback(tmp_path: Path, server6: Server, allow: bool) -> None:
    result = crawl(
        tmp_path,
        [f"http://[::1]:{server6.port}/", f"http://[0:0:0:0:0:0:0:1]:{server6.port}/"],
        allowed_connects=[["::1", server6.port]],
        settings={"ALLOW_PRIVATE_NETWORKS": allow},
    )
    if allow:
        assert [r.get("status") for r in result.results] == [200, 200], result.results
        assert len(server6.hits) == 2
    else:
        assert result.errors() == [
            blocked("refused to connect to ::1 (loopback address)"),
            blocked("refused to connect to ::1 (loopback address) for 0:0:0:0:0:0:0:1"),
        ]
        assert result.attempts == []
        assert server6.hits == []


# Layers on their own


def test_resolver_alone_refuses_literals_and_names(tmp_path: Path, server: Server) -> None:
    """With the middleware off, IP literals still reach (and are refused by)
    the resolver: HostnameEndpoint resolves literals too."""
    port = server.port
    result = crawl(
        tmp_path,
        [
            f"http://127.0.0.1:{port}/",
            f"http://2130706433:{port}/",
            f"http://localhost:{port}/",
            "http://intranet.test/",
        ],
        dns={"localhost": [["127.0.0.1"]], "intranet.test": [["10.0.0.1"]]},
        allowed_connects=[["127.0.0.1", port]],
        settings={
            "DOWNLOADER_MIDDLEWARES": {"emailscan.middlewares.PrivateNetworkGuardMiddleware": None}
        },
    )
    assert [error for error, _ in result.errors()] == ["CannotResolveHostError"] * 4
    assert result.attempts == []
    assert server.hits == []
    assert "emailscan/ssrf_blocked" not in result.stats


def test_middleware_installs_resolver_when_setting_is_missing(tmp_path: Path) -> None:
    result = crawl(
        tmp_path,
        ["http://intranet.test/"],
        dns={"intranet.test": [["10.0.0.1"]]},
        settings={"TWISTED_DNS_RESOLVER": None},
    )
    assert result.errors() == [
        blocked("refused to connect to 10.0.0.1 (private network address) for intranet.test")
    ]
    assert result.attempts == []
    assert result.resolver == "GuardedResolver"
    assert "does not refuse private networks" in result.log


def test_unresolvable_name_is_not_reported_as_blocked(tmp_path: Path) -> None:
    result = crawl(tmp_path, ["http://nosuchhost.test/"])
    assert result.errors()[0][0] == "CannotResolveHostError"
    assert "emailscan/ssrf_blocked" not in result.stats


def test_schemes_are_refused_in_a_crawl(tmp_path: Path) -> None:
    result = crawl(tmp_path, ["file:///etc/passwd", "ftp://ftp.test/x", "data:,hello"])
    assert result.errors() == [
        blocked("refused to fetch file:///etc/passwd (URL scheme 'file' is not allowed)"),
        blocked("refused to fetch ftp://ftp.test/x (URL scheme 'ftp' is not allowed)"),
        blocked("refused to fetch data:,hello (URL scheme 'data' is not allowed)"),
    ]
    assert result.attempts == []


# --------------------------------------------------------------------------
# In-process unit tests (no reactor is installed by these)
# --------------------------------------------------------------------------


def _make_table_resolver(answers: dict[str, list[list[str]]]):
    from scrapy.resolver import HostResolution
    from twisted.internet.address import IPv4Address, IPv6Address
    from twisted.internet.interfaces import IHostnameResolver
    from zope.interface import implementer

    @implementer(IHostnameResolver)
    class TableResolver:
        def __init__(self) -> None:
            self.calls: list[str] = []

        def resolveHostName(
            self, receiver, hostName, portNumber=0, addressTypes=None, transportSemantics="TCP"
        ):
            self.calls.append(hostName)
            sequence = answers[hostName]
            addresses = sequence[min(self.calls.count(hostName), len(sequence)) - 1]
            resolution = HostResolution(hostName)
            receiver.resolutionBegan(resolution)
            for address in addresses:
                cls = IPv6Address if ":" in address else IPv4Address
                if addressTypes is None or cls in addressTypes:
                    receiver.addressResolved(cls("TCP", address, portNumber))
            receiver.resolutionComplete()
            return resolution

    return TableResolver()


class FakeReactor:
    def __init__(self, name_resolver: Any) -> None:
        self.nameResolver = name_resolver

    def installNameResolver(self, resolver: Any) -> Any:
        previous, self.nameResolver = self.nameResolver, resolver
        return previous


class Receiver:
    def __init__(self) -> None:
        self.addresses: list[Any] = []
        self.began = False
        self.complete = False

    def resolutionBegan(self, resolution: Any) -> None:
        self.began = True

    def addressResolved(self, address: Any) -> None:
        self.addresses.append(address)

    def resolutionComplete(self) -> None:
        self.complete = True


def _resolve(resolver: Any, host: str, port: int = 443, types: Any = None) -> list[str]:
    receiver = Receiver()
    resolver.resolveHostName(receiver, host, port, types)
    assert receiver.began and receiver.complete
    assert all(address.port == port for address in receiver.addresses)
    return [address.host for address in receiver.addresses]


def _guarded(answers: dict[str, list[list[str]]], cache_size: int = 100, allow: bool = False):
    from emailscan.resolver import GuardedResolver

    table = _make_table_resolver(answers)
    reactor = FakeReactor(table)
    resolver = GuardedResolver(reactor, cache_size, allow_private=allow)
    resolver.install_on_reactor()
    assert reactor.nameResolver is resolver
    return resolver, table


def test_resolver_refuses_and_remembers_why() -> None:
    resolver, _ = _guarded({"intranet.test": [["10.0.0.5"]], "mixed.test": [[PUBLIC_IP, "::1"]]})
    assert _resolve(resolver, "intranet.test") == []
    assert resolver.refusal_for("Intranet.TEST") == (
        "refused to connect to 10.0.0.5 (private network address) for intranet.test"
    )
    assert _resolve(resolver, "mixed.test") == []
    assert resolver.refusal_for("mixed.test") == (
        "refused to connect to ::1 (loopback address) for mixed.test"
    )
    assert resolver.refusal_for("other.test") is None


def test_resolver_cache_only_holds_checked_answers() -> None:
    resolver, table = _guarded({"rebind.test": [[PUBLIC_IP], ["127.0.0.1"]]})
    assert _resolve(resolver, "rebind.test", 443) == [PUBLIC_IP]
    assert _resolve(resolver, "rebind.test", 80) == [PUBLIC_IP]  # cached, port applied
    assert table.calls == ["rebind.test"]


def test_resolver_without_cache_checks_every_answer() -> None:
    resolver, table = _guarded({"rebind.test": [[PUBLIC_IP], ["127.0.0.1"]]}, cache_size=0)
    assert _resolve(resolver, "rebind.test") == [PUBLIC_IP]
    assert _resolve(resolver, "rebind.test") == []
    assert table.calls == ["rebind.test", "rebind.test"]
    assert "127.0.0.1 (loopback address)" in resolver.refusal_for("rebind.test")


def test_resolver_does_not_cache_refusals() -> None:
    resolver, table = _guarded({"flip.test": [["10.0.0.1"], [PUBLIC_IP]]})
    assert _resolve(resolver, "flip.test") == []
    assert _resolve(resolver, "flip.test") == [PUBLIC_IP]
    assert resolver.refusal_for("flip.test") is None
    assert table.calls == ["flip.test", "flip.test"]


def test_resolver_cache_respects_address_types() -> None:
    from twisted.internet.address import IPv4Address

    resolver, _ = _guarded({"dual.test": [[PUBLIC_IP, "2606:2800:220:1::1"]]})
    assert _resolve(resolver, "dual.test") == [PUBLIC_IP, "2606:2800:220:1::1"]
    assert _resolve(resolver, "dual.test", types=[IPv4Address]) == [PUBLIC_IP]


def test_resolver_allow_private() -> None:
    resolver, _ = _guarded({"intranet.test": [["10.0.0.5"]]}, allow=True)
    assert _resolve(resolver, "intranet.test") == ["10.0.0.5"]
    assert resolver.refusal_for("intranet.test") is None


def test_resolver_from_crawler_and_no_stacking() -> None:
    from scrapy.settings import Settings

    from emailscan.resolver import GuardedResolver

    first, table = _guarded({})
    crawler = SimpleNamespace(
        settings=Settings({"ALLOW_PRIVATE_NETWORKS": True, "DNSCACHE_ENABLED": False})
    )
    second = GuardedResolver.from_crawler(crawler, first.reactor)
    assert second.allow_private is True
    assert second._cache.limit == 0
    assert second.original_resolver is table


class FakeStats:
    def __init__(self) -> None:
        self.values: dict[str, int] = {}

    def inc_value(self, key: str, count: int = 1, start: int = 0) -> None:
        self.values[key] = self.values.get(key, start) + count


def _middleware(**settings: Any):
    from scrapy.settings import Settings

    from emailscan.middlewares import PrivateNetworkGuardMiddleware

    crawler = SimpleNamespace(settings=Settings({**GUARD_SETTINGS, **settings}), stats=FakeStats())
    return PrivateNetworkGuardMiddleware.from_crawler(crawler)


def test_middleware_not_configured_when_private_networks_allowed() -> None:
    from scrapy.exceptions import NotConfigured

    with pytest.raises(NotConfigured):
        _middleware(ALLOW_PRIVATE_NETWORKS=True)


@pytest.mark.parametrize(
    "handlers",
    [
        {"https": "scrapy.core.downloader.handlers._aiohttp.AiohttpDownloadHandler"},
        {"http": None},
    ],
)
def test_middleware_refuses_handlers_that_bypass_the_resolver(handlers: dict[str, Any]) -> None:
    with pytest.raises(RuntimeError, match="only covers HTTP11DownloadHandler"):
        _middleware(DOWNLOAD_HANDLERS=handlers)


@pytest.mark.parametrize(
    ("url", "meta", "message"),
    [
        ("file:///etc/passwd", {}, "refused to fetch file:///etc/passwd (URL scheme 'file'"),
        ("s3://bucket/key", {}, "(URL scheme 's3' is not allowed)"),
        ("gopher://10.0.0.1/", {}, "(URL scheme 'gopher' is not allowed)"),
        ("http://example.com/", {"proxy": "http://10.0.0.1:3128"}, "through a proxy"),
        ("http://10.0.0.5/", {}, "refused to connect to 10.0.0.5 (private network address)"),
        ("http://0xa9fea9fe/", {}, "169.254.169.254 (link-local cloud metadata address)"),
        ("http://[fe80::1%25eth0]/", {}, "fe80::1%eth0 (link-local address)"),
        ("http://[64:ff9b::7f00:1]/", {}, "(NAT64 loopback address)"),
        ("http://100.64.0.1/", {}, "(shared address space (carrier-grade NAT))"),
        ("http://0/", {}, "refused to connect to 0.0.0.0 (unspecified address) for 0"),
        ("http://api.localhost/", {}, "api.localhost (loopback host name)"),
    ],
)
def test_middleware_refuses_up_front(url: str, meta: dict[str, str], message: str) -> None:
    from scrapy import Request

    from emailscan.middlewares import BlockedAddressError

    middleware = _middleware()
    request = Request(url, meta=meta)
    with pytest.raises(BlockedAddressError, match="^refused to") as info:
        middleware.process_request(request)
    assert message in str(info.value)
    assert info.value.url == request.url
    assert middleware.crawler.stats.values == {"emailscan/ssrf_blocked": 1}


def test_middleware_converts_resolver_refusals() -> None:
    from scrapy import Request
    from scrapy.exceptions import CannotResolveHostError

    from emailscan.middlewares import BlockedAddressError

    resolver, _ = _guarded({"intranet.test": [["10.0.0.5"]]})
    assert _resolve(resolver, "intranet.test") == []
    middleware = _middleware()
    middleware._guarded_resolver = lambda: resolver
    lookup_error = CannotResolveHostError("no results for hostname lookup: intranet.test")
    with pytest.raises(BlockedAddressError) as info:
        middleware.process_exception(Request("http://intranet.test/"), lookup_error)
    assert str(info.value) == (
        "refused to connect to 10.0.0.5 (private network address) for intranet.test"
    )
    # Other failures and other hosts are left alone.
    assert middleware.process_exception(Request("http://other.test/"), lookup_error) is None
    assert middleware.process_exception(Request("http://intranet.test/"), OSError()) is None
    assert middleware.crawler.stats.values == {"emailscan/ssrf_blocked": 1}


if __name__ == "__main__":
    _crawl_main(sys.argv[1])
