"""A Scrapy extension both benchmark crawls load: when the crawl really ran, pages, stats.

Timing runs from the first request that reaches the downloader to `engine_stopped` (after
every spider_closed handler, so the emails crawl's final database write is inside), which
leaves out interpreter start-up and imports; `bench.crawl` reports the process wall time too.
"""

from __future__ import annotations

import json
import time
import tracemalloc
from pathlib import Path

from scrapy import signals
from scrapy.exceptions import NotConfigured


class Probe:
    def __init__(self, crawler, output: str):
        self.crawler = crawler
        self.output = output
        self.first_request: float | None = None
        self.last_response = 0.0
        self.html_pages = 0
        self.reason = ""
        self.rss_opened = self.rss_closing = float("nan")
        # BENCH_TRACEMALLOC=N1,N2: where Python memory is held after N1, N2 pages (slow).
        self.snapshot_at = {int(n) for n in crawler.settings.getlist("BENCH_TRACEMALLOC")}
        self.snapshots: dict[int, list[str]] = {}
        if self.snapshot_at:
            tracemalloc.start(4)

    @classmethod
    def from_crawler(cls, crawler):
        output = crawler.settings.get("BENCH_PROBE_OUTPUT")
        if not output:
            raise NotConfigured("BENCH_PROBE_OUTPUT is not set")
        probe = cls(crawler, output)
        crawler.signals.connect(probe.request_reached, signal=signals.request_reached_downloader)
        crawler.signals.connect(probe.response_received, signal=signals.response_received)
        crawler.signals.connect(probe.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(probe.spider_closed, signal=signals.spider_closed)
        crawler.signals.connect(probe.engine_stopped, signal=signals.engine_stopped)
        return probe

    def request_reached(self, request, spider) -> None:
        if self.first_request is None:
            self.first_request = time.perf_counter()

    def response_received(self, response, request, spider) -> None:
        self.last_response = time.perf_counter()
        content_type = response.headers.get(b"Content-Type", b"")
        if response.status == 200 and content_type.startswith(b"text/html"):
            self.html_pages += 1
            if self.html_pages in self.snapshot_at:
                self.snapshots[self.html_pages] = _top_allocations()

    def spider_opened(self, spider) -> None:
        self.rss_opened = _status_mb("VmRSS")  # imports, settings, components: before any page

    def spider_closed(self, spider, reason: str) -> None:
        self.reason = reason
        self.rss_closing = _status_mb("VmRSS")

    def engine_stopped(self) -> None:
        stopped = time.perf_counter()
        stats = self.crawler.stats.get_stats()
        report = {
            "seconds": stopped - (self.first_request or stopped),
            "seconds_to_last_response": self.last_response - (self.first_request or stopped),
            "html_pages": self.html_pages,
            "reason": self.reason,
            "vmhwm_mb": _status_mb("VmHWM"),
            "rss_opened_mb": self.rss_opened,
            "rss_closing_mb": self.rss_closing,
            "stats": {key: value for key, value in stats.items() if isinstance(value, int | float)},
            "tracemalloc": self.snapshots,
        }
        with open(self.output, "w") as file:
            json.dump(report, file)


def _status_mb(field: str) -> float:
    """VmRSS, or VmHWM: this process image's peak RSS. Not ru_maxrss, which Linux carries over
    exec() from the parent that spawned us (a big benchmark parent would inflate it)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _top_allocations(top: int = 25) -> list[str]:
    snapshot = tracemalloc.take_snapshot().filter_traces(
        [tracemalloc.Filter(False, tracemalloc.__file__)]
    )
    total = sum(stat.size for stat in snapshot.statistics("filename"))
    lines = [f"traced total {total / 1e6:.1f} MB"]
    for stat in snapshot.statistics("traceback")[:top]:
        frames = " <- ".join(
            f"{f.filename.split('site-packages/')[-1]}:{f.lineno}" for f in reversed(stat.traceback)
        )
        lines.append(f"{stat.size / 1e6:6.2f} MB {stat.count:7d}  {frames}")
    return lines
