"""The job lifecycle on Scrapy signals: claim the job, report progress, store results, close it."""

from __future__ import annotations

import logging
import time
import uuid

from scrapy import signals
from scrapy.exceptions import CloseSpider, NotConfigured
from scrapy.utils.defer import deferred_from_coro, maybe_deferred_to_future
from twisted.internet import reactor
from twisted.internet.task import LoopingCall
from twisted.internet.threads import deferToThreadPool
from twisted.python.threadpool import ThreadPool

from emailscan import db, jsonlog, store
from emailscan.models import SYSTEM_USER_ID, TaskStatus
from emailscan.store import Sighting

logger = logging.getLogger(__name__)

# Close reasons of a crawl that ran its course (limits included).
_COMPLETE_REASONS = frozenset(
    {
        "finished",
        "page_limit",
        "closespider_timeout",
        "closespider_pagecount",
        "closespider_itemcount",
    }
)
# scrapyd's cancel.json sends SIGTERM: Scrapy shuts down gracefully with reason "shutdown".
_CANCEL_REASONS = frozenset({"shutdown", "cancelled"})
# Close reasons of our own.
DATABASE_UNAVAILABLE = "database_unavailable"  # writes kept failing for EMAILSCAN_DB_RETRY_SECONDS
JOB_CLOSED = "job_closed"  # the job was closed elsewhere: cancelled through the API, or given up


def outcome(reason: str, pages_crawled: int, errors: list[str]) -> tuple[TaskStatus, str | None]:
    """The final status of a claimed job and its error in a user's words."""
    if reason in _CANCEL_REASONS:
        return TaskStatus.CANCELLED, "The scan was cancelled; the addresses found so far are kept."
    if reason == DATABASE_UNAVAILABLE:
        return TaskStatus.FAILED, (
            f"The scan stopped after {pages_crawled} pages because its results could not be "
            "saved (the database was unavailable); the addresses saved so far are kept."
        )
    if pages_crawled == 0:
        detail = errors[0] if errors else "no page of the site could be fetched"
        return TaskStatus.FAILED, f"The site could not be crawled: {detail}."
    if reason in _COMPLETE_REASONS:
        return TaskStatus.COMPLETE, None
    if reason == "memusage_exceeded":
        words = f"the crawl ran out of memory after {pages_crawled} pages"
    else:
        words = f"the crawl stopped unexpectedly ({reason}) after {pages_crawled} pages"
    return (
        TaskStatus.FAILED,
        f"The scan did not finish: {words}; the addresses found so far are kept.",
    )


class JobLifecycle:
    """Owns this crawl's job row: every database write of the crawl goes through here.

    Writes run on one worker thread, in order, never on the reactor thread. A write that fails
    with a transient error is retried with growing waits for EMAILSCAN_DB_RETRY_SECONDS; the
    sightings stay queued meanwhile. When writes keep failing the crawl stops, and its job is
    never closed COMPLETE with addresses missing.
    """

    def __init__(
        self,
        crawler,
        database_url: str | None,
        interval: float,
        pages: int,
        batch: int,
        retry_seconds: float,
    ):
        self.crawler = crawler
        self.database_url = database_url
        self.interval = interval
        self.pages_per_report = pages
        self.batch_size = batch
        self.retry_seconds = retry_seconds
        self.engine = None
        self.job_id: uuid.UUID | None = None
        self.domain_id: uuid.UUID | None = None
        self.claimed = False
        self._pending: list[Sighting] = []
        self._emails: set[str] = set()
        self._reported_pages = 0
        self._writing = None  # the write in flight, if any
        self._closing = False
        self._started = time.monotonic()
        self._pool = ThreadPool(minthreads=1, maxthreads=1, name="emailscan-db")
        self._loop = LoopingCall(self.report)

    @classmethod
    def from_crawler(cls, crawler):
        settings = crawler.settings
        if not settings.getbool("EMAILSCAN_JOBS_ENABLED"):
            raise NotConfigured("EMAILSCAN_JOBS_ENABLED is off")
        extension = cls(
            crawler,
            settings.get("DATABASE_URL") or None,
            settings.getfloat("EMAILSCAN_PROGRESS_INTERVAL"),
            settings.getint("EMAILSCAN_PROGRESS_PAGES"),
            settings.getint("EMAILSCAN_STORE_BATCH"),
            settings.getfloat("EMAILSCAN_DB_RETRY_SECONDS", 60.0),
        )
        crawler.signals.connect(extension.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(extension.spider_closed, signal=signals.spider_closed)
        crawler.signals.connect(extension.response_received, signal=signals.response_received)
        return extension

    async def spider_opened(self, spider) -> None:
        self._pool.start()
        try:
            refusal = await self._in_pool(self._open, spider)
        except db.TRANSIENT_ERRORS as exc:
            logger.error("Not crawling: the database is unavailable: %s", exc)
            raise CloseSpider(DATABASE_UNAVAILABLE) from None
        if refusal:
            logger.warning("Not crawling: %s", refusal)
            raise CloseSpider("job_not_claimed")
        self.claimed = True
        spider.job_id = self.job_id
        if self.crawler.settings.getbool("LOG_JSON"):
            jsonlog.install(job_id=str(self.job_id))
        logger.info("Claimed job %s for %s", self.job_id, spider.target.key)
        self._loop.start(self.interval, now=False)

    def _in_pool(self, call, *args):
        return maybe_deferred_to_future(deferToThreadPool(reactor, self._pool, call, *args))

    def _retrying(self, call, *args):
        return db.retrying(call, *args, budget=self.retry_seconds)

    def _open(self, spider) -> str | None:
        self.engine = db.make_engine(self.database_url)
        self._retrying(db.ensure_schema, self.engine)
        return self._retrying(self._claim, spider)

    def _claim(self, spider) -> str | None:
        if spider.job_id is None:
            domain_id = store.get_or_create_domain(self.engine, spider.target.key)
            job, created = store.start_scan(
                self.engine, domain_id, SYSTEM_USER_ID, spider.max_pages
            )
            if not created:
                return f"{spider.target.key} already has an active job {job.id} ({job.status})"
        else:
            job = store.get_job(self.engine, spider.job_id)
            if job is None:
                return f"job {spider.job_id} does not exist"
        if not store.claim_job(self.engine, job.id):
            return f"job {job.id} was already claimed by another process"
        self.job_id, self.domain_id = job.id, job.domain_id
        return None

    def record(self, sighting: Sighting) -> None:
        """Queue a sighting; it is written with the next batch."""
        if not self.claimed:
            return
        self._pending.append(sighting)
        self._emails.add(sighting.email)
        if len(self._pending) >= self.batch_size:
            self.report()

    def response_received(self, response, request, spider) -> None:
        if spider.pages_crawled - self._reported_pages >= self.pages_per_report:
            self.report()

    def report(self) -> None:
        """Write queued sightings, progress and the heartbeat, unless a write is in flight."""
        if self._writing is not None or not self.claimed:
            return
        batch, self._pending = self._pending, []
        pages = self.crawler.spider.pages_crawled
        self._reported_pages = pages
        progress = self._progress()
        self._writing = deferToThreadPool(
            reactor, self._pool, self._write, batch, progress, pages, len(self._emails)
        )
        self._writing.addCallbacks(self._written, self._write_failed, errbackArgs=(batch,))
        self._writing.addBoth(self._write_done)

    def _write(self, batch, progress, pages, emails) -> bool:
        if batch:
            self._retrying(store.upsert_contacts, self.engine, self.domain_id, self.job_id, batch)
            batch.clear()  # stored: a failure below must not queue it again
        return self._retrying(
            store.record_progress, self.engine, self.job_id, progress, pages, emails
        )

    def _written(self, running: bool) -> None:
        if not running:
            logger.warning("Job %s was closed elsewhere (cancelled?): stopping", self.job_id)
            self._close_spider(JOB_CLOSED)

    def _write_failed(self, failure, batch) -> None:
        # Keep what was not stored for the final write: the database may be back by then.
        self._pending[:0] = batch
        logger.error("Could not write to the database for job %s: %s", self.job_id, failure.value)
        self._close_spider(DATABASE_UNAVAILABLE)

    def _close_spider(self, reason: str) -> None:
        if not self._closing:  # a write that ends while the spider closes changes nothing
            self._closing = True
            deferred_from_coro(self.crawler.engine.close_spider_async(reason=reason))

    def _write_done(self, _result) -> None:
        self._writing = None

    def _progress(self) -> float:
        """Pages done against pages known (capped by the page limit), or time spent, if ahead."""
        spider = self.crawler.spider
        expected = max(1, min(len(spider.known), spider.max_pages))
        progress = spider.pages_crawled / expected
        timeout = self.crawler.settings.getfloat("CLOSESPIDER_TIMEOUT")
        if timeout:
            progress = max(progress, (time.monotonic() - self._started) / timeout)
        return progress

    async def spider_closed(self, spider, reason: str) -> None:
        self._closing = True
        if self._loop.running:
            self._loop.stop()
        try:
            if self.claimed:
                await self._close_job(spider, reason)
        finally:
            self._pool.stop()
            if self.engine is not None:
                self.engine.dispose()

    async def _close_job(self, spider, reason: str) -> None:
        while self._writing is not None:
            await maybe_deferred_to_future(self._writing)
        status, error = outcome(reason, spider.pages_crawled, spider.errors)
        stats = {
            "pages_crawled": spider.pages_crawled,
            "emails_found": len(self._emails),
            "close_reason": reason,
            "errors": spider.errors,
            "seconds": round(time.monotonic() - self._started, 1),
        }
        batch, self._pending = self._pending, []
        try:
            await self._in_pool(self._finish, batch, status, error, stats)
        except db.TRANSIENT_ERRORS as exc:
            # The job stays RUNNING without a heartbeat: the API closes it FAILED as lost.
            logger.error("Could not record the end of job %s: %s", self.job_id, exc)
            return
        logger.info("Job %s finished %s: %s", self.job_id, status, error or reason)

    def _finish(self, batch, status, error, stats) -> None:
        self._retrying(store.upsert_contacts, self.engine, self.domain_id, self.job_id, batch)
        pages = stats["pages_crawled"]
        if not self._retrying(
            store.finish_job, self.engine, self.job_id, status, error, pages, stats
        ):
            # Closed elsewhere first (cancelled through the API): its outcome stands, and its
            # results get what this crawl stored until it stopped.
            self._retrying(store.refresh_results, self.engine, self.job_id, pages, stats)
