"""A small company website ("Acme Widgets GmbH") on 127.0.0.1 for spider and end-to-end tests.

Static pages live in ``tests/fixtures/site/`` (``/`` -> ``index.html``, ``/about/`` ->
``about/index.html``); the crawler traps and everything that needs the live port are answered by
the handler below. :data:`PLANTED` says which address sits on which page and how it is written,
so a failing spider test can name the extraction technique that broke; :data:`DECOYS` lists the
address-like strings that must never be reported.

Dynamic routes:

* ``/robots.txt`` disallows ``/private/`` and names ``/sitemap_index.xml`` (absolute URL).
* ``/sitemap_index.xml`` -> ``/sitemap-pages.xml`` (lists ``/hidden/partners.html``, linked from
  nowhere else); ``/sitemap.xml`` is NOT named in robots.txt and lists ``/hidden/press-kit.html``.
* ``/flaky.html`` answers 503 the first time (per server instance), then 200.
* ``/redirect-loop/a`` <-> ``/redirect-loop/b`` (302 forever); ``/old-contact`` -> 301
  ``/contact/``; a directory without its trailing slash -> 301 with the slash.
* ``/calendar?month=YYYY-MM`` and ``/calendar/day?date=YYYY-MM-DD``: an endless calendar.
* ``/shop/item?id=N``: every item page links to all items with fresh ``sessionid``/``PHPSESSID``
  values and ``;jsessionid=`` path parameters, so naive URL deduplication never terminates.
* ``/big.bin``: 200 KB of random bytes (application/octet-stream).
* ``/cdn-cgi/l/email-protection``: Cloudflare's "email protected" page (no address on it).
* Any request whose Host is :data:`OFFSITE_HOST` gets "another company's" page carrying
  :data:`OFFSITE_ONLY_EMAILS`; ``/about/`` links to it as ``http://other-company.example:PORT/``.
  The name only reaches this server when a test maps it to 127.0.0.1 (a fake resolver); such
  requests are recorded in :attr:`FixtureSite.offsite_requests`, never in ``requests``.

``__PORT__`` in a served text file is replaced with the live port.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import random
import re
import secrets
import selectors
import socket
import socketserver
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from html import escape
from pathlib import Path
from types import TracebackType
from urllib.parse import parse_qs, unquote, urlsplit

__all__ = [
    "CALENDAR_START",
    "DECOYS",
    "DECOY_STRINGS",
    "EXPECTED_EMAILS",
    "OFFSITE_HOST",
    "OFFSITE_ONLY_EMAILS",
    "PLANTED",
    "SHOP_ITEMS",
    "SITE_ROOT",
    "Decoy",
    "FixtureSite",
    "Planted",
    "cf_decode",
    "cf_encode",
    "reported_decoys",
]

SITE_ROOT = Path(__file__).resolve().parent / "fixtures" / "site"
HOST = "127.0.0.1"
OFFSITE_HOST = "other-company.example"
#: The month ``/calendar`` (no query) shows; only this month's page carries an address.
CALENDAR_START = "2025-06"
#: Shop item ids and names; ``/shop/item?id=3`` carries orders@.
SHOP_ITEMS: dict[int, str] = {
    1: "Widget Mini",
    2: "Widget One",
    3: "Widget Two",
    4: "Widget 3",
    5: "Widget 3 Pro",
    6: "Widget Flex",
}
BIG_BIN_SIZE = 200 * 1024


def cf_encode(email: str, key: int) -> str:
    """Cloudflare email protection (``data-cfemail`` / ``#hex``): the key byte, then every UTF-8
    byte of the address XOR the key, all as lowercase hex. This is how the site's values were made.
    """
    return f"{key:02x}" + "".join(f"{byte ^ key:02x}" for byte in email.encode())


def cf_decode(encoded: str) -> str:
    """The inverse of :func:`cf_encode` (what Cloudflare's email-decode.min.js does)."""
    data = bytes.fromhex(encoded)
    return bytes(byte ^ data[0] for byte in data[1:]).decode()


@dataclass(frozen=True)
class Planted:
    """An address the spider must report: the page it is on and how it is written there."""

    email: str  # normalised (lowercase, NFC) form the spider must report
    path: str  # request target of the page that carries it
    how: str  # the technique, for failure messages
    source: str  # the exact text in the page body (decoded with the page's charset)


@dataclass(frozen=True)
class Decoy:
    """An address-like string that must never be reported, and why it is a trap."""

    text: str
    path: str
    why: str


_CF_PRIVACY = cf_encode("privacy@acme-widgets.com", 0x42)
_CF_BILLING = cf_encode("billing@acme-widgets.com", 0x5A)

PLANTED: tuple[Planted, ...] = (
    Planted(
        "info@acme-widgets.com",
        "/",
        "plain text in the footer of every static HTML page (one address, many pages)",
        "E-Mail: info@acme-widgets.com",
    ),
    Planted(
        "hello@acme-widgets.com",
        "/contact/",
        "mailto: link with ?subject=&cc=, link text is not the address",
        'href="mailto:hello@acme-widgets.com?subject=Hello&amp;cc=cc-contact@acme-widgets.com"',
    ),
    Planted(
        "cc-contact@acme-widgets.com",
        "/contact/",
        "cc= parameter of a mailto: link",
        "&amp;cc=cc-contact@acme-widgets.com",
    ),
    Planted(
        "sales@acme-widgets.com",
        "/contact/",
        "percent-encoded mailto: (%40)",
        'href="mailto:sales%40acme-widgets.com"',
    ),
    Planted(
        "split@acme-widgets.com",
        "/contact/",
        "split across inline <span> elements",
        '<span class="u">split</span>@<span class="d">acme-widgets.com</span>',
    ),
    Planted(
        "sales.team@acme-widgets.com",
        "/contact/",
        "mixed case in visible text",
        "Sales.Team@ACME-Widgets.com",
    ),
    Planted(
        "jsonld@acme-widgets.com",
        "/",
        "JSON-LD Organization email with a mailto: value",
        '"email": "mailto:jsonld@acme-widgets.com"',
    ),
    Planted(
        "meta@acme-widgets.com",
        "/",
        '<meta name="reply-to" content=...> in the head',
        '<meta name="reply-to" content="meta@acme-widgets.com">',
    ),
    Planted(
        "microdata@acme-widgets.com",
        "/about/",
        "schema.org microdata itemprop=email",
        '<span itemprop="email">microdata@acme-widgets.com</span>',
    ),
    Planted(
        "hello@partner-agency.co.uk",
        "/about/",
        "off-domain address in visible text (reported, on_domain false)",
        "contact them directly: hello@partner-agency.co.uk",
    ),
    Planted(
        "anna.schmidt@acme-widgets.com",
        "/team/",
        "spelled out: 'name dot name at domain dot com'",
        "write to her directly: anna dot schmidt at acme-widgets dot com",
    ),
    Planted(
        "lena.hoffmann@acme-widgets.com",
        "/team/",
        "a person's address in a mailto: link",
        'href="mailto:lena.hoffmann@acme-widgets.com"',
    ),
    Planted(
        "privacy@acme-widgets.com",
        "/privacy/",
        "Cloudflare email protection: <span class=__cf_email__ data-cfemail> (key 0x42)",
        f'data-cfemail="{_CF_PRIVACY}"',
    ),
    Planted(
        "billing@acme-widgets.com",
        "/support/",
        "Cloudflare email protection: /cdn-cgi/l/email-protection#hex link (key 0x5a)",
        f'href="/cdn-cgi/l/email-protection#{_CF_BILLING}"',
    ),
    Planted(
        "helpdesk@acme-widgets.com",
        "/support/",
        "upper-case MAILTO: scheme, link text is not the address",
        'href="MAILTO:helpdesk@acme-widgets.com"',
    ),
    Planted(
        "kontakt@acme-widgets.com",
        "/impressum/",
        "(at) without spaces, real dot",
        "kontakt(at)acme-widgets.com",
    ),
    Planted(
        "presse@acme-widgets.com",
        "/impressum/",
        "(at) and (dot) with spaces",
        "presse (at) acme-widgets (dot) com",
    ),
    Planted(
        "jobs@acme-widgets.com",
        "/careers/",
        "[at] and [dot] with spaces",
        "jobs [at] acme-widgets [dot] com",
    ),
    Planted(
        "hr@acme-widgets.com",
        "/careers/",
        "decimal character references (&#104;&#114;&#64;)",
        "&#104;&#114;&#64;acme-widgets.com",
    ),
    Planted(
        "bonjour@acme-widgets.com",
        "/fr/contact/",
        "French page, address followed by a full stop",
        "Écrivez-nous : bonjour@acme-widgets.com.",
    ),
    Planted(
        "webinar@acme-widgets.com",
        "/blog/2025/spring-webinar.html",
        "inside parentheses in a blog post",
        "(webinar@acme-widgets.com)",
    ),
    Planted(
        "info@bücher-acme.de",
        "/blog/2024/bookshop-partnership.html",
        "internationalised domain (IDN) in Unicode, off-domain",
        "info@bücher-acme.de",
    ),
    Planted(
        "partners@acme-widgets.com",
        "/hidden/partners.html",
        "page linked from nowhere, listed in /sitemap-pages.xml (robots.txt -> sitemap index)",
        "partners@acme-widgets.com",
    ),
    Planted(
        "press@acme-widgets.com",
        "/hidden/press-kit.html",
        "page linked from nowhere, listed only in /sitemap.xml (not named in robots.txt)",
        "press@acme-widgets.com",
    ),
    Planted(
        "support@acme-widgets.com",
        "/flaky.html",
        "page answers 503 the first time: found only after a retry",
        "support@acme-widgets.com",
    ),
    Planted(
        "events@acme-widgets.com",
        f"/calendar?month={CALENDAR_START}",
        "first page of the endless calendar trap",
        "events@acme-widgets.com",
    ),
    Planted(
        "orders@acme-widgets.com",
        "/shop/item?id=3",
        "item page inside the session-id trap",
        "orders@acme-widgets.com",
    ),
    Planted(
        "jürgen.müller@acme-widgets.com",
        "/latin1.html",
        "ISO-8859-1 body, charset only in the Content-Type header",
        "E-Mail: jürgen.müller@acme-widgets.com",
    ),
    Planted(
        "tokyo@acme-widgets.com",
        "/shiftjis.html",
        'Shift_JIS body, charset only in <meta charset="shift_jis">',
        "メール：tokyo@acme-widgets.com",
    ),
    Planted(
        "txt-contact@acme-widgets.com",
        "/plain.txt",
        "text/plain body",
        "txt-contact@acme-widgets.com",
    ),
    Planted(
        "xhtml@acme-widgets.com",
        "/xhtml.xhtml",
        "application/xhtml+xml page",
        "xhtml@acme-widgets.com",
    ),
)

OFFSITE_ONLY_EMAILS: frozenset[str] = frozenset({"ceo@other-company-ltd.co.uk"})

DECOYS: tuple[Decoy, ...] = (
    Decoy("logo@2x.png", "/", "retina asset: srcset, CSS url() and the JSON-LD logo"),
    Decoy("hero@2x.webp", "/about/", "retina asset in <source srcset>"),
    Decoy("hero@3x.webp", "/about/", "retina asset in <source srcset>"),
    Decoy("bootstrap@5.3.0", "/", "npm package specifier in a CDN URL (every page)"),
    Decoy("core@2.11.8", "/", "@popperjs/core@2.11.8 in a CDN URL (every page)"),
    Decoy("react@18.2.0", "/", "package specifier in a script comment"),
    Decoy("react-dom@18.2.0", "/", "package specifier in a script comment"),
    Decoy("acme-web@2025.06.1", "/", "Sentry release name in a script"),
    Decoy(
        "0123456789abcdef0123456789abcdef@o123456.ingest.sentry.io",
        "/",
        "Sentry DSN (key@host in a URL) in a script",
    ),
    Decoy(
        "widgets-sdk@3.0.1",
        "/blog/2024/widget-3-launch.html",
        "npm install command in a visible <pre><code> block",
    ),
    Decoy("you@company.com", "/contact/", "placeholder attribute of e-mail inputs (every page)"),
    Decoy("name@example.com", "/contact/", "'Format: name@example.com' hint in visible text"),
    Decoy("user@domain.com", "/", "placeholder string in the __NEXT_DATA__ JSON"),
    Decoy("{{ user.email }}", "/", "client-side template placeholder"),
    Decoy("@media", "/", "CSS at-rule"),
    Decoy("@font-face", "/", "CSS at-rule"),
    Decoy("secret-private@acme-widgets.com", "/private/", "page disallowed by robots.txt"),
    Decoy("pdf-only@acme-widgets.com", "/brochure.pdf", "inside a binary (PDF) body"),
    Decoy("ceo@other-company-ltd.co.uk", "/", f"only on the offsite host {OFFSITE_HOST}"),
)

EXPECTED_EMAILS: frozenset[str] = frozenset(planted.email for planted in PLANTED)
DECOY_STRINGS: frozenset[str] = frozenset(decoy.text for decoy in DECOYS)


def reported_decoys(emails: Iterable[str]) -> set[str]:
    """The decoys equal to, or inside, any of ``emails`` (case-insensitive); should be empty."""
    found = [email.lower() for email in emails]
    return {decoy for decoy in DECOY_STRINGS if any(decoy.lower() in email for email in found)}


# --- responses ---------------------------------------------------------------------------------

_CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".xhtml": "application/xhtml+xml",
    ".txt": "text/plain; charset=utf-8",
    ".xml": "application/xml",
    ".pdf": "application/pdf",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".webp": "image/webp",
    ".svg": "image/svg+xml",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
}
# Files whose charset is part of the test: latin1 declares it only in the header, shiftjis only
# in its <meta>.
_SPECIAL_CONTENT_TYPES = {
    "latin1.html": "text/html; charset=iso-8859-1",
    "shiftjis.html": "text/html",
}
_HTML = "text/html; charset=utf-8"
_XML = "application/xml"
_PORT_MARKER = b"__PORT__"


@dataclass(frozen=True)
class _Response:
    status: int
    content_type: str | None = None
    body: bytes = b""
    location: str | None = None


def _html_page(title: str, body: str, brand: str = "Acme Widgets GmbH") -> bytes:
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{escape(title)} | {brand}</title>\n</head>\n<body>\n"
        f'<header><a href="/">{brand}</a></header>\n'
        f"<main>\n{body}\n</main>\n</body>\n</html>\n"
    ).encode()


def _html(status: int, title: str, body: str) -> _Response:
    return _Response(status, _HTML, _html_page(title, body))


def _redirect(status: int, location: str) -> _Response:
    body = f'<p>Moved to <a href="{escape(location)}">{escape(location)}</a>.</p>'
    return _Response(status, _HTML, _html_page("Moved", body), location)


_NOT_FOUND = _html(404, "Not found", "<h1>Not found</h1>\n<p>This page does not exist.</p>")


@functools.cache
def _big_bin_bytes() -> bytes:
    return random.Random(20250601).randbytes(BIG_BIN_SIZE)


def _month(text: str) -> date | None:
    match = re.fullmatch(r"(\d{4})-(\d{2})", text)
    if not match or not 1 <= int(match[2]) <= 12 or int(match[1]) < 1:
        return None
    return date(int(match[1]), int(match[2]), 1)


def _add_months(first: date, months: int) -> date | None:
    index = first.year * 12 + first.month - 1 + months
    year, month = divmod(index, 12)
    return date(year, month + 1, 1) if 1 <= year <= 9999 else None


def _day(text: str) -> date | None:
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _calendar_month_page(query: dict[str, list[str]]) -> _Response:
    first = _month(query.get("month", [CALENDAR_START])[0])
    if first is None:
        return _NOT_FOUND
    label = first.strftime("%B %Y")
    links = []
    for text, delta in (("Previous month", -1), ("Next month", 1)):
        other = _add_months(first, delta)
        if other is not None:
            links.append(f'<a href="/calendar?month={other:%Y-%m}">{text}</a>')
    days = "\n".join(
        f'<li><a href="/calendar/day?date={first:%Y-%m}-{day:02d}">{day} {first:%B}</a>: '
        f"workshop slot</li>"
        for day in (1, 8, 15, 22)
    )
    body = f"<h1>Events: {label}</h1>\n<p>{' | '.join(links)}</p>\n<ul>\n{days}\n</ul>"
    if f"{first:%Y-%m}" == CALENDAR_START:
        body += (
            "\n<p>Hannover Messe, hall 9, booth D17. "
            "Questions about our events: events@acme-widgets.com</p>"
        )
    return _html(200, f"Events {label}", body)


def _calendar_day_page(query: dict[str, list[str]]) -> _Response:
    day = _day(query.get("date", [""])[0])
    if day is None:
        return _NOT_FOUND
    links = [f'<a href="/calendar?month={day:%Y-%m}">{day:%B %Y}</a>']
    for text, delta in (("Previous day", -1), ("Next day", 1)):
        try:
            other = day + timedelta(days=delta)
        except OverflowError:
            continue
        links.append(f'<a href="/calendar/day?date={other.isoformat()}">{text}</a>')
    body = (
        f"<h1>{day:%A, %d %B %Y}</h1>\n<p>{' | '.join(links)}</p>\n"
        "<p>Free workshop slots: 10:00, 14:00. Book them on the day at our booth.</p>"
    )
    return _html(200, f"Events {day.isoformat()}", body)


def _session_links() -> str:
    items = []
    for item_id, name in SHOP_ITEMS.items():
        sid, php, jsession = (secrets.token_hex(8) for _ in range(3))
        items.append(
            f'<li><a href="/shop/item?id={item_id}&amp;sessionid={sid}">{name}</a> '
            f'<a href="/shop/item?PHPSESSID={php}&amp;id={item_id}">(photos)</a> '
            f'<a href="/shop/item;jsessionid={jsession.upper()}?id={item_id}">(details)</a></li>'
        )
    return "\n".join(items)


def _shop_item_page(query: dict[str, list[str]]) -> _Response:
    try:
        item_id = int(query.get("id", [""])[0])
    except ValueError:
        return _NOT_FOUND
    name = SHOP_ITEMS.get(item_id)
    if name is None:
        return _NOT_FOUND
    body = f"<h1>{escape(name)}</h1>\n<p>In stock. Ships in 1-2 working days.</p>"
    if item_id == 3:
        body += "\n<p>Bulk orders and framework contracts: orders@acme-widgets.com</p>"
    body += f"\n<h2>More widgets</h2>\n<ul>\n{_session_links()}\n</ul>"
    body += '\n<p><a href="/shop/">Shop</a></p>'
    return _html(200, name, body)


_OFFSITE_PAGE = _Response(
    200,
    _HTML,
    _html_page(
        "Contact",
        "<h1>Other Company Ltd</h1>\n<p>Controllers for industrial automation. "
        "Write to our CEO: ceo@other-company-ltd.co.uk</p>",
        brand="Other Company Ltd",
    ),
)

_CLOUDFLARE_PAGE = _html(
    200,
    "Email Protection | Cloudflare",
    "<h1>Please enable cookies.</h1>\n<h2>Email Protection</h2>\n"
    "<p>You are unable to access this email address.</p>\n"
    "<p>The website from which you got to this page is protected by Cloudflare. Email addresses "
    "on that page have been hidden in order to keep them from being accessed by malicious bots. "
    "You must enable Javascript in your browser in order to decode the e-mail address.</p>",
)


# --- server ------------------------------------------------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "AcmeFixture/1.0"
    sys_version = ""
    # Idle keep-alive connections end after this, so their threads do not linger.
    timeout = 30
    # Headers and body are two writes: without TCP_NODELAY, Nagle plus the client's delayed ACK
    # add ~40 ms to every keep-alive response.
    disable_nagle_algorithm = True
    server: _Server

    def do_GET(self) -> None:
        self._answer(send_body=True)

    def do_HEAD(self) -> None:
        self._answer(send_body=False)

    def _answer(self, *, send_body: bool) -> None:
        site = self.server.site
        response = site._handle(self.headers.get("Host", ""), self.path)
        if site.delay:
            time.sleep(site.delay)
        self.send_response(response.status)
        if response.content_type:
            self.send_header("Content-Type", response.content_type)
        if response.location:
            self.send_header("Location", response.location)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if send_body:
            self.wfile.write(response.body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: no request log on stderr."""


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    # Do not wait for keep-alive connections on close; stop() shuts their sockets instead.
    block_on_close = False
    request_queue_size = 128

    def __init__(self, site: FixtureSite) -> None:
        self.site = site
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self._stopping = False
        self._wake_reader, self._wake_writer = socket.socketpair()
        super().__init__((HOST, 0), _Handler)

    def serve(self) -> None:
        """Accept until :meth:`stop_serving`; unlike serve_forever() it stops without polling."""
        with selectors.DefaultSelector() as selector:
            selector.register(self.socket, selectors.EVENT_READ)
            selector.register(self._wake_reader, selectors.EVENT_READ)
            while not self._stopping:
                for key, _ in selector.select():
                    if key.fileobj is self.socket and not self._stopping:
                        self._handle_request_noblock()

    def stop_serving(self) -> None:
        self._stopping = True
        self._wake_writer.send(b"\0")

    def server_close(self) -> None:
        super().server_close()
        self._wake_reader.close()
        self._wake_writer.close()

    def server_bind(self) -> None:
        # HTTPServer.server_bind() calls socket.getfqdn(), a reverse DNS lookup that can be slow.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def process_request(self, request: socket.socket, client_address: object) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: socket.socket) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: object, client_address: object) -> None:
        # A client hanging up mid-response is normal for a crawler; real bugs still print.
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)


class FixtureSite:
    """A small company website on 127.0.0.1 at a random port, for spider and end-to-end tests.

    ``requests`` records the request target (path and query) of every request to the site, in
    order; requests for :data:`OFFSITE_HOST` go to ``offsite_requests`` as ``host/path``.
    """

    host = HOST

    def __init__(self, root: Path = SITE_ROOT, *, delay: float = 0.0) -> None:
        self.root = Path(root).resolve()
        self.delay = delay
        self.port: int | None = None
        self.requests: list[str] = []
        self.offsite_requests: list[str] = []
        self._lock = threading.Lock()
        self._flaky_failed = False
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``, no trailing slash."""
        if self.port is None:
            raise RuntimeError("FixtureSite is not running: call start() first")
        return f"http://{self.host}:{self.port}"

    def start(self) -> FixtureSite:
        """Bind a free port and serve in a daemon thread; returns self."""
        if self._server is not None:
            raise RuntimeError("FixtureSite is already running")
        server = _Server(self)
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve, name=f"fixture-site-{self.port}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, free the port and close open keep-alive connections; idempotent."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self._server = self._thread = None
        server.stop_serving()
        if thread is not None:
            thread.join()
        server.server_close()
        server.close_connections()

    def __enter__(self) -> FixtureSite:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def hits(self, prefix: str) -> int:
        """How many requests had a target starting with ``prefix`` (e.g. ``"/calendar"``)."""
        with self._lock:
            return sum(1 for target in self.requests if target.startswith(prefix))

    # --- routing -------------------------------------------------------------------------------

    def _handle(self, host_header: str, target: str) -> _Response:
        hostname = host_header.rsplit(":", 1)[0].strip().lower().rstrip(".")
        with self._lock:
            if hostname == OFFSITE_HOST:
                self.offsite_requests.append(f"{hostname}{target}")
            else:
                self.requests.append(target)
        if hostname == OFFSITE_HOST:
            return _OFFSITE_PAGE
        parts = urlsplit(target)
        # ";jsessionid=..." path parameters are ignored, like a Java servlet container does.
        path = unquote(parts.path.split(";", 1)[0]) or "/"
        query = parse_qs(parts.query)
        route = self._routes.get(path)
        if route is not None:
            return route(self, query)
        if path.startswith("/cdn-cgi/l/email-protection"):
            return _CLOUDFLARE_PAGE
        return self._static(path, parts.query)

    def _robots(self, query: dict[str, list[str]]) -> _Response:
        text = f"User-agent: *\nDisallow: /private/\n\nSitemap: {self.url}/sitemap_index.xml\n"
        return _Response(200, "text/plain; charset=utf-8", text.encode())

    def _sitemap_index(self, query: dict[str, list[str]]) -> _Response:
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
            f"  <sitemap><loc>{self.url}/sitemap-pages.xml</loc>"
            "<lastmod>2025-06-01</lastmod></sitemap>\n"
            "</sitemapindex>\n"
        )
        return _Response(200, _XML, body.encode())

    def _urlset(self, paths: Iterable[str]) -> _Response:
        entries = "".join(
            f"  <url><loc>{escape(self.url + path)}</loc><lastmod>2025-06-01</lastmod></url>\n"
            for path in paths
        )
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
            f"{entries}</urlset>\n"
        )
        return _Response(200, _XML, body.encode())

    def _sitemap_pages(self, query: dict[str, list[str]]) -> _Response:
        return self._urlset(
            [
                "/",
                "/products/",
                "/about/",
                "/team/",
                "/contact/",
                "/careers/",
                "/blog/",
                "/blog/2025/spring-webinar.html",
                "/hidden/partners.html",
            ]
        )

    def _sitemap(self, query: dict[str, list[str]]) -> _Response:
        return self._urlset(["/", "/impressum/", "/hidden/press-kit.html"])

    def _flaky(self, query: dict[str, list[str]]) -> _Response:
        with self._lock:
            failed_before, self._flaky_failed = self._flaky_failed, True
        if not failed_before:
            return _html(503, "Service unavailable", "<h1>Service temporarily unavailable</h1>")
        return _html(
            200,
            "Service status",
            "<h1>Service status</h1>\n<p>All systems operational.</p>\n"
            "<p>Something not working? support@acme-widgets.com</p>",
        )

    def _loop_a(self, query: dict[str, list[str]]) -> _Response:
        return _redirect(302, "/redirect-loop/b")

    def _loop_b(self, query: dict[str, list[str]]) -> _Response:
        return _redirect(302, "/redirect-loop/a")

    def _old_contact(self, query: dict[str, list[str]]) -> _Response:
        return _redirect(301, "/contact/")

    def _calendar(self, query: dict[str, list[str]]) -> _Response:
        return _calendar_month_page(query)

    def _calendar_day(self, query: dict[str, list[str]]) -> _Response:
        return _calendar_day_page(query)

    def _shop_item(self, query: dict[str, list[str]]) -> _Response:
        return _shop_item_page(query)

    def _big_bin(self, query: dict[str, list[str]]) -> _Response:
        return _Response(200, "application/octet-stream", _big_bin_bytes())

    _routes = {
        "/robots.txt": _robots,
        "/sitemap_index.xml": _sitemap_index,
        "/sitemap-pages.xml": _sitemap_pages,
        "/sitemap.xml": _sitemap,
        "/flaky.html": _flaky,
        "/redirect-loop/a": _loop_a,
        "/redirect-loop/b": _loop_b,
        "/old-contact": _old_contact,
        "/calendar": _calendar,
        "/calendar/": _calendar,
        "/calendar/day": _calendar_day,
        "/shop/item": _shop_item,
        "/big.bin": _big_bin,
    }

    def _static(self, path: str, query: str) -> _Response:
        relative = path.lstrip("/")
        if any(part.startswith(".") for part in relative.split("/")):
            return _NOT_FOUND
        file = (self.root / relative).resolve()
        if not file.is_relative_to(self.root):
            return _NOT_FOUND
        if file.is_dir():
            if not path.endswith("/"):
                return _redirect(301, path + "/" + (f"?{query}" if query else ""))
            file = file / "index.html"
        if not file.is_file():
            return _NOT_FOUND
        name = file.relative_to(self.root).as_posix()
        content_type = _SPECIAL_CONTENT_TYPES.get(name) or _CONTENT_TYPES.get(
            file.suffix, "application/octet-stream"
        )
        body = file.read_bytes()
        if _PORT_MARKER in body and name not in _SPECIAL_CONTENT_TYPES:
            body = body.replace(_PORT_MARKER, str(self.port).encode())
        return _Response(200, content_type, body)
