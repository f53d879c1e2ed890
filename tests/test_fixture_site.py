"""The fixture website itself: routes, content types, traps and the bookkeeping spider tests use.

If these fail, a spider test failure means nothing, so they check the server before anyone
blames the crawler. Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import http.client
import re
import socket
import time
import unicodedata
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from email.message import Message

import pytest

from tests.fixture_site import (
    CALENDAR_START,
    DECOY_STRINGS,
    DECOYS,
    EXPECTED_EMAILS,
    OFFSITE_HOST,
    OFFSITE_ONLY_EMAILS,
    PLANTED,
    SITE_ROOT,
    FixtureSite,
    cf_decode,
    cf_encode,
    reported_decoys,
)

# Never go through a proxy from the environment, even for 127.0.0.1.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
_NAIVE_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_SITEMAP_NS = "{http://www.sitemaps.org/schemas/sitemap/0.9}"


@pytest.fixture(scope="module")
def site() -> Iterator[FixtureSite]:
    """One server shared by the checks that do not depend on request history."""
    with FixtureSite() as running:
        yield running


def fetch(url: str, **headers: str) -> tuple[int, Message, bytes]:
    """GET following redirects; HTTP errors are returned, not raised."""
    request = urllib.request.Request(url, headers=headers)
    try:
        with _OPENER.open(request, timeout=5) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.headers, error.read()


def raw(
    site: FixtureSite, target: str, method: str = "GET", **headers: str
) -> tuple[int, Message, bytes]:
    """One request without following redirects or normalising the target."""
    connection = http.client.HTTPConnection(site.host, site.port, timeout=5)
    try:
        connection.request(method, target, headers=headers)
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def charset(headers: Message, body: bytes) -> str:
    """The charset a browser would use here: the header's, else the <meta>'s, else UTF-8."""
    declared = headers.get_content_charset()
    if declared:
        return declared
    meta = re.search(rb'<meta charset="([\w-]+)"', body[:1024])
    return meta[1].decode() if meta else "utf-8"


def text_of(url: str, **headers: str) -> str:
    status, response_headers, body = fetch(url, **headers)
    if status == 503:  # /flaky.html: the second request succeeds
        status, response_headers, body = fetch(url, **headers)
    assert status == 200, url
    return body.decode(charset(response_headers, body))


def static_text_files() -> dict[str, str]:
    """Every text file of the site, decoded as it is served, by relative path."""
    out = {}
    for path in sorted(SITE_ROOT.rglob("*")):
        if path.suffix not in {".html", ".xhtml", ".txt"}:
            continue
        name = path.relative_to(SITE_ROOT).as_posix()
        encoding = {"latin1.html": "iso-8859-1", "shiftjis.html": "shift_jis"}.get(name, "utf-8")
        out[name] = path.read_bytes().decode(encoding)
    return out


# --- content types and static files ------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "content_type", "start"),
    [
        ("/", "text/html; charset=utf-8", b"<!DOCTYPE html>"),
        ("/about/", "text/html; charset=utf-8", b"<!DOCTYPE html>"),
        ("/blog/2024/widget-3-launch.html", "text/html; charset=utf-8", b"<!DOCTYPE html>"),
        ("/plain.txt", "text/plain; charset=utf-8", b"Acme Widgets GmbH"),
        ("/xhtml.xhtml", "application/xhtml+xml", b"<?xml"),
        ("/brochure.pdf", "application/pdf", b"%PDF-"),
        ("/img/logo.png", "image/png", b"\x89PNG\r\n\x1a\n"),
        ("/img/logo@2x.png", "image/png", b"\x89PNG\r\n\x1a\n"),
        ("/img/favicon.svg", "image/svg+xml", b"<svg"),
        ("/sitemap.xml", "application/xml", b"<?xml"),
        ("/big.bin", "application/octet-stream", b""),
    ],
)
def test_files_are_served_with_their_content_type(site, target, content_type, start):
    status, headers, body = fetch(site.url + target)
    assert (status, headers["Content-Type"]) == (200, content_type)
    assert body.startswith(start)
    assert int(headers["Content-Length"]) == len(body)


def test_big_bin_is_200_kb_of_the_same_random_bytes(site):
    first, second = fetch(site.url + "/big.bin")[2], fetch(site.url + "/big.bin")[2]
    assert len(first) == 200 * 1024 and first == second
    assert len(set(first)) == 256  # random, not padding


def test_site_is_realistic_in_size_and_layout():
    """~20 pages, a few of them 20-40 KB, the footer address on every static HTML page."""
    pages = {name: text for name, text in static_text_files().items() if name.endswith(".html")}
    assert 18 <= len(pages) <= 25
    sizes = {name: (SITE_ROOT / name).stat().st_size for name in pages}
    big = {name for name, size in sizes.items() if size >= 20_000}
    assert big == {"index.html", "products/index.html", "blog/index.html"}
    assert max(sizes.values()) <= 40_000
    assert [name for name, text in pages.items() if "info@acme-widgets.com" not in text] == []


def test_unknown_paths_dotfiles_and_traversal_are_404(site):
    assert fetch(site.url + "/no/such/page.html")[0] == 404
    assert raw(site, "/.gitattributes")[0] == 404
    assert raw(site, "/../fixture_site.py")[0] == 404
    assert raw(site, "/%2e%2e/fixture_site.py")[0] == 404


def test_head_sends_headers_without_body(site):
    status, headers, body = raw(site, "/", method="HEAD")
    assert (status, body) == (200, b"")
    assert int(headers["Content-Length"]) == (SITE_ROOT / "index.html").stat().st_size


def test_keep_alive_serves_several_requests_on_one_connection(site):
    connection = http.client.HTTPConnection(site.host, site.port, timeout=5)
    try:
        for target in ("/", "/robots.txt", "/no-such-page", "/old-contact", "/about/"):
            connection.request("GET", target)
            response = connection.getresponse()
            response.read()
            assert response.version == 11 and not response.will_close, target
    finally:
        connection.close()


def test_port_marker_is_replaced_with_the_live_port(site):
    about = text_of(site.url + "/about/")
    assert f'href="http://{OFFSITE_HOST}:{site.port}/"' in about
    assert "__PORT__" not in about


# --- robots, sitemaps, redirects ----------------------------------------------------------------


def test_robots_txt_disallows_private_and_names_the_sitemap_index_with_the_live_port(site):
    status, headers, body = fetch(site.url + "/robots.txt")
    assert (status, headers.get_content_type()) == (200, "text/plain")
    lines = body.decode().splitlines()
    assert lines[:2] == ["User-agent: *", "Disallow: /private/"]
    assert f"Sitemap: {site.url}/sitemap_index.xml" in lines
    assert "secret-private@acme-widgets.com" in text_of(site.url + "/private/")


def sitemap_locs(url: str) -> list[str]:
    status, headers, body = fetch(url)
    assert (status, headers["Content-Type"]) == (200, "application/xml")
    return [loc.text for loc in ET.fromstring(body).iter(f"{_SITEMAP_NS}loc")]


def test_sitemaps_list_the_unlinked_pages_with_the_live_port(site):
    assert sitemap_locs(site.url + "/sitemap_index.xml") == [f"{site.url}/sitemap-pages.xml"]
    pages = sitemap_locs(site.url + "/sitemap-pages.xml")
    assert f"{site.url}/hidden/partners.html" in pages
    assert f"{site.url}/hidden/press-kit.html" not in pages
    assert f"{site.url}/hidden/press-kit.html" in sitemap_locs(site.url + "/sitemap.xml")
    for loc in pages:
        assert fetch(loc)[0] == 200, loc
    # Only the sitemaps lead there: no page links to /hidden/.
    assert [name for name, text in static_text_files().items() if "/hidden/" in text] == []


def test_directory_without_slash_and_old_contact_redirect_permanently(site):
    status, headers, _ = raw(site, "/about")
    assert (status, headers["Location"]) == (301, "/about/")
    assert raw(site, "/blog?page=2")[1]["Location"] == "/blog/?page=2"
    status, headers, _ = raw(site, "/old-contact")
    assert (status, headers["Location"]) == (301, "/contact/")
    assert fetch(site.url + "/old-contact")[0] == 200


def test_redirect_loop_never_ends(site):
    for target, location in (
        ("/redirect-loop/a", "/redirect-loop/b"),
        ("/redirect-loop/b", "/redirect-loop/a"),
    ):
        status, headers, _ = raw(site, target)
        assert (status, headers["Location"]) == (302, location)
    with pytest.raises(urllib.error.HTTPError, match="redirect"):
        _OPENER.open(site.url + "/redirect-loop/a", timeout=5)


# --- traps and dynamic pages --------------------------------------------------------------------


def test_flaky_answers_503_once_then_200_per_instance():
    with FixtureSite() as first, FixtureSite() as second:
        assert fetch(first.url + "/flaky.html")[0] == 503
        status, _, body = fetch(first.url + "/flaky.html")
        assert status == 200 and b"support@acme-widgets.com" in body
        assert fetch(first.url + "/flaky.html")[0] == 200
        assert fetch(second.url + "/flaky.html")[0] == 503


def links(html: str) -> list[str]:
    return [href.replace("&amp;", "&") for href in re.findall(r'href="([^"]+)"', html)]


def test_calendar_is_endless_and_only_its_first_month_has_an_address(site):
    start = text_of(f"{site.url}/calendar?month={CALENDAR_START}")
    assert "events@acme-widgets.com" in start
    assert text_of(site.url + "/calendar") == start
    month = CALENDAR_START
    for _ in range(30):  # thirty months on, still another one
        page = text_of(f"{site.url}/calendar?month={month}")
        following = [href for href in links(page) if href.startswith("/calendar?month=")]
        assert len(following) == 2
        month = following[-1].rpartition("=")[2]
        assert "@" not in text_of(f"{site.url}/calendar?month={month}")
    assert month == "2027-12"
    day = text_of(site.url + "/calendar/day?date=2025-06-30")
    assert "/calendar/day?date=2025-07-01" in links(day) and "@" not in day
    assert fetch(site.url + "/calendar?month=2025-13")[0] == 404
    assert fetch(site.url + "/calendar/day?date=2025-02-30")[0] == 404


def test_shop_links_carry_fresh_session_ids(site):
    first = links(text_of(site.url + "/shop/item?id=1"))
    second = links(text_of(site.url + "/shop/item?id=1"))
    items = [href for href in first if href.startswith("/shop/item")]
    assert len(items) == 18 and set(items).isdisjoint(second)
    assert any("&sessionid=" in href for href in items)
    assert any("?PHPSESSID=" in href for href in items)
    assert any(";jsessionid=" in href for href in items)
    for href in items:  # every variant is a working page
        assert fetch(site.url + href)[0] == 200
    assert "orders@acme-widgets.com" in text_of(site.url + "/shop/item;jsessionid=X?id=3")
    assert "@" not in text_of(site.url + "/shop/item?id=2&sessionid=abc")
    assert fetch(site.url + "/shop/item?id=99")[0] == 404


def test_latin1_page_declares_its_charset_only_in_the_header(site):
    status, headers, body = fetch(site.url + "/latin1.html")
    assert headers["Content-Type"] == "text/html; charset=iso-8859-1"
    assert b"j\xfcrgen.m\xfcller@acme-widgets.com" in body and b"B\xfcro" in body
    assert b"<meta charset" not in body
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")


def test_shift_jis_page_declares_its_charset_only_in_meta(site):
    status, headers, body = fetch(site.url + "/shiftjis.html")
    assert headers["Content-Type"] == "text/html"
    assert b'<meta charset="shift_jis">' in body[:1024]
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")
    text = body.decode("shift_jis")
    assert "東京オフィス" in text and "メール：tokyo@acme-widgets.com" in text
    assert "ソフトウェア" in text  # 0x835C: a trail byte that is ASCII backslash


def test_offsite_host_gets_another_site_recorded_apart():
    with FixtureSite() as site:
        status, _, body = raw(site, "/", Host=f"{OFFSITE_HOST}:{site.port}")
        assert status == 200
        assert [email.encode() in body for email in OFFSITE_ONLY_EMAILS] == [True]
        assert site.offsite_requests == [f"{OFFSITE_HOST}/"]
        assert site.requests == []
        assert raw(site, "/", Host=f"localhost:{site.port}")[0] == 200
        assert site.requests == ["/"]


def test_cloudflare_protection_page_has_no_address(site):
    page = text_of(site.url + "/cdn-cgi/l/email-protection")
    assert "Email Protection" in page and "@" not in page


# --- bookkeeping and lifecycle ------------------------------------------------------------------


def test_requests_and_hits_record_targets_in_order():
    with FixtureSite() as site:
        for target in ("/robots.txt", "/calendar?month=2025-06", "/calendar/day?date=2025-06-01"):
            fetch(site.url + target)
        fetch(site.url + "/old-contact")  # redirected: two requests
        assert site.requests == [
            "/robots.txt",
            "/calendar?month=2025-06",
            "/calendar/day?date=2025-06-01",
            "/old-contact",
            "/contact/",
        ]
        assert (site.hits("/calendar"), site.hits("/robots.txt"), site.hits("/private/")) == (
            2,
            1,
            0,
        )


def test_two_instances_serve_at_once_on_different_ports():
    with FixtureSite() as first, FixtureSite() as second:
        assert first.port != second.port
        assert first.url == f"http://127.0.0.1:{first.port}" and first.host == "127.0.0.1"
        assert fetch(first.url + "/")[0] == fetch(second.url + "/")[0] == 200
        assert (first.requests, second.requests) == (["/"], ["/"])


def test_stop_frees_the_port_and_closes_keep_alive_connections():
    site = FixtureSite().start()
    port = site.port
    idle = http.client.HTTPConnection(site.host, port, timeout=5)
    idle.request("GET", "/")
    idle.getresponse().read()  # an open keep-alive connection
    started = time.monotonic()
    site.stop()
    site.stop()  # idempotent
    assert time.monotonic() - started < 0.5
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))
    idle.close()


def test_url_before_start_is_an_error():
    with pytest.raises(RuntimeError):
        _ = FixtureSite().url


def test_delay_slows_every_response():
    with FixtureSite(delay=0.1) as site:
        started = time.monotonic()
        fetch(site.url + "/robots.txt")
        assert time.monotonic() - started >= 0.1


# --- the planted addresses and decoys -----------------------------------------------------------


def test_expected_decoy_and_offsite_lists_are_consistent():
    assert len(EXPECTED_EMAILS) == len(PLANTED)
    for email in EXPECTED_EMAILS:
        assert email == unicodedata.normalize("NFC", email).lower() and email.count("@") == 1
    assert "jürgen.müller@acme-widgets.com" in EXPECTED_EMAILS
    assert reported_decoys(EXPECTED_EMAILS) == set()
    assert OFFSITE_ONLY_EMAILS <= DECOY_STRINGS
    assert reported_decoys(["Logo@2x.PNG", "ok@acme-widgets.com"]) == {"logo@2x.png"}


@pytest.mark.parametrize("planted", PLANTED, ids=lambda planted: planted.email)
def test_every_planted_address_is_on_its_page(planted):
    with FixtureSite() as site:  # fresh: /flaky.html must start with its 503
        assert planted.source in text_of(site.url + planted.path), planted.how


@pytest.mark.parametrize("decoy", DECOYS, ids=lambda decoy: decoy.text)
def test_every_decoy_is_on_its_page(site, decoy):
    if decoy.text in OFFSITE_ONLY_EMAILS:
        body = raw(site, decoy.path, Host=OFFSITE_HOST)[2]
    else:
        body = fetch(site.url + decoy.path)[2]
    assert decoy.text.encode() in body, decoy.why


def test_cloudflare_values_decode_to_planted_addresses():
    assert cf_decode(cf_encode("jürgen.müller@acme-widgets.com", 0x42)) == (
        "jürgen.müller@acme-widgets.com"
    )
    found = set()
    for text in static_text_files().values():
        for value in re.findall(r'data-cfemail="([0-9a-f]+)"|email-protection#([0-9a-f]+)', text):
            found.add(cf_decode("".join(value)))
    assert found == {"privacy@acme-widgets.com", "billing@acme-widgets.com"}
    assert found <= EXPECTED_EMAILS


def test_no_unlisted_address_like_strings_on_the_site():
    """Everything a naive regex finds is planted or a decoy, so the lists describe the site."""
    for name, text in static_text_files().items():
        for match in _NAIVE_EMAIL.findall(text):
            candidate = match.lower()
            listed = candidate in EXPECTED_EMAILS or any(
                decoy in candidate or candidate in decoy for decoy in DECOY_STRINGS
            )
            assert listed, f"{name}: {match}"
    obfuscated = [
        hit
        for text in static_text_files().values()
        for hit in re.findall(r"\w+ ?[\[(]at[\])] ?[\w-]+|\w+ dot \w+ at [\w-]+ dot \w+", text)
    ]
    assert sorted(obfuscated) == [
        "anna dot schmidt at acme-widgets dot com",
        "jobs [at] acme-widgets",
        "kontakt(at)acme-widgets",
        "presse (at) acme-widgets",
    ]
