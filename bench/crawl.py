"""Crawl throughput and memory: the `emails` spider against a bare link-following spider.

Both run as `scrapy` processes from the project directory with the project's settings, the
same overrides (AutoThrottle off, private networks allowed; CONCURRENT_REQUESTS and
ROBOTSTXT_OBEY as the project sets them) against the same generated site, alternating, and
differ only in the spider, the item pipelines and the JobLifecycle extension. The emails
crawl writes to a fresh, already migrated SQLite file, as a production crawl does.
"""

from __future__ import annotations

import json
import statistics
import tempfile
from pathlib import Path

from bench import procs
from bench.loadclient import run_load
from bench.report import Figure, target
from bench.sitegen import build_site
from emailscan import db

SIZES = (500, 2000, 8000)
# Where the bare spider also runs with the emails spider's own link following (NewLinks):
# crawl vs that isolates what extraction, items and storage cost.
SAME_LINKS_SIZES = (2000,)
COMMON = {
    "ALLOW_PRIVATE_NETWORKS": "True",
    "AUTOTHROTTLE_ENABLED": "False",
    "LOG_LEVEL": "INFO",
}
EXTENSIONS = {
    "emails": {"emailscan.extensions.JobLifecycle": 100, "bench.probe.Probe": 900},
    "bare": {"emailscan.extensions.JobLifecycle": None, "bench.probe.Probe": 900},
}
EXTENSIONS["bare_same_links"] = EXTENSIONS["bare"]
TIMEOUT = 300  # seconds per crawl process


def command(kind: str, port: int, pages: int, probe: Path) -> list[str]:
    url = f"http://127.0.0.1:{port}"
    if kind == "emails":
        spider = ["crawl", "emails", "-a", f"domain={url}", "-a", f"max_pages={pages}"]
    else:
        spider = ["runspider", "bench/bare_spider.py", "-a", f"start_url={url}/"]
        spider += ["-s", "ITEM_PIPELINES={}"]
        if kind == "bare_same_links":
            spider += ["-a", "links=new"]
    extensions = {"scrapy.extensions.telnet.TelnetConsole": None, **EXTENSIONS[kind]}
    settings = {**COMMON, "EXTENSIONS": json.dumps(extensions), "BENCH_PROBE_OUTPUT": str(probe)}
    arguments = [item for name, value in settings.items() for item in ("-s", f"{name}={value}")]
    return [procs.PYTHON, "-m", "scrapy", *spider, *arguments]


def prepare_database(path: Path) -> str:
    """A migrated SQLite file, as production crawls find it (the crawl does not migrate)."""
    url = f"sqlite:///{path}"
    engine = db.make_engine(url)
    db.upgrade(engine)
    engine.dispose()
    return url


def environment(database_url: str) -> dict[str, str]:
    return procs.base_env(DATABASE_URL=database_url, SCRAPY_SETTINGS_MODULE="emailscan.settings")


def run_one(kind: str, port: int, pages: int, workdir: Path, server_pid: int, build=None) -> dict:
    """One crawl process: the probe's report plus wall time, peak RSS and the server's CPU."""
    run = len(list(workdir.glob("*.log")))
    probe = workdir / f"{run:02d}-{kind}.probe.json"
    env = environment(prepare_database(workdir / f"{run:02d}.db"))
    server_cpu = procs.cpu_seconds(server_pid)
    code, wall, maxrss, cpu = procs.run_measured(
        (build or command)(kind, port, pages, probe),
        env,
        workdir / f"{run:02d}-{kind}.log",
        TIMEOUT,
    )
    result = json.loads(probe.read_text()) if probe.exists() else {"seconds": float("nan")}
    result.update(kind=kind, code=code, wall=wall, cpu_share=cpu / wall, ru_maxrss_mb=maxrss)
    result["rss_mb"] = result.get("vmhwm_mb", float("nan"))
    result["server_cpu_share"] = (procs.cpu_seconds(server_pid) - server_cpu) / wall
    result["pages_per_s"] = result.get("html_pages", 0) / result["seconds"]
    if kind != "emails":
        result.pop("stats", None)
    return result


def bench_size(pages: int, runs: int, workdir: Path) -> dict:
    """Alternate emails and bare crawls `runs` times each against one server."""
    kinds = ["emails", "bare"] + (["bare_same_links"] if pages in SAME_LINKS_SIZES else [])
    results: dict[str, list[dict]] = {kind: [] for kind in kinds}
    with procs.site_server(pages) as (server, ports):
        for index in range(runs):
            for kind in kinds if index % 2 == 0 else kinds[::-1]:
                results[kind].append(run_one(kind, ports[0], pages, workdir, server.pid))
                _log(pages, results[kind][-1])
    return results


def _log(pages: int, result: dict) -> None:
    print(
        f"  crawl {pages:>5} {result['kind']:<15} {result.get('html_pages', '?'):>5} pages "
        f"{result['seconds']:6.1f} s  {result['pages_per_s']:6.1f} pages/s  "
        f"rss {result['rss_mb']:5.0f} MB  cpu {result['cpu_share']:.0%}  "
        f"server cpu {result['server_cpu_share']:.0%}  "
        f"exit {result['code']} {result.get('reason', '')}",
        flush=True,
    )


def figures_for(pages: int, results: dict) -> list[Figure]:
    emails = statistics.median(r["pages_per_s"] for r in results["emails"])
    bare = statistics.median(r["pages_per_s"] for r in results["bare"])
    emails_s = statistics.median(r["seconds"] for r in results["emails"])
    bare_s = statistics.median(r["seconds"] for r in results["bare"])
    crawled = min(r.get("html_pages", 0) for kind in results.values() for r in kind)
    return [
        Figure(f"crawl_pages_per_s_{pages}", emails, "pages/s"),
        Figure(f"bare_pages_per_s_{pages}", bare, "pages/s"),
        Figure(f"crawl_ratio_{pages}", emails / bare, "ratio", target(">=", 0.90)),
        Figure(
            f"rss_mb_{pages}", max(r["rss_mb"] for r in results["emails"]), "MB", target("<=", 150)
        ),
        Figure(f"bare_rss_mb_{pages}", max(r["rss_mb"] for r in results["bare"]), "MB"),
        Figure(
            f"rss_at_start_mb_{pages}",
            max(r.get("rss_opened_mb", float("nan")) for r in results["emails"]),
            "MB",
        ),
        Figure(f"crawl_s_per_1000_{pages}", 1000 * emails_s / pages, "s"),
        Figure(f"bare_s_per_1000_{pages}", 1000 * bare_s / pages, "s"),
        Figure(
            f"crawl_wall_s_{pages}", statistics.median(r["wall"] for r in results["emails"]), "s"
        ),
        Figure(
            f"server_cpu_share_{pages}",
            max(r["server_cpu_share"] for kind in results.values() for r in kind),
            "share",
            target("<=", 0.5),
        ),
        Figure(f"pages_crawled_min_{pages}", crawled, "pages", target(">=", pages)),
        *_same_links_figures(pages, results, emails),
    ]


def _same_links_figures(pages: int, results: dict, emails: float) -> list[Figure]:
    if not results.get("bare_same_links"):
        return []
    same = statistics.median(r["pages_per_s"] for r in results["bare_same_links"])
    return [
        Figure(f"bare_same_links_pages_per_s_{pages}", same, "pages/s"),
        Figure(f"crawl_ratio_same_links_{pages}", emails / same, "ratio"),
    ]


def growth_figures(found: dict[str, Figure]) -> list[Figure]:
    """Linearity (s per 1000 pages, largest vs smallest size) and memory growth 2000 -> 8000."""
    figures = []
    sizes = sorted(
        int(name.rsplit("_", 1)[1]) for name in found if name.startswith("crawl_s_per_1000_")
    )
    if len(sizes) >= 2:
        small, large = sizes[0], sizes[-1]
        for kind in ("crawl", "bare"):
            ratio = (
                found[f"{kind}_s_per_1000_{large}"].value
                / found[f"{kind}_s_per_1000_{small}"].value
            )
            figures.append(
                Figure(
                    f"{kind}_time_linearity_{large}_vs_{small}", ratio, "ratio", target("<=", 1.2)
                )
            )
    if "rss_mb_2000" in found and "rss_mb_8000" in found:
        growth = found["rss_mb_8000"].value / found["rss_mb_2000"].value
        figures.append(Figure("rss_growth_2000_to_8000", growth, "ratio", target("<=", 1.2)))
    return figures


def server_figures(pages: int = 2000, seconds: float = 3.0) -> list[Figure]:
    """The site server alone under the load client: it must be far faster than any crawl.

    The client (one Python process) saturates before the server does, so the server's own CPU
    share during the run is reported too: pages/s divided by it estimates the server's limit.
    """
    with procs.site_server(pages) as (server, ports):
        paths = list(build_site(pages))  # the served site: same size, same seed
        cpu = procs.cpu_seconds(server.pid)
        result = run_load("127.0.0.1", ports[0], paths, connections=16, duration=seconds)
        share = (procs.cpu_seconds(server.pid) - cpu) / result.seconds
    print(
        f"  site server: {result.rps:.0f} pages/s, server cpu {share:.0%}, errors {result.errors}"
    )
    return [
        Figure("server_pages_per_s", result.rps, "pages/s"),
        Figure("server_cpu_share_under_load", share, "share"),
        Figure("server_errors", result.errors, "errors", target("==", 0)),
    ]


def run(sizes=SIZES, runs: int = 3) -> tuple[list[Figure], dict]:
    figures: list[Figure] = []
    details = {}
    with tempfile.TemporaryDirectory(prefix="bench-crawl-") as directory:
        for pages in sizes:
            workdir = Path(directory) / str(pages)
            workdir.mkdir()
            results = bench_size(pages, runs, workdir)
            figures += figures_for(pages, results)
            details[str(pages)] = results
    figures += growth_figures({figure.name: figure for figure in figures})
    return figures, details
