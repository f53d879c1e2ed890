"""End to end: the status API schedules scans on a real scrapyd, which runs real crawls.

scrapyd as etc/scrapyd.conf sets it up (max_proc 2, poll_interval 0.5) in a temp dir. First
single scans of a 200-page site, POST -> RUNNING timed by polling status every 50 ms; then 10
scans of 10 distinct sites (one port each: the domain key includes the port) posted at once.
"""

from __future__ import annotations

import contextlib
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench import procs
from bench.api import api_server
from bench.report import Figure, target
from emailscan import db

CONFIG = """\
[scrapyd]
bind_address = 127.0.0.1
http_port = {port}
max_proc = 2
poll_interval = 0.5
eggs_dir = {home}/eggs
logs_dir = {home}/logs
items_dir =
dbs_dir = {home}/dbs
jobs_to_keep = 20
finished_to_keep = 200

[settings]
emailscan = emailscan.settings
"""
FINISHED = ("COMPLETE", "FAILED", "CANCELLED")


@contextlib.contextmanager
def scrapyd(home: Path, env: dict[str, str]) -> Iterator[tuple[subprocess.Popen, str]]:
    port = procs.free_port()
    config = CONFIG.format(port=port, home=home)
    (home / "scrapyd.conf").write_text(config)
    (home / "scrapy.cfg").write_text(config)  # `scrapy list` reads [settings] from scrapy.cfg
    with open(home / "scrapyd.out", "wb") as output:
        process = subprocess.Popen(
            [str(Path(procs.PYTHON).with_name("scrapyd")), "--pidfile="],
            cwd=home,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        procs.wait_http(f"{url}/daemonstatus.json", process)
        yield process, url
    finally:
        procs.stop(process)


class MemoryWatch:
    """Peak resident memory of scrapyd plus its crawl processes, sampled every 0.2 s."""

    def __init__(self, root: int):
        self.root = root
        self.peak_total = 0.0
        self.peak_process = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> MemoryWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            total, tree = procs.tree_rss_mb(self.root)
            self.peak_total = max(self.peak_total, total)
            crawls = [mb for pid, mb in tree.items() if pid != self.root]
            self.peak_process = max([self.peak_process, *crawls])


def post_scan(api: str, site_port: int) -> str:
    status, body = procs.http_json(
        f"{api}/api/v3/scan/website", {"domain": f"http://127.0.0.1:{site_port}"}
    )
    if status != 202:
        raise RuntimeError(f"POST /scan/website answered {status}: {body}")
    return body["job_id"]


def status_of(api: str, job_id: str) -> str:
    return procs.http_json(f"{api}/api/v3/scan/status/{job_id}")[1].get("status", "?")


def single_scan(api: str, site_port: int, timeout: float = 60) -> tuple[float, float, str]:
    """(POST -> RUNNING seconds, POST -> finished seconds, final status)."""
    started = time.perf_counter()
    job_id = post_scan(api, site_port)
    running = None
    status = "PENDING"
    while time.perf_counter() - started < timeout:
        status = status_of(api, job_id)
        if running is None and status != "PENDING":
            running = time.perf_counter() - started
        if status in FINISHED:
            break
        time.sleep(0.05)
    return running or float("nan"), time.perf_counter() - started, status


def burst(api: str, ports: list[int], timeout: float) -> tuple[int, float, dict[str, str]]:
    """Post one scan per site at once; (COMPLETE count, seconds until all finished, statuses)."""
    started = time.perf_counter()
    with ThreadPoolExecutor(len(ports)) as pool:
        job_ids = list(pool.map(lambda port: post_scan(api, port), ports))
    statuses = dict.fromkeys(job_ids, "PENDING")
    while time.perf_counter() - started < timeout:
        for job_id, status in statuses.items():
            if status not in FINISHED:
                statuses[job_id] = status_of(api, job_id)
        if all(status in FINISHED for status in statuses.values()):
            break
        time.sleep(0.25)
    complete = sum(status == "COMPLETE" for status in statuses.values())
    return complete, time.perf_counter() - started, statuses


@contextlib.contextmanager
def services(home: Path, pages: int, sites: int) -> Iterator[tuple[str, int, list[int]]]:
    """Sites, scrapyd and the API on one migrated SQLite file: (API URL, scrapyd pid, ports)."""
    database = f"sqlite:///{home / 'emailscan.db'}"
    engine = db.make_engine(database)
    db.upgrade(engine)  # as `make run` does before it starts the services
    engine.dispose()
    env = procs.base_env(DATABASE_URL=database, ALLOW_PRIVATE_NETWORKS="1")
    with contextlib.ExitStack() as stack:
        _, ports = stack.enter_context(procs.site_server(pages, sites=sites, seed=100))
        daemon, scrapyd_url = stack.enter_context(scrapyd(home, env))
        api = stack.enter_context(api_server(database, scrapyd_url, ALLOW_PRIVATE_NETWORKS="1"))
        yield f"http://127.0.0.1:{api[1]}", daemon.pid, ports


def run(
    pages: int = 200, sites: int = 10, singles: int = 3, timeout: float = 240
) -> tuple[list[Figure], dict]:
    with contextlib.ExitStack() as stack:
        home = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-e2e-")))
        api, scrapyd_pid, ports = stack.enter_context(services(home, pages, sites))
        scans = [single_scan(api, ports[i % sites]) for i in range(singles)]
        for running, finished, status in scans:
            print(f"  e2e scan: RUNNING after {running:.2f} s, {status} after {finished:.1f} s")
        with MemoryWatch(scrapyd_pid) as memory:
            complete, seconds, statuses = burst(api, ports, timeout)
    print(f"  e2e burst: {complete}/{sites} COMPLETE in {seconds:.1f} s", flush=True)
    figures = [
        Figure("post_to_running_s", statistics.median(s[0] for s in scans), "s", target("<", 2)),
        Figure("single_scan_s", statistics.median(s[1] for s in scans), "s"),
        Figure("burst_complete", complete, f"of {sites}", target("==", sites)),
        Figure("burst_seconds", seconds, "s"),
        Figure("burst_peak_rss_mb", memory.peak_total, "MB"),
        Figure("burst_peak_crawl_rss_mb", memory.peak_process, "MB", target("<=", 150)),
    ]
    details = {"singles": scans, "burst_statuses": list(statuses.values()), "pages": pages}
    return figures, details
