"""Run `scrapy crawl emails` the way a user does: a real process in the project directory."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Fast and deterministic against a local fixture site: no politeness delays, quick retries.
TEST_SETTINGS = {
    "ALLOW_PRIVATE_NETWORKS": "True",
    "AUTOTHROTTLE_ENABLED": "False",
    "RETRY_BACKOFF_BASE": "0.05",
    "DOWNLOAD_TIMEOUT": "5",
    "EMAILSCAN_PROGRESS_INTERVAL": "0.2",
    "LOG_LEVEL": "INFO",
}


@dataclasses.dataclass
class CrawlResult:
    returncode: int
    items: list[dict]
    log: str

    @property
    def emails(self) -> set[str]:
        return {item["email"] for item in self.items}


def crawl_command(output: Path, arguments, settings: dict | None = None) -> list[str]:
    """The command line of `scrapy crawl emails -O OUTPUT -a ARG... -s NAME=VALUE...`."""
    command = [sys.executable, "-m", "scrapy", "crawl", "emails", "-O", str(output)]
    for argument in arguments:
        command += ["-a", argument]
    for name, value in {**TEST_SETTINGS, **(settings or {})}.items():
        command += ["-s", f"{name}={value}"]
    return command


def crawl_environment(database_url: str) -> dict[str, str]:
    env = {**os.environ, "DATABASE_URL": database_url}
    env.pop("SCRAPY_SETTINGS_MODULE", None)
    return env


def run_crawl(
    tmp_path: Path,
    database_url: str,
    *arguments: str,
    settings: dict | None = None,
    timeout: float = 120,
) -> CrawlResult:
    """`scrapy crawl emails -a ARG... -O items.jsonl`; arguments are `name=value` spider args."""
    output = tmp_path / f"items-{len(list(tmp_path.glob('items-*')))}.jsonl"
    process = subprocess.run(
        crawl_command(output, arguments, settings),
        cwd=ROOT,
        env=crawl_environment(database_url),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    items = []
    if output.exists():
        items = [json.loads(line) for line in output.read_text().splitlines() if line.strip()]
    return CrawlResult(process.returncode, items, process.stderr)
