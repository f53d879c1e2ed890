"""SSRF guard: the resolver and middleware on their own, and real Scrapy crawls.

The crawls run in a subprocess: this very file, run as a script with a JSON config. Before
Scrapy or Twisted are imported it installs :mod:`tests.ssrf_netstub`: names resolve from a
fixed table (no DNS query is ever sent) and every connect() is recorded, then sent to the
test's "public" site (a loopback server standing in for PUBLIC_IP) or to the sink (a loopback
:class:`~tests.ssrf_target.CountingServer` standing in for every private target). A broken
guard therefore shows up as recorded attempts and as connections the sink counts, never as
traffic beyond loopback; the control runs (guard off) show that the sink does see them.

The probe spider here has no offsite rules and fetches exactly the URLs it is given, so
these crawls prove the guard alone; tests/test_ssrf_end_to_end.py runs `scrapy crawl emails`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from emailscan.netguard import WEB_PORTS
from tests.ssrf_cases import (
    DNS,
    INVALID_HOST,
    PUBLIC_IP,
    SCHEME_URLS,
    SITE,
    SITE_URL,
    URL_CASES,
    scheme_refusal,
)
from tests.ssrf_target import REDIRECT_KINDS, CountingServer, redirect_site

REPO_ROOT = Path(__file__).resolve().parent.parent

# Mirrors the SSRF block of emailscan/settings.py.
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
MIDDLEWARE_OFF = {
    "DOWNLOADER_MIDDLEWARES": {"emailscan.middlewares.PrivateNetworkGuardMiddleware": None}
}


# --------------------------------------------------------------------------
# Crawl process side (runs only under ``python tests/test_ssrf_crawl.py``)
# --------------------------------------------------------------------------


def _crawl_main(config_path: str) -> None:
    from tests.ssrf_netstub import install

    config = json.loads(Path(config_path).read_text())
    install(config)

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
        **extra,
    }
    Path(config["out"]).write_text(json.dumps(output, indent=2))


# --------------------------------------------------------------------------
# Test side
# --------------------------------------------------------------------------


@pytest.fixture
def sink() -> Iterator[CountingServer]:
    """The stand-in for every private target: whatever reaches it is counted."""
    with CountingServer() as server:
        yield server


@pytest.fixture
def server() -> Iterator[CountingServer]:
    with CountingServer() as server:
        yield server


@pytest.fixture
def server6() -> Iterator[CountingServer]:
    try:
        server = CountingServer(host="::1")
    except OSError as exc:
        pytest.skip(f"no IPv6 loopback: {exc}")
    with server:
        yield server


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


def crawl(
    tmp_path: Path,
    urls: list[str],
    *,
    dns: dict[str, list[list[str]]] | None = None,
    routes: list[tuple[str, int, str, int]] = (),
    sink: CountingServer | None = None,
    settings: dict[str, Any] | None = None,
) -> Crawl:
    """Probe *urls* in a crawl process; *routes* and *sink* as in tests/ssrf_netstub.py (no
    sink: connections nowhere routed are refused without a packet)."""
    files = {name: tmp_path / f"{name}.jsonl" for name in ("attempts", "lookups")}
    config_path = tmp_path / "crawl.json"
    out = tmp_path / "out.json"
    config = {
        "urls": urls,
        "out": str(out),
        "dns": dns or {},
        "routes": [list(route) for route in routes],
        "sink": [sink.host, sink.port] if sink else None,
        "attempts_file": str(files["attempts"]),
        "lookups_file": str(files["lookups"]),
        "settings": settings or {},
    }
    config_path.write_text(json.dumps(config))
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
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-5000:]
    output = json.loads(out.read_text())
    assert len(output["results"]) == len(urls), proc.stderr[-5000:]
    lines = {
        name: path.read_text().splitlines() if path.exists() else [] for name, path in files.items()
    }
    return Crawl(
        output["results"],
        output["stats"],
        [json.loads(line) for line in lines["lookups"]],
        output.get("resolver", ""),
        [tuple(json.loads(line)) for line in lines["attempts"]],
        proc.stderr,
    )


def blocked(message: str) -> tuple[str, str]:
    return ("BlockedAddressError", message)


def passthrough(server: CountingServer) -> tuple[str, int, str, int]:
    return (server.host, server.port, server.host, server.port)


def public_site(server: CountingServer) -> tuple[str, int, str, int]:
    """The test-only allow rule: the "public" address is served by this loopback server."""
    return (PUBLIC_IP, 80, server.host, server.port)


def assert_untouched(sink: CountingServer) -> None:
    sink.stop()  # final counts: see CountingServer.stop
    assert (sink.connections, sink.requests) == (0, []), sink.summary()


# (a) names that resolve to non-public addresses


def test_names_resolving_to_private_addresses_are_refused(
    tmp_path: Path, sink: CountingServer
) -> None:
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
        sink=sink,
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
    assert_untouched(sink)
    assert result.stats["emailscan/ssrf_blocked"] == 5
    assert result.resolver == "GuardedResolver"
    assert (
        "Blocked <GET http://intranet.test/>: refused to connect to 10.0.0.1"
        " (private network address) for intranet.test"
    ) in result.log


# (b) DNS rebinding: the checked answer is the one connected to


@pytest.mark.parametrize("dnscache", [True, False])
def test_dns_rebinding(
    tmp_path: Path, server: CountingServer, sink: CountingServer, dnscache: bool
) -> None:
    result = crawl(
        tmp_path,
        ["http://rebind.test/a", "http://rebind.test/b"],
        dns={"rebind.test": [[PUBLIC_IP], ["127.0.0.1"]]},
        routes=[public_site(server)],
        sink=sink,
        settings={"DNSCACHE_ENABLED": dnscache},
    )
    # The public answer is connected to (the test routes it to its loopback server).
    assert result.results[0]["status"] == 200
    if dnscache:
        # The second request reuses the checked answer, never asks again.
        assert result.lookups == ["rebind.test"]
        assert result.results[1]["status"] == 200
    else:
        assert result.lookups == ["rebind.test", "rebind.test"]
        assert result.errors()[1] == blocked(
            "refused to connect to 127.0.0.1 (loopback address) for rebind.test"
        )
        assert result.stats["emailscan/ssrf_blocked"] == 1
    assert set(result.attempts) == {(PUBLIC_IP, 80)}
    server.stop()
    assert [hit.path for hit in server.requests] == ["/a", "/b"][: 2 if dnscache else 1]
    assert_untouched(sink)


# (c) every target of the matrix, requested directly and after every kind of redirect


def _matrix_urls() -> tuple[list[str], list[str], dict[str, str]]:
    """Probe URLs, their expected refusals, and the redirect targets of the public site."""
    urls, messages, targets = [], [], {}
    for case in URL_CASES:
        mark = f"{case.name}-direct"
        urls.append(case.absolute(mark))
        messages.append(case.message(mark))
        for kind in REDIRECT_KINDS:
            mark = f"{case.name}-{kind}"
            targets[mark] = case.url.format(mark=mark)
            urls.append(f"{SITE_URL}go/{kind}/{mark}")
            messages.append(case.message(mark))
    return urls, messages, targets


def test_every_target_is_refused_directly_and_after_every_redirect(
    tmp_path: Path, sink: CountingServer
) -> None:
    urls, messages, targets = _matrix_urls()
    with CountingServer(redirect_site(targets)) as site:
        result = crawl(tmp_path, urls, dns=DNS, routes=[public_site(site)], sink=sink)
    assert result.errors() == [blocked(message) for message in messages]
    assert_untouched(sink)
    assert set(result.attempts) == {(PUBLIC_IP, 80)}  # the public site only
    assert sorted(hit.path for hit in site.requests) == sorted(
        url.removeprefix(SITE_URL[:-1]) for url in urls if url.startswith(SITE_URL)
    )
    assert result.stats["emailscan/ssrf_blocked"] == len(urls)
    for kind in ("301", "302", "303", "307", "308"):
        assert result.stats[f"downloader/response_status_count/{kind}"] == len(URL_CASES)
    # Names were only looked up when the target was a name (never for literals or localhost).
    assert set(result.lookups) <= {name for name in DNS if not name.endswith("localhost")}


def test_control_every_target_is_reached_without_the_guard(
    tmp_path: Path, sink: CountingServer
) -> None:
    """The same crawl with ALLOW_PRIVATE_NETWORKS: the sink sees every target, so the zero
    counts above are the guard's doing, not a blind measurement."""
    urls, _, targets = _matrix_urls()
    with CountingServer(redirect_site(targets)) as site:
        result = crawl(
            tmp_path,
            urls,
            dns=DNS,
            routes=[public_site(site)],
            sink=sink,
            settings={"ALLOW_PRIVATE_NETWORKS": True},
        )
    sink.stop()
    reached = {hit.path.rsplit("/", 1)[-1] for hit in sink.requests}
    wrong = [
        case.name
        for case in URL_CASES
        if ({f"{case.name}-{use}" for use in ("direct", *REDIRECT_KINDS)} <= reached)
        is not (case.unguarded == "reached")
    ]
    assert wrong == [], wrong
    invalid = [use for case in URL_CASES if case.unguarded == INVALID_HOST for use in range(7)]
    assert [e for e, m in result.errors() if m.startswith("invalid hostname")] == [
        "ValueError" for _ in invalid
    ]
    assert sink.connections >= len(reached)
    assert "emailscan/ssrf_blocked" not in result.stats


# (d) loopback in many notations with a port: reachable when allowed, refused otherwise

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
def test_loopback_notations(tmp_path: Path, server: CountingServer, allow: bool) -> None:
    port = server.port
    urls = [f"http://{host}:{port}/" for host, _ in LOOPBACK_NOTATIONS]
    result = crawl(
        tmp_path,
        urls,
        dns={"localhost": [["127.0.0.1"]]},
        routes=[passthrough(server), ("::ffff:127.0.0.1", port, server.host, port)],
        settings={"ALLOW_PRIVATE_NETWORKS": allow},
    )
    server.stop()
    if allow:
        assert [r.get("status") for r in result.results] == [200] * len(urls), result.results
        assert {host for host, _ in result.attempts} <= {"127.0.0.1", "::ffff:127.0.0.1"}
        assert len(server.requests) == len(urls)
        assert "emailscan/ssrf_blocked" not in result.stats
    else:
        assert result.errors() == [blocked(message) for _, message in LOOPBACK_NOTATIONS]
        assert result.attempts == []
        assert (server.connections, server.requests) == (0, [])
        assert result.stats["emailscan/ssrf_blocked"] == len(urls)


@pytest.mark.parametrize("allow", [True, False], ids=["allowed", "guarded"])
def test_ipv6_loopback(tmp_path: Path, server6: CountingServer, allow: bool) -> None:
    result = crawl(
        tmp_path,
        [f"http://[::1]:{server6.port}/", f"http://[0:0:0:0:0:0:0:1]:{server6.port}/"],
        routes=[passthrough(server6)],
        settings={"ALLOW_PRIVATE_NETWORKS": allow},
    )
    server6.stop()
    if allow:
        assert [r.get("status") for r in result.results] == [200, 200], result.results
        assert len(server6.requests) == 2
    else:
        assert result.errors() == [
            blocked("refused to connect to ::1 (loopback address)"),
            blocked("refused to connect to ::1 (loopback address) for 0:0:0:0:0:0:0:1"),
        ]
        assert result.attempts == []
        assert (server6.connections, server6.requests) == (0, [])


# (e) ports: a public host's other services are not crawled


def test_non_web_ports_of_public_hosts_are_refused(
    tmp_path: Path, server: CountingServer, sink: CountingServer
) -> None:
    result = crawl(
        tmp_path,
        [
            f"http://{SITE}:22/",
            f"http://{SITE}:6800/schedule.json",
            f"https://{SITE}:5432/",
            f"http://{SITE}:0/",
            f"http://{SITE}:8080/",
            f"http://{SITE}/",
        ],
        dns=DNS,
        routes=[public_site(server), (PUBLIC_IP, 8080, server.host, server.port)],
        sink=sink,
    )
    ports = "(allowed ports: 80, 443, 8080, 8443)"
    assert result.errors()[:4] == [
        blocked(f"refused to fetch http://{SITE}:22/: port 22 is not allowed {ports}"),
        blocked(
            f"refused to fetch http://{SITE}:6800/schedule.json: port 6800 is not allowed {ports}"
        ),
        blocked(f"refused to fetch https://{SITE}:5432/: port 5432 is not allowed {ports}"),
        blocked(f"refused to fetch http://{SITE}:0/: port 0 is not allowed {ports}"),
    ]
    assert [outcome.get("status") for outcome in result.results[4:]] == [200, 200]
    assert (
        result.attempts.count((PUBLIC_IP, 80)) >= 1
        and result.attempts.count((PUBLIC_IP, 8080)) >= 1
    )
    assert set(result.attempts) == {(PUBLIC_IP, 80), (PUBLIC_IP, 8080)}
    assert_untouched(sink)


def test_allowed_ports_setting(
    tmp_path: Path, server: CountingServer, sink: CountingServer
) -> None:
    result = crawl(
        tmp_path,
        [f"http://{SITE}:9000/", f"http://{SITE}:8080/", f"http://{SITE}/"],
        dns=DNS,
        routes=[(PUBLIC_IP, 9000, server.host, server.port), public_site(server)],
        sink=sink,
        settings={"EMAILSCAN_ALLOWED_PORTS": "80,9000"},
    )
    assert [outcome.get("status") for outcome in result.results] == [200, None, 200]
    assert result.errors()[1] == blocked(
        f"refused to fetch http://{SITE}:8080/: port 8080 is not allowed (allowed ports: 80, 9000)"
    )
    assert_untouched(sink)


# Layers on their own


def test_resolver_alone_refuses_literals_and_names(tmp_path: Path, server: CountingServer) -> None:
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
        routes=[passthrough(server)],
        # Any port: the address check alone must refuse these.
        settings={**MIDDLEWARE_OFF, "EMAILSCAN_ALLOWED_PORTS": "*"},
    )
    assert [error for error, _ in result.errors()] == ["CannotResolveHostError"] * 4
    assert result.attempts == []
    server.stop()
    assert (server.connections, server.requests) == (0, [])
    assert "emailscan/ssrf_blocked" not in result.stats


def test_resolver_alone_refuses_every_target(tmp_path: Path, sink: CountingServer) -> None:
    """Defence in depth: with the middleware gone, the whole matrix still connects nowhere
    (literals, localhost and ports included: the resolver judges what is connected to)."""
    urls, _, targets = _matrix_urls()
    with CountingServer(redirect_site(targets)) as site:
        result = crawl(
            tmp_path, urls, dns=DNS, routes=[public_site(site)], sink=sink, settings=MIDDLEWARE_OFF
        )
    expected = [
        "ValueError" if case.unguarded == INVALID_HOST else "CannotResolveHostError"
        for case in URL_CASES
        for _ in ("direct", *REDIRECT_KINDS)
    ]
    assert [error for error, _ in result.errors()] == expected
    assert set(result.attempts) == {(PUBLIC_IP, 80)}
    assert_untouched(sink)


def test_resolver_alone_refuses_ports_without_a_lookup(
    tmp_path: Path, sink: CountingServer
) -> None:
    result = crawl(tmp_path, [f"http://{SITE}:6800/"], dns=DNS, sink=sink, settings=MIDDLEWARE_OFF)
    assert [error for error, _ in result.errors()] == ["CannotResolveHostError"]
    assert result.lookups == []
    assert result.attempts == []
    assert_untouched(sink)


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


def test_schemes_are_refused_in_a_crawl(tmp_path: Path, sink: CountingServer) -> None:
    result = crawl(tmp_path, [url for url, _ in SCHEME_URLS], sink=sink)
    assert result.errors() == [blocked(scheme_refusal(url, scheme)) for url, scheme in SCHEME_URLS]
    assert result.attempts == []
    assert result.lookups == []
    assert_untouched(sink)


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


def test_resolver_refuses_ports_without_a_lookup() -> None:
    resolver, table = _guarded({"example.test": [[PUBLIC_IP]]})
    assert _resolve(resolver, "example.test", 6800) == []
    assert resolver.refusal_for("example.test") == (
        "refused to connect to example.test: port 6800 is not allowed"
        " (allowed ports: 80, 443, 8080, 8443)"
    )
    assert table.calls == []
    assert _resolve(resolver, "example.test", 8443) == [PUBLIC_IP]
    assert resolver.refusal_for("example.test") is None
    # Port 0 is a bare lookup (reactor.resolve), not a connection: not judged.
    assert _resolve(resolver, "example.test", 0) == [PUBLIC_IP]


@pytest.mark.parametrize(
    ("ports", "allow", "answer"),
    [
        (None, False, [PUBLIC_IP]),
        (frozenset({80}), True, [PUBLIC_IP]),
        (frozenset({80}), False, []),
    ],
)
def test_resolver_port_policy_relaxed(ports, allow: bool, answer: list[str]) -> None:
    from emailscan.resolver import GuardedResolver

    table = _make_table_resolver({"example.test": [[PUBLIC_IP]]})
    resolver = GuardedResolver(FakeReactor(table), 10, allow_private=allow, ports=ports)
    assert _resolve(resolver, "example.test", 5432) == answer


@pytest.mark.parametrize(
    ("setting", "ports"),
    [
        (None, frozenset({80, 443, 8080, 8443})),
        ("80,443", frozenset({80, 443})),
        ("*", None),
        (["443", 8443], frozenset({443, 8443})),
    ],
)
def test_ports_setting(setting: Any, ports: frozenset[int] | None) -> None:
    from scrapy.settings import Settings

    from emailscan.resolver import GuardedResolver

    values = {} if setting is None else {"EMAILSCAN_ALLOWED_PORTS": setting}
    first, _ = _guarded({})
    resolver = GuardedResolver.from_crawler(
        SimpleNamespace(settings=Settings(values)), first.reactor
    )
    assert resolver.ports == ports
    assert _middleware(**values).ports == ports


@pytest.mark.parametrize("setting", ["", "http", "80,0", "65536", "-1"])
def test_ports_setting_typos_fail_loudly(setting: str) -> None:
    with pytest.raises(ValueError, match="not a TCP port|no port listed"):
        _middleware(EMAILSCAN_ALLOWED_PORTS=setting)


@pytest.mark.parametrize(
    ("url", "ports", "message"),
    [
        ("http://example.com:6800/", WEB_PORTS, "port 6800 is not allowed"),
        ("https://example.com:22/", WEB_PORTS, "port 22 is not allowed"),
        ("http://example.com:0/", WEB_PORTS, "port 0 is not allowed"),
        ("http://93.184.215.14:5432/", WEB_PORTS, "port 5432 is not allowed"),
        ("http://example.com/", frozenset({443}), "port 80 is not allowed (allowed ports: 443)"),
        ("http://example.com/", WEB_PORTS, None),
        ("https://example.com/", WEB_PORTS, None),
        ("http://example.com:443/", WEB_PORTS, None),
        ("https://example.com:8443/x", WEB_PORTS, None),
        ("http://example.com:6800/", None, None),
        ("http://example.com:99999/", WEB_PORTS, "(invalid port)"),  # Scrapy refuses it first
        # The address is judged first: its message says more than the port's.
        ("http://127.0.0.1:6800/", WEB_PORTS, "refused to connect to 127.0.0.1 (loopback address)"),
    ],
)
def test_middleware_port_policy(url: str, ports, message: str | None) -> None:
    from urllib.parse import urlparse

    from emailscan.middlewares import _request_refusal

    request = SimpleNamespace(url=url, meta={})
    refusal = _request_refusal(request, urlparse(url), ports)
    if message is None:
        assert refusal is None
    else:
        assert message in refusal
