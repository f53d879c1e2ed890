"""The baseline: follow every on-site link, nothing else (no extraction, items or storage).

`scrapy runspider bench/bare_spider.py -a start_url=http://127.0.0.1:PORT/` from the project
directory, so the project's settings and middlewares apply; bench.crawl switches off the item
pipelines and the JobLifecycle extension for it.

Links come from Scrapy's LinkExtractor, or with `-a links=new` from the emails spider's own
emailscan.links.NewLinks: the same link following as ours, so that comparison isolates what
extraction, items and storage cost.

Like the emails spider it drops links it has already requested before yielding them: yielding
~80 known links per page into Scrapy's dupefilter costs more than the emails spider's own
set lookup, and makes the baseline slower than the spider it is measured against (`-a naive=1`
does that). A link is remembered only when it is followed: DepthMiddleware drops links found
on pages at DEPTH_LIMIT, and the dupefilter never sees those either.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import scrapy
from scrapy.linkextractors import LinkExtractor
from scrapy.utils.response import get_base_url


class BareSpider(scrapy.Spider):
    name = "bare"

    def __init__(self, start_url: str = "", naive: str = "", links: str = "", **kwargs):
        super().__init__(**kwargs)
        self.start_urls = [start_url]
        self.allowed_domains = [urlsplit(start_url).hostname]
        self.link_extractor = LinkExtractor(unique=True)
        self.seen: set[str] = {start_url}
        self.naive = bool(naive)  # -a naive=1: yield every link, let the dupefilter drop them
        self.new_links = None
        if links == "new":
            from emailscan.links import NewLinks

            self.new_links = NewLinks()

    def parse(self, response):
        too_deep = response.meta.get("depth", 0) >= self.settings.getint("DEPTH_LIMIT")
        if self.new_links is not None:
            yield from () if too_deep else self._follow_new_links(response)
            return
        for link in self.link_extractor.extract_links(response):
            if self.naive or (link.url not in self.seen and not too_deep):
                self.seen.add(link.url)
                yield scrapy.Request(link.url, callback=self.parse)

    def _follow_new_links(self, response):
        base_url = get_base_url(response)
        for url, _ in self.new_links(response.selector.root, base_url, response.encoding):
            if url not in self.seen:
                self.seen.add(url)
                yield scrapy.Request(url, callback=self.parse)
