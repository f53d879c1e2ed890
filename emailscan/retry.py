"""Retries of transient failures (timeouts, 5xx, 429) with exponential backoff and Retry-After."""

from __future__ import annotations

from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet import reactor
from twisted.internet.task import deferLater


class BackoffRetryMiddleware(RetryMiddleware):
    """Scrapy's RetryMiddleware retries at once; an overloaded site needs a pause first."""

    def __init__(self, settings):
        super().__init__(settings)
        self.backoff_base = settings.getfloat("RETRY_BACKOFF_BASE")
        self.backoff_max = settings.getfloat("RETRY_BACKOFF_MAX")

    async def process_response(self, request, response):
        retried = super().process_response(request, response)
        if retried is not response:
            await self._pause(request, response.headers.get(b"Retry-After"))
        return retried

    async def process_exception(self, request, exception):
        retried = super().process_exception(request, exception)
        if retried is not None:
            await self._pause(request, None)
        return retried

    async def _pause(self, request, retry_after: bytes | None) -> None:
        delay = self.backoff_base * 2 ** request.meta.get("retry_times", 0)
        if retry_after and retry_after.strip().isdigit():
            delay = float(retry_after)
        delay = min(delay, self.backoff_max)
        if delay > 0:
            await maybe_deferred_to_future(deferLater(reactor, delay, lambda: None))
