"""Item pipelines: normalise -> validate -> dedupe -> store. Each is thin; the work is elsewhere."""

from __future__ import annotations

import functools
import logging

from email_validator import EmailNotValidError, validate_email
from itemadapter import ItemAdapter
from scrapy.exceptions import DropItem
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet.threads import deferToThread

from emailscan.domains import is_same_site
from emailscan.extensions import JobLifecycle
from emailscan.extract import is_plausible_contact, is_role_address, normalise_email
from emailscan.store import Sighting

logger = logging.getLogger(__name__)


class _CrawlerPipeline:
    """A pipeline that needs the crawler (stats, the spider) and the job lifecycle, if on."""

    def __init__(self, crawler):
        self.crawler = crawler
        self.lifecycle = crawler.get_extension(JobLifecycle)

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)


class NormalisePipeline(_CrawlerPipeline):
    """Strip, decode and lowercase the address; classify it as role/personal and on/off site."""

    def process_item(self, item):
        adapter = ItemAdapter(item)
        email = normalise_email(adapter["email"])
        if email is None:
            self.crawler.stats.inc_value("emailscan/dropped/unreadable")
            raise DropItem(f"not an address: {adapter['email']!r}", log_level="DEBUG")
        adapter["email"] = email
        adapter["kind"] = "role" if is_role_address(email) else "personal"
        site_host = self.crawler.spider.target.host
        adapter["on_domain"] = is_same_site(email.rpartition("@")[2], site_host)
        return item


class ValidatePipeline(_CrawlerPipeline):
    """email-validator's syntax check (MX records too when EMAILSCAN_CHECK_MX) plus our filters."""

    @classmethod
    def from_crawler(cls, crawler):
        # The MX check does DNS: only then is the pipeline asynchronous (a coroutine per item
        # costs Scrapy measurably more than a plain call).
        if crawler.settings.getbool("EMAILSCAN_CHECK_MX"):
            return _DeliverabilityPipeline(crawler)
        return cls(crawler)

    def process_item(self, item):
        return self._checked(item, _refusal(ItemAdapter(item)["email"], False))

    def _checked(self, item, reason: str | None):
        if reason:
            self.crawler.stats.inc_value("emailscan/dropped/invalid")
            raise DropItem(f"{ItemAdapter(item)['email']}: {reason}", log_level="DEBUG")
        return item


class _DeliverabilityPipeline(ValidatePipeline):
    async def process_item(self, item):
        # DNS lookups block: keep them off the reactor thread.
        lookup = deferToThread(_refusal, ItemAdapter(item)["email"], True)
        return self._checked(item, await maybe_deferred_to_future(lookup))


@functools.lru_cache(maxsize=4096)
def _refusal(email: str, check_mx: bool) -> str | None:
    if not is_plausible_contact(email):
        return "not a contact address"
    try:
        validate_email(email, check_deliverability=check_mx)
    except EmailNotValidError as exc:
        return str(exc)
    return None


class DedupePipeline(_CrawlerPipeline):
    """One item per address per crawl; later sightings still add their page to the contact."""

    def __init__(self, crawler):
        super().__init__(crawler)
        self.seen: set[str] = set()

    def process_item(self, item):
        adapter = ItemAdapter(item)
        if adapter["email"] not in self.seen:
            self.seen.add(adapter["email"])
            return item
        if self.lifecycle:
            self.lifecycle.record(_sighting(adapter))
        raise DropItem(f"already seen: {adapter['email']}", log_level="DEBUG")


class StorePipeline(_CrawlerPipeline):
    """Hand first sightings to the job lifecycle, which writes them in batches off the reactor."""

    def process_item(self, item):
        if self.lifecycle:
            self.lifecycle.record(_sighting(ItemAdapter(item)))
        return item


def _sighting(adapter: ItemAdapter) -> Sighting:
    return Sighting(
        email=adapter["email"],
        source_url=adapter["source_url"],
        kind=adapter["kind"],
        on_domain=adapter["on_domain"],
    )
