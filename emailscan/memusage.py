"""Scrapy's memory limit, measured on this crawl process alone."""

from __future__ import annotations

from scrapy.extensions.memusage import MemoryUsage

_PEAK = "VmHWM:"  # this process's peak resident set since exec, in kB


class ProcessMemoryUsage(MemoryUsage):
    """Scrapy's MEMUSAGE_LIMIT_MB check, reading the peak from /proc/self/status.

    Scrapy reads ru_maxrss, which on Linux a child inherits from its parent at fork and keeps
    through exec: a crawl started by a large process (scrapyd under load, a test runner) was
    stopped as "memusage_exceeded" before fetching a page.
    """

    def get_virtual_size(self) -> int:
        try:
            with open("/proc/self/status", "rb") as status:
                for line in status:
                    if line.startswith(_PEAK.encode()):
                        return int(line.split()[1]) * 1024
        except OSError:
            pass
        return super().get_virtual_size()  # no /proc (macOS): ru_maxrss
