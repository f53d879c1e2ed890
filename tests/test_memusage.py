"""The memory limit measures the crawl process, not the process that started it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.crawl import ROOT, crawl_command, crawl_environment
from tests.fixture_site import FixtureSite

# Starts its command from a parent holding 300 MB, as a busy scrapyd or test runner might.
LARGE_PARENT = """
import subprocess, sys
ballast = bytearray(300 * 1024 * 1024)
ballast[::4096] = b"x" * len(ballast[::4096])
sys.exit(subprocess.call(sys.argv[1:]))
"""


def crawl_from_a_large_parent(tmp_path, site, limit_mb: int) -> str:
    command = crawl_command(
        tmp_path / "items.jsonl",
        [f"domain={site.url}", "max_pages=3"],
        {"MEMUSAGE_LIMIT_MB": str(limit_mb), "EMAILSCAN_JOBS_ENABLED": "False"},
    )
    process = subprocess.run(
        [sys.executable, "-c", LARGE_PARENT, *command],
        cwd=ROOT,
        env=crawl_environment(f"sqlite:///{tmp_path / 'unused.db'}"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert process.returncode == 0, process.stderr
    return process.stderr


@pytest.mark.parametrize(("limit_mb", "exceeded"), [(200, False), (40, True)])
def test_memory_limit_counts_the_crawl_alone(tmp_path, limit_mb, exceeded):
    with FixtureSite() as site:
        log = crawl_from_a_large_parent(tmp_path, site, limit_mb)

    assert ("Spider closed (memusage_exceeded)" in log) is exceeded, log[-3000:]
    if not exceeded:
        assert "Spider closed (page_limit)" in log or "Spider closed (finished)" in log
