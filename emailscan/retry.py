"""Retries of transient failures (timeouts, 5xx, 429) with exponential backoff and Retry-After."""

from __future__ import annotations

import logging
import math
import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from scrapy import signals
from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet import reactor
from twisted.internet.task import deferLater

logger = logging.getLogger(__name__)

_STEP = 0.25  # seconds: how soon a pause notices that the crawl is shutting down


class BackoffRetryMiddleware(RetryMiddleware):
    """Scrapy's RetryMiddleware retries at once; an overloaded site needs a pause first.

    Pauses last at most RETRY_BACKOFF_MAX and never past the crawl's CLOSESPIDER_TIMEOUT: a
    paused retry counts as a request in progress, and Scrapy waits for those before it closes.
    A Retry-After longer than RETRY_BACKOFF_MAX is a "not now": the response is kept, unretried.
    """

    def __init__(self, settings):
        super().__init__(settings)
        self.backoff_base = settings.getfloat("RETRY_BACKOFF_BASE")
        self.backoff_max = settings.getfloat("RETRY_BACKOFF_MAX")
        self.wall_time = settings.getfloat("CLOSESPIDER_TIMEOUT")
        self.deadline = math.inf

    @classmethod
    def from_crawler(cls, crawler):
        middleware = super().from_crawler(crawler)
        crawler.signals.connect(middleware.spider_opened, signal=signals.spider_opened)
        return middleware

    def spider_opened(self) -> None:
        if self.wall_time > 0:
            self.deadline = time.monotonic() + self.wall_time

    async def process_response(self, request, response):
        retry_after = retry_after_seconds(response.headers.get(b"Retry-After"))
        if (
            retry_after is not None
            and retry_after > self.backoff_max
            and response.status in self.retry_http_codes
        ):
            self.crawler.stats.inc_value("retry/retry_after_too_long")
            logger.info("Not retrying %s: Retry-After is %.0f s", request, retry_after)
            return response
        retried = super().process_response(request, response)
        if retried is not response:
            await self._pause(request, retry_after)
        return retried

    async def process_exception(self, request, exception):
        if _is_robots_txt(request):
            # Unreachable robots.txt means "no rules" to Scrapy, and the page that asked for it
            # waits meanwhile: on a host whose https hangs, retries only delay the http try.
            return None
        retried = super().process_exception(request, exception)
        if retried is not None:
            await self._pause(request, None)
        return retried

    async def _pause(self, request, retry_after: float | None) -> None:
        delay = self.backoff_base * 2 ** request.meta.get("retry_times", 0)
        if retry_after is not None:
            delay = retry_after
        end = time.monotonic() + min(delay, self.backoff_max)
        end = min(end, self.deadline)
        # In steps, so a shutdown (scrapyd's cancel) is not held up by a sleeping retry.
        while self.crawler.crawling and (left := end - time.monotonic()) > 0:
            await maybe_deferred_to_future(deferLater(reactor, min(left, _STEP), lambda: None))


def _is_robots_txt(request) -> bool:
    """The robots.txt request Scrapy's RobotsTxtMiddleware sends before a host's first page."""
    return request.meta.get("dont_obey_robotstxt") and request.url.endswith("/robots.txt")


def retry_after_seconds(value: bytes | None) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date; None when invalid.

    https://www.rfc-editor.org/rfc/rfc9110#field.retry-after
    """
    text = (value or b"").decode("latin-1").strip()
    if text.isascii() and text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
