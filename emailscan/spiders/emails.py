"""The `emails` spider: crawl one site, most valuable pages first, and yield every address shown."""

from __future__ import annotations

import uuid
from collections import Counter
from urllib.parse import urljoin, urlsplit

import scrapy
from scrapy.exceptions import CloseSpider
from scrapy.http import Response, TextResponse
from scrapy.utils.gz import gunzip
from scrapy.utils.response import get_base_url
from scrapy.utils.sitemap import Sitemap

from emailscan.domains import parse_target
from emailscan.extract import extract_emails, extract_from_text
from emailscan.failures import describe_failure
from emailscan.items import EmailItem
from emailscan.links import HIGH, LOW, NewLinks, canonical_url, link_priority, url_pattern
from emailscan.robotstxt import first_rules

START_PRIORITY = 10 * HIGH
_READABLE_TYPES = ("text/html", "application/xhtml+xml", "text/plain")
_MAX_SITEMAP_NESTING = 3
_MAX_ERRORS_KEPT = 5


class EmailsSpider(scrapy.Spider):
    name = "emails"

    def __init__(self, domain: str | None = None, job_id: str | None = None, **kwargs):
        super().__init__(**kwargs)
        if not domain:
            raise ValueError("name the site to scan: scrapy crawl emails -a domain=acme.com")
        self.target = parse_target(domain)
        self.job_id = uuid.UUID(job_id) if job_id else None
        self.allowed_domains = [self.target.registrable_domain]
        self.pages_crawled = 0
        self.known: set[str] = set()  # canonical URLs already requested
        self.patterns: Counter[str] = Counter()  # requests per URL shape, against traps
        self.errors: list[str] = []  # the first download failures, in a user's words

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):
        spider = super().from_crawler(crawler, *args, **kwargs)
        settings = crawler.settings
        # Per-scan limits arrive as spider arguments; settings hold the defaults.
        for argument, setting in (
            ("max_pages", "EMAILSCAN_MAX_PAGES"),
            ("max_depth", "DEPTH_LIMIT"),
            ("max_seconds", "CLOSESPIDER_TIMEOUT"),
        ):
            if kwargs.get(argument):
                settings.set(setting, _positive_int(argument, kwargs[argument]), "spider")
        spider.max_pages = settings.getint("EMAILSCAN_MAX_PAGES")
        spider.max_depth = settings.getint("DEPTH_LIMIT")
        spider.frontier_limit = spider.max_pages * settings.getint("EMAILSCAN_FRONTIER_FACTOR")
        spider.pattern_limit = settings.getint("EMAILSCAN_MAX_URLS_PER_PATTERN")
        spider.new_links = NewLinks()
        return spider

    async def start(self):
        yield self._start_request(0)

    def _start_request(self, attempt: int) -> scrapy.Request:
        url = self.target.start_urls[attempt]
        self.known.add(canonical_url(url))
        meta = {"start_attempt": attempt}
        if attempt + 1 < len(self.target.start_urls):
            # A host without working https (port filtered) would hold up the http attempt for
            # three download timeouts; one tells enough.
            meta["max_retry_times"] = 0
        return scrapy.Request(
            url,
            callback=self.parse_start,
            errback=self.start_failed,
            priority=START_PRIORITY,
            dont_filter=True,
            meta=meta,
        )

    def start_failed(self, failure):
        """https did not answer: fall back to http for a bare host."""
        self._note_failure(failure)
        attempt = failure.request.meta["start_attempt"] + 1
        if attempt < len(self.target.start_urls):
            yield self._start_request(attempt)

    def parse_start(self, response: Response):
        site = "{0.scheme}://{0.netloc}".format(urlsplit(response.url))
        yield self._sitemap_request(f"{site}/robots.txt", self.parse_robots)
        yield self._sitemap_request(f"{site}/sitemap.xml", self.parse_sitemap)
        yield from self.parse_page(response)

    def parse_page(self, response: Response):
        if not _is_readable(response):
            self.crawler.stats.inc_value("emailscan/skipped_unreadable")
            return
        if self.pages_crawled >= self.max_pages:
            return
        self.pages_crawled += 1
        self.crawler.stats.inc_value("emailscan/pages_crawled")
        plain = _is_plain_text(response)
        yield from self._items(response, extract_from_text if plain else extract_emails)
        if plain:
            return
        # Links of a page at the depth limit would be dropped by DepthMiddleware: not even
        # marked as seen, so a shallower page can still lead to them.
        if not self.max_depth or response.meta.get("depth", 0) < self.max_depth:
            yield from self._follow(response)
        if self.pages_crawled >= self.max_pages:
            raise CloseSpider("page_limit")

    def _items(self, response: TextResponse, extract):
        job_id = str(self.job_id) if self.job_id else None
        for candidate in extract(response.text):
            yield EmailItem(
                email=candidate.email,
                source_url=response.url,
                domain=self.target.key,
                job_id=job_id,
            )

    def _follow(self, response: TextResponse):
        base_url = get_base_url(response)
        for url, text in self.new_links(response.selector.root, base_url, response.encoding):
            if self.on_site(url) and (request := self._page_request(url, text)):
                yield request

    def on_site(self, url: str) -> bool:
        """The site's registrable domain and its subdomains, any port.

        (Scrapy's allow_domains compares the netloc, port included.)
        """
        host = urlsplit(url).hostname or ""
        site = self.allowed_domains[0]
        return host == site or host.endswith("." + site)

    def _page_request(self, url: str, text: str = "") -> scrapy.Request | None:
        url = canonical_url(url)
        if url in self.known:
            return None
        priority = link_priority(url, text)
        if len(self.known) >= self.frontier_limit and priority < LOW:
            self.crawler.stats.inc_value("emailscan/frontier_full")
            return None
        pattern = url_pattern(url)
        seen = self.patterns[pattern]
        if seen >= self.pattern_limit:
            self.crawler.stats.inc_value("emailscan/trap_urls_skipped")
            return None
        self.patterns[pattern] = seen + 1
        self.known.add(url)
        # Many URLs of one shape sink in the queue, so calendars can't starve real pages.
        return scrapy.Request(
            url, callback=self.parse_page, errback=self.page_failed, priority=priority - seen
        )

    def page_failed(self, failure) -> None:
        self._note_failure(failure)

    def _note_failure(self, failure) -> None:
        if len(self.errors) < _MAX_ERRORS_KEPT:
            self.errors.append(describe_failure(failure.value, failure.request.url))

    def _sitemap_request(self, url: str, callback, nesting: int = 0) -> scrapy.Request:
        self.known.add(canonical_url(url))
        return scrapy.Request(
            url,
            callback=callback,
            errback=self._sitemap_failed,
            priority=HIGH,
            meta={"sitemap_nesting": nesting},
        )

    def _sitemap_failed(self, failure) -> None:
        self.crawler.stats.inc_value("emailscan/sitemap_failed")

    def parse_robots(self, response: Response):
        for url in _sitemaps_named(first_rules(response.body), response.url):
            if self.on_site(url):
                yield self._sitemap_request(url, self.parse_sitemap)

    def parse_sitemap(self, response: Response):
        body = self._sitemap_body(response)
        if not body:
            return
        sitemap = Sitemap(body)
        nesting = response.meta.get("sitemap_nesting", 0)
        for entry in sitemap:
            url = entry.get("loc", "")
            if not self.on_site(url):
                continue
            if sitemap.type == "sitemapindex":
                if nesting < _MAX_SITEMAP_NESTING:
                    yield self._sitemap_request(url, self.parse_sitemap, nesting + 1)
            elif request := self._page_request(url):
                yield request

    def _sitemap_body(self, response: Response) -> bytes | None:
        body = response.body
        if body[:2] == b"\x1f\x8b":
            try:
                body = gunzip(body, max_size=self.crawler.settings.getint("DOWNLOAD_MAXSIZE"))
            except (OSError, ValueError):
                return None
        head = body[:512].lstrip().lower()
        is_xml = head.startswith(b"<?xml") or b"<urlset" in head or b"<sitemapindex" in head
        return body if is_xml else None


def _sitemaps_named(robots: bytes, base_url: str):
    """The `Sitemap:` URLs in a robots.txt body, read as bytes: its encoding is anyone's guess."""
    for line in robots.splitlines():
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"sitemap" and value.strip():
            yield urljoin(base_url, value.strip().decode("utf-8", "replace"))


def _is_readable(response: Response) -> bool:
    if not isinstance(response, TextResponse):
        return False
    content_type = response.headers.get(b"Content-Type", b"text/html").decode("latin-1").lower()
    return content_type.startswith(_READABLE_TYPES)


def _is_plain_text(response: Response) -> bool:
    return response.headers.get(b"Content-Type", b"").lower().startswith(b"text/plain")


def _positive_int(name: str, value) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = 0
    if number < 1:
        raise ValueError(f"{name} must be a positive whole number, not {value!r}")
    return number
