"""The item pipelines, built the way Scrapy builds them, on items the spider would yield."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from scrapy.exceptions import DropItem
from scrapy.utils.test import get_crawler
from twisted.internet import defer

from emailscan.items import EmailItem
from emailscan.pipelines import (
    DedupePipeline,
    NormalisePipeline,
    StorePipeline,
    ValidatePipeline,
)
from emailscan.spiders.emails import EmailsSpider


@pytest.fixture
def crawler():
    crawler = get_crawler(EmailsSpider, {"EMAILSCAN_JOBS_ENABLED": False})
    crawler.spider = EmailsSpider.from_crawler(crawler, domain="www.acme-widgets.com")
    return crawler


def item(email: str, url: str = "https://acme-widgets.com/") -> EmailItem:
    return EmailItem(email=email, source_url=url, domain="acme-widgets.com")


@pytest.mark.parametrize(
    ("raw", "email", "kind", "on_domain"),
    [
        (" Info@ACME-Widgets.com ", "info@acme-widgets.com", "role", True),
        ("jane.doe@shop.acme-widgets.com", "jane.doe@shop.acme-widgets.com", "personal", True),
        ("sales%40acme-widgets.com", "sales@acme-widgets.com", "role", True),
        ("hello@partner-agency.co.uk", "hello@partner-agency.co.uk", "role", False),
        ("Jürgen@Bücher.de", "jürgen@bücher.de", "personal", False),
    ],
)
def test_normalise(crawler, raw, email, kind, on_domain):
    result = NormalisePipeline.from_crawler(crawler).process_item(item(raw))
    assert (result.email, result.kind, result.on_domain) == (email, kind, on_domain)


def test_normalise_drops_what_is_not_an_address(crawler):
    with pytest.raises(DropItem):
        NormalisePipeline.from_crawler(crawler).process_item(item("not an address"))


@pytest.mark.parametrize(
    "email",
    ["info@acme-widgets.com", "jürgen@bücher.de", "a.b+tag@sub.acme.co.uk"],
)
def test_validate_keeps_valid_addresses(crawler, email):
    pipeline = ValidatePipeline.from_crawler(crawler)
    assert pipeline.process_item(item(email)).email == email


@pytest.mark.parametrize(
    "email",
    ["logo@2x.png", "a@b", "x..y@acme.com", "you@example.com", "info@localhost", "a@b.c"],
)
def test_validate_drops_invalid_and_placeholder_addresses(crawler, email):
    pipeline = ValidatePipeline.from_crawler(crawler)
    with pytest.raises(DropItem):
        pipeline.process_item(item(email))
    assert crawler.stats.get_value("emailscan/dropped/invalid") == 1


class RecordingLifecycle:
    def __init__(self):
        self.sightings = []

    def record(self, sighting):
        self.sightings.append(sighting)


def test_dedupe_passes_each_address_once_and_records_later_sightings(crawler, monkeypatch):
    lifecycle = RecordingLifecycle()
    monkeypatch.setattr(crawler, "get_extension", lambda cls: lifecycle)  # read at build time
    normalise = NormalisePipeline.from_crawler(crawler)
    dedupe = DedupePipeline.from_crawler(crawler)
    store = StorePipeline.from_crawler(crawler)
    passed = []
    for url in ("https://acme-widgets.com/", "https://acme-widgets.com/contact"):
        with contextlib.suppress(DropItem):
            passed.append(
                store.process_item(
                    dedupe.process_item(normalise.process_item(item("info@acme-widgets.com", url)))
                )
            )
    assert [i.source_url for i in passed] == ["https://acme-widgets.com/"]
    assert [s.source_url for s in lifecycle.sightings] == [
        "https://acme-widgets.com/",
        "https://acme-widgets.com/contact",
    ]
    assert {s.kind for s in lifecycle.sightings} == {"role"}


def test_mx_check_runs_off_the_reactor_thread(monkeypatch):
    crawler = get_crawler(
        EmailsSpider, {"EMAILSCAN_JOBS_ENABLED": False, "EMAILSCAN_CHECK_MX": True}
    )
    crawler.spider = EmailsSpider.from_crawler(crawler, domain="acme-widgets.com")
    checked = []
    monkeypatch.setattr(
        "emailscan.pipelines.deferToThread",
        lambda function, *args: defer.succeed(checked.append(args) or None),
    )
    pipeline = ValidatePipeline.from_crawler(crawler)
    result = asyncio.run(pipeline.process_item(item("info@acme-widgets.com")))
    assert result.email == "info@acme-widgets.com"
    assert checked == [("info@acme-widgets.com", True)]
