"""What-if variants of the emails spider, to size proposed fixes (bench.experiments runs them).

`scrapy runspider bench/variant_spider.py -a domain=... -a variant=NAME[+NAME...]`; the spider
is the project's EmailsSpider (same name, pipelines, job lifecycle) with these changes:

* same: nothing (checks that runspider of a subclass measures like `scrapy crawl emails`)
* no_extract: no extraction and no items: the ceiling of any extraction/items fix
* extract_no_items: extraction runs, nothing is yielded: extraction's own share
* first_only: an item only for an address not yielded before in this crawl: what one item
  per page (or per new address) instead of one per sighting would save
* text_hints: obfuscation hints searched outside <script>/<style>/comments only
  (bench.experiments.scan_obfuscations_text_only)
* no_deep_links: links of pages at DEPTH_LIMIT are not followed (DepthMiddleware drops
  them anyway), so they are never cached as seen or marked known: the depth fix
"""

from __future__ import annotations

from bench.experiments import scan_obfuscations_text_only
from emailscan.extract import _Scan
from emailscan.spiders.emails import EmailsSpider


class VariantSpider(EmailsSpider):
    name = "emails"

    def __init__(self, *args, variant: str = "same", **kwargs):
        super().__init__(*args, **kwargs)
        self.variant = set(variant.split("+"))
        self.yielded: set[str] = set()
        if "text_hints" in self.variant:
            _Scan.scan_obfuscations = scan_obfuscations_text_only

    def _items(self, response, extract):
        if "no_extract" in self.variant:
            return
        if "extract_no_items" in self.variant:
            extract(response.text)
            return
        for item in super()._items(response, extract):
            if "first_only" in self.variant:
                if item.email in self.yielded:
                    continue
                self.yielded.add(item.email)
            yield item

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider.depth_of: dict[str, int] = {}
        if "no_deep_links" in spider.variant:
            limit = crawler.settings.getint("DEPTH_LIMIT")
            spider.new_links = _ShallowLinks(spider.new_links, limit, spider.depth_of)
        return spider

    def parse_page(self, response):
        if "no_deep_links" in self.variant:
            self.depth_of[response.url] = response.meta.get("depth", 0)
        yield from super().parse_page(response)


class _ShallowLinks:
    """No links from pages at the depth limit (DepthMiddleware would drop every one of them),
    so they are neither cached as seen hrefs nor marked known."""

    def __init__(self, inner, limit: int, depth_of: dict[str, int]):
        self.inner = inner
        self.limit = limit
        self.depth_of = depth_of

    def __call__(self, root, base_url: str, encoding: str = "utf-8"):
        if self.limit and self.depth_of.pop(base_url, 0) >= self.limit:
            return iter(())
        return self.inner(root, base_url, encoding)
