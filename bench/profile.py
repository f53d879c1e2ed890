"""Profiles behind the figures: `python -m bench.profile crawl|api [...]`.

Samples a crawl (or the API under load) with py-spy when it is installed (`pip install py-spy`),
and prints the functions that take the time, by their own time and including callees.
Writes var/bench/profiles/<name>.txt (summary) and <name>.collapsed (flame graph input).
"""

from __future__ import annotations

import argparse
import contextlib
import re
import shutil
import subprocess
import tempfile
from collections import Counter
from pathlib import Path

from bench import crawl, procs
from bench.report import OUTPUT_DIR

PROFILES = OUTPUT_DIR / "profiles"
RATE = 100  # samples per second of the thread holding the GIL: CPU time of the crawl
_FRAME = re.compile(r"^(.*) \((.*?)(?::\d+)?\)$")


def py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(procs.PYTHON).with_name("py-spy"))
    if not Path(found).exists():
        raise SystemExit("py-spy is not installed: pip install py-spy")
    return found


def _counts(collapsed: Path) -> tuple[Counter[str], Counter[str], int]:
    """Samples per function: own, including callees, and the total."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        samples = int(count)
        frames = [_short(frame) for frame in stack.split(";")]
        total += samples
        own[frames[-1]] += samples
        for frame in set(frames):
            inclusive[frame] += samples
    return own, inclusive, total


def summarise(collapsed: Path, top: int = 60) -> str:
    """Own time and inclusive time per function (file and name, lines merged), in %."""
    own, inclusive, total = _counts(collapsed)
    lines = [f"{total} samples"]
    for title, counter in (("own time", own), ("including callees", inclusive)):
        lines.append(f"\n-- {title} --")
        for frame, samples in counter.most_common(top):
            lines.append(f"{100 * samples / max(total, 1):6.1f}%  {frame}")
    return "\n".join(lines)


def _short(frame: str) -> str:
    match = _FRAME.match(frame)
    if not match:
        return frame
    name, path = match.groups()
    for marker in ("site-packages/", "/lib/python3", "/work/main/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{name} ({path})"


def profile_crawl(kind: str, pages: int, name: str) -> Path:
    """One crawl of a generated site under py-spy (100 samples/s, low overhead).

    `kind`: emails, bare or a bench.experiments variant (no_extract, first_only, ...).
    """
    from bench import experiments

    PROFILES.mkdir(parents=True, exist_ok=True)
    collapsed = PROFILES / f"{name}.collapsed"
    with tempfile.TemporaryDirectory() as directory, procs.site_server(pages) as (server, ports):
        workdir = Path(directory)
        database = crawl.prepare_database(workdir / "profile.db")
        command = experiments.command(kind, ports[0], pages, workdir / "probe.json")
        spy = [py_spy(), "record", "-r", str(RATE), "--gil", "-f", "raw", "-o", str(collapsed)]
        env = crawl.environment(database)
        subprocess.run(
            [*spy, "--", *command], cwd=procs.ROOT, env=env, check=True, capture_output=True
        )
    return _write(name, collapsed)


# Where a sample's CPU time goes: the innermost frame that matches a marker decides.
CATEGORIES = (
    ("extract_emails", ("emailscan/extract.py",)),
    ("spider link checks", ("emailscan/links.py", "_page_request", "EmailsSpider.on_site")),
    ("HTML parse (parsel/lxml)", ("parsel/", "lxml/", "http/response/text.py")),
    ("LinkExtractor", ("linkextractors/",)),
    (
        "item pipelines",
        ("emailscan/pipelines.py", "itemadapter/", "email_validator/", "pipelines/"),
    ),
    ("storage", ("emailscan/extensions.py", "emailscan/store.py", "sqlalchemy/", "sqlite")),
    ("items in Scrapy", ("start_itemproc", "item_scraped", "item_dropped", "logformatter")),
    ("spider middlewares", ("spidermiddlewares/",)),
    ("scheduler, dupefilter", ("dupefilters", "scheduler", "pqueues", "queuelib", "request.py")),
    ("downloader middlewares", ("downloadermiddlewares/", "emailscan/middlewares", "retry.py")),
    ("HTTP download", ("core/downloader/", "twisted/web/", "twisted/internet/tcp")),
    ("signals, stats, logging", ("pydispatch", "utils/signal.py", "statscollectors", "logging/")),
)


def breakdown(collapsed: Path) -> tuple[Counter[str], int]:
    """Samples per category (CATEGORIES, else "engine, asyncio, other")."""
    result: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        total += int(count)
        result[_category(stack.split(";"))] += int(count)
    return result, total


def _category(frames: list[str]) -> str:
    for frame in reversed(frames):
        for name, markers in CATEGORIES:
            if any(marker in frame for marker in markers):
                return name
    return "engine, asyncio, other"


def compare(
    emails: Path, bare: Path, pages: int, rate: float, a: str = "emails", b: str = "bare"
) -> str:
    """CPU milliseconds per page by category, `a` vs `b`, largest gap first."""
    scale = 1000 / rate / pages
    mine, total_mine = breakdown(emails)
    base, total_base = breakdown(bare)
    lines = [
        f"CPU ms per page (py-spy --gil, {rate:g}/s, start-up included): "
        f"{a} {total_mine * scale:.2f}, {b} {total_base * scale:.2f}",
        f"{a[:8]:>8} {b[:8]:>8} {'extra':>8}  where",
    ]
    for name in sorted(set(mine) | set(base), key=lambda n: base[n] - mine[n]):
        a, b = mine[name] * scale, base[name] * scale
        lines.append(f"{a:8.2f} {b:8.2f} {a - b:+8.2f}  {name}")
    return "\n".join(lines)


def profile_api(database: str, seconds: int = 6) -> Path:
    """The status API under closed-loop load, py-spy attached (GIL holder: CPU time)."""
    from bench import api

    name = f"api-{database}"
    collapsed = PROFILES / f"{name}.collapsed"
    PROFILES.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        if database == "postgres":
            url = stack.enter_context(api.postgres_schema())
        else:
            url = f"sqlite:///{stack.enter_context(tempfile.TemporaryDirectory())}/api.db"
        running, complete = api.seed(url)
        paths = [f"/api/v3/scan/status/{running}", f"/api/v3/scan/status/{complete}"]
        nowhere = f"http://127.0.0.1:{procs.free_port()}"
        server, port = stack.enter_context(api.api_server(url, nowhere))
        spy = [py_spy(), "record", "-r", str(RATE * 2), "--gil", "-f", "raw", "-o", str(collapsed)]
        spy += ["-d", str(seconds), "-p", str(server.pid)]
        sampler = subprocess.Popen(spy, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        result = api.run_load("127.0.0.1", port, paths, api.CONNECTIONS, seconds + 1)
        sampler.wait(timeout=60)
    print(f"{result.rps:.0f} req/s under the profiler")
    return _write(name, collapsed)


def _write(name: str, collapsed: Path) -> Path:
    summary = PROFILES / f"{name}.txt"
    summary.write_text(summarise(collapsed) + "\n")
    return summary


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Profile a benchmark crawl with py-spy")
    parser.add_argument("what", choices=("crawl", "api"))
    parser.add_argument("--pages", type=int, default=2000)
    parser.add_argument("--kinds", default="emails,bare", help="two crawls to compare")
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    args = parser.parse_args(argv)
    if args.what == "api":
        summary = profile_api(args.database)
        print(f"{summary.read_text()}\nwritten: {summary}")
        return
    kinds = args.kinds.split(",")
    names = {kind: f"crawl-{kind}-{args.pages}" for kind in kinds}
    for kind, name in names.items():
        print(f"== {kind} ==\n{profile_crawl(kind, args.pages, name).read_text()}")
    collapsed = [PROFILES / f"{name}.collapsed" for name in names.values()]
    comparison = compare(collapsed[0], collapsed[-1], args.pages, RATE, kinds[0], kinds[-1])
    path = PROFILES / f"crawl-compare-{kinds[0]}-{kinds[-1]}-{args.pages}.txt"
    path.write_text(comparison + "\n")
    print(f"== {kinds[0]} vs {kinds[-1]} ==\n{comparison}\nwritten: {path}")


if __name__ == "__main__":
    main()
