"""Which links to follow, which first and which are traps: pure functions over URLs and pages."""

from __future__ import annotations

import posixpath
import re
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from scrapy.linkextractors import IGNORED_EXTENSIONS
from w3lib.url import safe_url_string

HIGH, MEDIUM, LOW, NORMAL = 300, 200, 100, 0

# Words in a URL path or a link's text that mark pages where contact addresses live, in the
# languages we meet most. Checked against lowercase text with separators turned into spaces.
_PAGE_WORDS = {
    HIGH: (
        "contact, contacts, kontakt, contacto, contactos, contatti, contato, contactez, "
        "contactenos, impressum, imprint, mentions legales, aviso legal, note legali, colofon, "
        "get in touch, reach us, write to us, kontaktieren"
    ),
    MEDIUM: (
        "about, about us, ueber uns, uber uns, über uns, a propos, à propos, quienes somos, "
        "chi siamo, sobre, nosotros, over ons, team, our team, people, staff, leadership, "
        "management, unternehmen, company, support, help, hilfe, aide, ayuda, assistenza, "
        "kundenservice, customer service, offices, locations, standorte, legal, privacy, "
        "datenschutz, confidentialite, privacidad"
    ),
    LOW: "press, presse, media, careers, jobs, karriere, emplois, empleo, partners, faq",
}
_WORD_PATTERNS = {
    priority: re.compile(
        r"\b(?:" + "|".join(re.escape(w.strip()) for w in words.split(",")) + r")\b"
    )
    for priority, words in _PAGE_WORDS.items()
}
_SEPARATORS = re.compile(r"[/_\-.?=&+%]+")

# Query parameters that carry a session or a tracker: the same page under endless URLs.
_NOISE_PARAMS = frozenset(
    [
        "sid",
        "sessionid",
        "session_id",
        "session",
        "phpsessid",
        "jsessionid",
        "aspsessionid",
        "cfid",
        "cftoken",
        "zenid",
        "oscsid",
        "fbclid",
        "gclid",
        "msclkid",
        "dclid",
        "yclid",
        "mc_cid",
        "mc_eid",
        "_ga",
        "_gl",
        "igshid",
        "ref",
    ]
)
_PATH_SESSION = re.compile(r";(?:jsessionid|sessionid|sid|phpsessid)=[^/?#]*", re.IGNORECASE)
_DIGITS = re.compile(r"\d+")
# Ids and hashes, not slugs: long hex runs, or long runs with a digit in them.
_TOKEN = re.compile(r"[0-9a-f]{16,}|(?=[A-Za-z_-]*\d)[A-Za-z0-9_-]{32,}", re.IGNORECASE)
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")


def link_priority(url: str, text: str = "") -> int:
    """Higher for contact, imprint, about, team, legal and support pages, by URL and link text."""
    parts = urlsplit(url)
    haystack = _SEPARATORS.sub(" ", f"{parts.path} {text}".lower())
    for priority, pattern in _WORD_PATTERNS.items():
        if pattern.search(haystack):
            return priority
    return NORMAL


def canonical_url(url: str) -> str:
    """Drop fragments, session ids and trackers, so one page has one URL."""
    parts = urlsplit(url)
    path = _PATH_SESSION.sub("", parts.path)
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        kept = [(k, v) for k, v in pairs if not _is_noise(k)]
        query = urlencode(kept) if len(kept) != len(pairs) else query
    return urlunsplit((parts.scheme, parts.netloc.lower(), path, query, ""))


def _is_noise(name: str) -> bool:
    name = name.lower()
    return name in _NOISE_PARAMS or name.startswith("utm_")


def url_pattern(url: str) -> str:
    """The shape of a URL with its numbers and tokens blanked: many URLs of one shape are a trap.

    `/calendar?month=2031-07` and `/calendar?month=1999-01` share the pattern `/calendar?month`.
    """
    parts = urlsplit(url)
    path = _DIGITS.sub("N", _TOKEN.sub("T", parts.path))
    keys = sorted({key for key, _ in parse_qsl(parts.query, keep_blank_values=True)})
    return f"{parts.netloc}{path}?{'&'.join(keys)}" if keys else f"{parts.netloc}{path}"


# Links to files we can't read, by extension: never requested (Scrapy's list, as a set).
_SKIPPED_EXTENSIONS = frozenset(f".{extension}" for extension in IGNORED_EXTENSIONS)


class NewLinks:
    """The links of a page not met on an earlier page, as absolute URLs with their text.

    Most links of a site are its navigation and footer, repeated on every page: a repeat costs
    one set look-up here, where Scrapy's LinkExtractor would join, quote and check it again.
    """

    def __init__(self):
        self._seen: set[tuple[str, str]] = set()

    def __call__(self, root, base_url: str, encoding: str = "utf-8"):
        origin = "{0.scheme}://{0.netloc}".format(urlsplit(base_url))
        for anchor in root.iter("a", "area"):
            href = (anchor.get("href") or "").strip()
            if not href or href.startswith("#"):
                continue
            key = (_href_context(href, origin, base_url), href)
            if key in self._seen:
                continue
            self._seen.add(key)
            if url := _absolute_http_url(base_url, href, encoding):
                yield url, anchor.text_content()


def _href_context(href: str, origin: str, base_url: str) -> str:
    """What an href's meaning depends on: nothing, the scheme, the origin, or the page."""
    if _SCHEME.match(href):
        return ""
    if href.startswith("//"):
        return base_url.partition(":")[0]
    if href.startswith("/"):
        return origin
    return base_url


def _absolute_http_url(base_url: str, href: str, encoding: str) -> str | None:
    try:
        url = safe_url_string(urljoin(base_url, href), encoding=encoding)
    except ValueError:
        return None
    if not url.startswith(("http://", "https://")):
        return None  # mailto:, tel:, javascript: ...
    if posixpath.splitext(urlsplit(url).path)[1].lower() in _SKIPPED_EXTENSIONS:
        return None
    return url
