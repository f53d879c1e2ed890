"""The SSRF matrix, one table for every path a target can take: requested directly, linked,
redirected to (tests/test_ssrf_crawl.py, tests/test_ssrf_end_to_end.py), submitted to
`scrapy crawl emails -a domain=...` and to the API (tests/test_ssrf_end_to_end.py).

Only loopback is ever connected to: names resolve through a stub (:data:`DNS`), and every
connect() of a crawl goes to a counting loopback server (see :mod:`tests.ssrf_netstub`).
"""

from __future__ import annotations

import dataclasses
from urllib.parse import urljoin

#: What the "public" names resolve to; crawls route it to a loopback server, never out.
PUBLIC_IP = "93.184.215.14"
#: The public-looking site a crawl starts on (its registrable domain is acme.com).
SITE = "www.acme.com"
SITE_URL = f"http://{SITE}/"

#: The stub DNS: successive answers per name (the last one repeats). Everything but the
#: public names points inward; names on acme.com pass the spider's on-site rules, so only
#: the guard stands between them and the target.
DNS: dict[str, list[list[str]]] = {
    SITE: [[PUBLIC_IP]],
    "example.com": [[PUBLIC_IP]],
    "intranet.acme.com": [["10.0.0.1"]],
    "corp.acme.com": [["172.16.0.1"]],
    "router.acme.com": [["192.168.1.1"]],
    "metadata.acme.com": [["169.254.169.254"]],
    "cgnat.acme.com": [["100.64.0.1"]],
    "loop.acme.com": [["127.0.0.1"]],
    "zero.acme.com": [["0.0.0.0"]],
    "ula.acme.com": [["fd00::1"]],
    "linklocal.acme.com": [["fe80::1"]],
    "mapped.acme.com": [["::ffff:10.0.0.1"]],
    "multicast.acme.com": [["224.0.0.1"]],
    "split.acme.com": [[PUBLIC_IP, "10.0.0.5"]],  # one public and one private A record
    "rebind.acme.com": [[PUBLIC_IP], ["127.0.0.1"]],  # public first, then loopback
    # Only for the control runs (guard off): the guard refuses these names without a lookup.
    "localhost": [["127.0.0.1"]],
    "app.localhost": [["127.0.0.1"]],
}

LOOPBACK = "refused to connect to 127.0.0.1 (loopback address)"
#: UrlCase.unguarded: Twisted's Agent refuses the URL's host ("invalid hostname: a@127.0.0.1").
INVALID_HOST = "invalid hostname"
#: UrlCase.unguarded: an unguarded crawl never gets (or never uses) an address of the target.
UNREACHABLE = "unreachable"
PORTS = "allowed ports: 80, 443, 8080, 8443"


def _for(host: str) -> str:
    return f"{LOOPBACK} for {host}"


def _name(address: str, reason: str, name: str) -> str:
    return f"refused to connect to {address} ({reason}) for {name}"


@dataclasses.dataclass(frozen=True)
class UrlCase:
    """A URL a page can point to (link, redirect, meta refresh) or a crawl can request.

    ``{mark}`` in :attr:`url` is replaced by a path segment unique to one use, so every use
    is a distinct request (no duplicate filtering) that can be told apart in logs and in the
    requests a counting server saw. :attr:`refusal` is the guard's message (``{url}``: the
    URL requested); :attr:`on_site` says whether the emails spider of :data:`SITE` would
    follow it (else Scrapy's offsite filter drops redirects to it before the guard).
    """

    name: str
    url: str
    refusal: str
    on_site: bool = False
    #: What an unguarded crawl does with it (the control runs check it): ``reached`` the
    #: target; or Twisted's Agent refuses the host itself (:data:`INVALID_HOST`); or it
    #: never gets an address of the target (:data:`UNREACHABLE`).
    unguarded: str = "reached"

    def absolute(self, mark: str) -> str:
        return urljoin(SITE_URL, self.url.format(mark=mark))

    def message(self, mark: str) -> str:
        return self.refusal.format(url=self.absolute(mark))


URL_CASES: list[UrlCase] = [
    # Loopback in every notation.
    UrlCase("decimal", "http://2130706433/{mark}", _for("2130706433")),
    UrlCase("octal", "http://0177.0.0.1/{mark}", _for("0177.0.0.1")),
    UrlCase("hex", "http://0x7f.0.0.1/{mark}", _for("0x7f.0.0.1")),
    UrlCase("hex32", "http://0x7f000001/{mark}", _for("0x7f000001")),
    UrlCase("short", "http://127.1/{mark}", _for("127.1")),
    UrlCase("mixed", "http://0177.0x0.1/{mark}", _for("0177.0x0.1")),
    UrlCase("dotted", "http://127.0.0.1/{mark}", LOOPBACK),
    # getaddrinfo() takes this for a name, not an address: a DNS query (none answers here).
    UrlCase("trailing-dot", "http://127.0.0.1./{mark}", _for("127.0.0.1."), unguarded=UNREACHABLE),
    UrlCase(
        "percent", "http://%31%32%37.0.0.1/{mark}", _for("%31%32%37.0.0.1"), unguarded=INVALID_HOST
    ),
    # Scrapy maps full-width digits and dots to ASCII (IDNA) before anything else sees them.
    UrlCase("fullwidth", "http://\uff11\uff12\uff17.\uff10.\uff10.\uff11/{mark}", LOOPBACK),
    UrlCase("ipv6", "http://[::1]/{mark}", "refused to connect to ::1 (loopback address)"),
    UrlCase(
        "mapped",
        "http://[::ffff:127.0.0.1]/{mark}",
        "refused to connect to ::ffff:7f00:1 (IPv4-mapped loopback address) for ::ffff:127.0.0.1",
    ),
    UrlCase(
        "mapped-hex",
        "http://[0:0:0:0:0:ffff:7f00:1]/{mark}",
        "refused to connect to ::ffff:7f00:1 (IPv4-mapped loopback address)"
        " for 0:0:0:0:0:ffff:7f00:1",
    ),
    UrlCase("scheme-relative", "//127.0.0.1/{mark}", LOOPBACK),
    UrlCase(
        "localhost",
        "http://localhost/{mark}",
        "refused to connect to localhost (loopback host name)",
    ),
    UrlCase(
        "sub-localhost",
        "http://app.localhost/{mark}",
        "refused to connect to app.localhost (loopback host name)",
    ),
    # Userinfo and fragment tricks: the host is what follows the last @ before the path.
    UrlCase("userinfo", "http://a@127.0.0.1/{mark}", LOOPBACK, unguarded=INVALID_HOST),
    UrlCase("userinfo-site", f"http://{SITE}@127.0.0.1/{{mark}}", LOOPBACK, unguarded=INVALID_HOST),
    UrlCase("fragment-at", f"http://127.0.0.1/{{mark}}#@{SITE}", LOOPBACK),
    # Other non-public addresses, literally.
    UrlCase(
        "unspecified",
        "http://0.0.0.0/{mark}",
        "refused to connect to 0.0.0.0 (unspecified address)",
    ),
    UrlCase("zero", "http://0/{mark}", "refused to connect to 0.0.0.0 (unspecified address) for 0"),
    UrlCase(
        "metadata",
        "http://169.254.169.254/latest/meta-data/{mark}",
        "refused to connect to 169.254.169.254 (link-local cloud metadata address)",
    ),
    UrlCase(
        "10", "http://10.0.0.1/{mark}", "refused to connect to 10.0.0.1 (private network address)"
    ),
    UrlCase(
        "172",
        "http://172.16.0.1/{mark}",
        "refused to connect to 172.16.0.1 (private network address)",
    ),
    UrlCase(
        "192",
        "http://192.168.1.1/{mark}",
        "refused to connect to 192.168.1.1 (private network address)",
    ),
    UrlCase(
        "cgnat",
        "http://100.64.0.1/{mark}",
        "refused to connect to 100.64.0.1 (shared address space (carrier-grade NAT))",
    ),
    UrlCase(
        "ula", "http://[fd00::1]/{mark}", "refused to connect to fd00::1 (unique local address)"
    ),
    UrlCase(
        "linklocal6",
        "http://[fe80::1]/{mark}",
        "refused to connect to fe80::1 (link-local address)",
    ),
    UrlCase(
        "mapped-10",
        "http://[::ffff:10.0.0.1]/{mark}",
        "refused to connect to ::ffff:a00:1 (IPv4-mapped private network address)"
        " for ::ffff:10.0.0.1",
    ),
    UrlCase(
        "multicast",
        "http://224.0.0.1/{mark}",
        "refused to connect to 224.0.0.1 (multicast address)",
    ),
    # Names on the site's own domain that resolve inward: only the guard can stop these.
    *(
        UrlCase(f"name-{name.split('.')[0]}", f"http://{name}/{{mark}}", message, on_site=True)
        for name, message in [
            (
                "intranet.acme.com",
                _name("10.0.0.1", "private network address", "intranet.acme.com"),
            ),
            ("corp.acme.com", _name("172.16.0.1", "private network address", "corp.acme.com")),
            ("router.acme.com", _name("192.168.1.1", "private network address", "router.acme.com")),
            (
                "metadata.acme.com",
                _name("169.254.169.254", "link-local cloud metadata address", "metadata.acme.com"),
            ),
            (
                "cgnat.acme.com",
                _name("100.64.0.1", "shared address space (carrier-grade NAT)", "cgnat.acme.com"),
            ),
            ("loop.acme.com", _name("127.0.0.1", "loopback address", "loop.acme.com")),
            ("zero.acme.com", _name("0.0.0.0", "unspecified address", "zero.acme.com")),
            ("ula.acme.com", _name("fd00::1", "unique local address", "ula.acme.com")),
            ("linklocal.acme.com", _name("fe80::1", "link-local address", "linklocal.acme.com")),
            (
                "mapped.acme.com",
                _name("::ffff:10.0.0.1", "IPv4-mapped private network address", "mapped.acme.com"),
            ),
            ("multicast.acme.com", _name("224.0.0.1", "multicast address", "multicast.acme.com")),
        ]
    ),
    # One public and one private record: refused whole. (Unguarded, the crawler happens to
    # connect to the first, public, address: the control can't see this one at the sink.)
    UrlCase(
        "name-split",
        "http://split.acme.com/{mark}",
        _name("10.0.0.5", "private network address", "split.acme.com"),
        on_site=True,
        unguarded=UNREACHABLE,
    ),
    # Services of the public site itself: not web ports.
    *(
        UrlCase(
            f"port-{port}",
            f"http://{SITE}:{port}/{{mark}}",
            f"refused to fetch {{url}}: port {port} is not allowed ({PORTS})",
            on_site=True,
        )
        for port in (22, 5432, 6800)
    ),
]

#: URLs of other schemes. Scrapy itself never follows a redirect or meta refresh to them
#: (scrapy/downloadermiddlewares/redirect.py), so they only reach the guard when requested.
SCHEME_URLS: list[tuple[str, str]] = [
    ("file:///etc/passwd", "file"),
    ("ftp://127.0.0.1/", "ftp"),
    ("gopher://127.0.0.1:70/_stats", "gopher"),
    ("data:text/plain,hello", "data"),
    ("dict://127.0.0.1:11211/stats", "dict"),
    ("ldap://127.0.0.1/", "ldap"),
    ("s3://bucket/key", "s3"),
]


def scheme_refusal(url: str, scheme: str) -> str:
    return f"refused to fetch {url} (URL scheme {scheme!r} is not allowed)"


@dataclasses.dataclass(frozen=True)
class Submitted:
    """What a user submits as the site (API ``domain``, ``scrapy crawl emails -a domain=``).

    *refusal* is the crawl's message for the first start URL (https first for a bare host);
    ``None`` with *invalid* set: ``parse_target`` refuses the text (the crawl can't start,
    the API answers ``invalid_domain``) and *invalid* is its message.
    """

    id: str
    domain: str
    refusal: str | None = None
    invalid: str | None = None
    api_code: str = "private_address"
    api_reason: str | None = None  # what the API's message says, when not *refusal*

    @property
    def api_says(self) -> str:
        return self.api_reason or self.invalid or self.refusal or ""

    @property
    def names(self) -> set[str]:
        """The names a guarded crawl may look up for this text: none for literals and
        localhost (refused up front), none for a refused port (refused before resolving)."""
        host = self.domain.split("://")[-1].split("/")[0].split(":")[0].lower()
        inward = host in DNS and not host.endswith("localhost") and not self.api_reason
        return {host} if inward else set()


def _bad(id: str, domain: str, message: str) -> Submitted:
    return Submitted(id, domain, invalid=message, api_code="invalid_domain")


def _port(id: str, domain: str, url: str, port: int) -> Submitted:
    reason = f"port {port} is not allowed ({PORTS})"
    return Submitted(id, domain, f"refused to fetch {url}: {reason}", api_reason=reason)


SCHEMES_ONLY = "only http and https sites can be scanned, not {}:"
USERINFO = "a site address must not carry a user name or password"

SUBMITTED: list[Submitted] = [
    Submitted("decimal", "http://2130706433/", _for("2130706433")),
    Submitted("octal", "0177.0.0.1", _for("0177.0.0.1")),
    Submitted("hex", "0x7f.0.0.1", _for("0x7f.0.0.1")),
    Submitted("hex32", "0x7f000001", _for("0x7f000001")),
    Submitted("short", "127.1", _for("127.1")),
    Submitted("mixed", "0177.0x0.1", _for("0177.0x0.1")),
    Submitted("ipv6", "[::1]", "refused to connect to ::1 (loopback address)"),
    Submitted(
        "mapped",
        "[::ffff:127.0.0.1]",
        "refused to connect to ::ffff:7f00:1 (IPv4-mapped loopback address) for ::ffff:127.0.0.1",
    ),
    Submitted(
        "mapped-hex",
        "[0:0:0:0:0:ffff:7f00:1]",
        "refused to connect to ::ffff:7f00:1 (IPv4-mapped loopback address)"
        " for 0:0:0:0:0:ffff:7f00:1",
    ),
    Submitted("unspecified", "0.0.0.0", "refused to connect to 0.0.0.0 (unspecified address)"),
    Submitted(
        "metadata",
        "169.254.169.254",
        "refused to connect to 169.254.169.254 (link-local cloud metadata address)",
    ),
    Submitted("ula", "[fd00::1]", "refused to connect to fd00::1 (unique local address)"),
    Submitted("linklocal6", "[fe80::1]", "refused to connect to fe80::1 (link-local address)"),
    Submitted(
        "mapped-10",
        "[::ffff:10.0.0.1]",
        "refused to connect to ::ffff:a00:1 (IPv4-mapped private network address)"
        " for ::ffff:10.0.0.1",
    ),
    Submitted("10", "10.0.0.1", "refused to connect to 10.0.0.1 (private network address)"),
    Submitted("172", "172.16.0.1", "refused to connect to 172.16.0.1 (private network address)"),
    Submitted("192", "192.168.1.1", "refused to connect to 192.168.1.1 (private network address)"),
    Submitted(
        "cgnat",
        "100.64.0.1",
        "refused to connect to 100.64.0.1 (shared address space (carrier-grade NAT))",
    ),
    Submitted("multicast", "224.0.0.1", "refused to connect to 224.0.0.1 (multicast address)"),
    Submitted("trailing-dot", "127.0.0.1.", LOOPBACK),  # the dot is dropped when parsed
    Submitted("fullwidth", "\uff11\uff12\uff17.\uff10.\uff10.\uff11", LOOPBACK),
    Submitted("fullwidth-dots", "\uff11\uff12\uff17\uff0e\uff10\uff0e\uff10\uff0e\uff11", LOOPBACK),
    _bad("percent", "%31%32%37.0.0.1", "'%31%32%37.0.0.1' is not a valid host name"),
    Submitted("fragment-at", f"http://127.0.0.1#@{SITE}", LOOPBACK),
    Submitted("localhost", "localhost", "refused to connect to localhost (loopback host name)"),
    Submitted(
        "sub-localhost", "app.localhost", "refused to connect to app.localhost (loopback host name)"
    ),
    # Names that resolve inward.
    Submitted(
        "name-10",
        "intranet.acme.com",
        _name("10.0.0.1", "private network address", "intranet.acme.com"),
    ),
    Submitted(
        "name-metadata",
        "metadata.acme.com",
        _name("169.254.169.254", "link-local cloud metadata address", "metadata.acme.com"),
    ),
    Submitted(
        "name-loop", "loop.acme.com", _name("127.0.0.1", "loopback address", "loop.acme.com")
    ),
    Submitted("name-ula", "ula.acme.com", _name("fd00::1", "unique local address", "ula.acme.com")),
    Submitted(
        "name-mapped",
        "mapped.acme.com",
        _name("::ffff:10.0.0.1", "IPv4-mapped private network address", "mapped.acme.com"),
    ),
    Submitted(
        "name-cgnat",
        "cgnat.acme.com",
        _name("100.64.0.1", "shared address space (carrier-grade NAT)", "cgnat.acme.com"),
    ),
    Submitted(
        "name-split",
        "split.acme.com",
        _name("10.0.0.5", "private network address", "split.acme.com"),
    ),
    # Userinfo and ports.
    _bad("userinfo", "a@127.0.0.1", USERINFO),
    _bad("userinfo-url", "http://example.com@127.0.0.1/", USERINFO),
    _port("port-22", "example.com:22", "https://example.com:22/", 22),
    _port("port-scrapyd", "http://example.com:6800/", "http://example.com:6800/", 6800),
    _port("port-postgres", "http://example.com:5432/", "http://example.com:5432/", 5432),
    # Other schemes.
    _bad("file", "file:///etc/passwd", SCHEMES_ONLY.format("file")),
    _bad("ftp", "ftp://example.com/", SCHEMES_ONLY.format("ftp")),
    _bad("gopher", "gopher://127.0.0.1:70/_stats", SCHEMES_ONLY.format("gopher")),
    _bad("data", "data:text/html,<h1>hi</h1>", SCHEMES_ONLY.format("data")),
    _bad("javascript", "javascript:alert(1)", SCHEMES_ONLY.format("javascript")),
    _bad("dict", "dict://127.0.0.1:11211/stats", SCHEMES_ONLY.format("dict")),
    _bad("ldap", "ldap://127.0.0.1/", SCHEMES_ONLY.format("ldap")),
    _bad("scheme-relative", "//127.0.0.1/", "the domain has no host name"),
]
