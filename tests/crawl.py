"""Run `scrapy crawl emails` the way a user does: a real process in the project directory."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
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
    peak_rss_mb: float = 0.0  # the crawl process's high-water mark (VmHWM), last reading
    seconds: float = 0.0  # wall time of the process

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
    """`scrapy crawl emails -a ARG... -O items.jsonl`; arguments are `name=value` spider args.

    Raises subprocess.TimeoutExpired (after killing the crawl) when it runs past `timeout`.
    """
    number = len(list(tmp_path.glob("items-*")))
    output, log = tmp_path / f"items-{number}.jsonl", tmp_path / f"crawl-{number}.log"
    started = time.monotonic()
    with open(log, "wb") as stderr:
        process = subprocess.Popen(
            crawl_command(output, arguments, settings),
            cwd=ROOT,
            env=crawl_environment(database_url),
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        peak_kb = _watch_memory(process, timeout)
    seconds = time.monotonic() - started
    items = []
    if output.exists():
        items = [json.loads(line) for line in output.read_text().splitlines() if line.strip()]
    text = log.read_text(errors="replace")
    return CrawlResult(process.returncode, items, text, peak_kb / 1024, seconds)


def _watch_memory(process: subprocess.Popen, timeout: float) -> int:
    """Poll the process's peak RSS (VmHWM) until it exits; the last reading, in kB.

    Not ru_maxrss: on Linux a child's figure can be its parent's (pytest's) from before exec.
    """
    peak, deadline = 0, time.monotonic() + timeout
    status = Path(f"/proc/{process.pid}/status")
    while process.poll() is None:
        if time.monotonic() > deadline:
            process.kill()
            process.wait()
            raise subprocess.TimeoutExpired(process.args, timeout)
        peak = max(peak, _vm_hwm(status))
        time.sleep(0.02)
    return peak


def _vm_hwm(status: Path) -> int:
    try:
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass  # exited between poll() and the read: keep the last reading
    return 0
