"""`python -m bench [--quick] [--only SECTION,...]`: run the benchmarks, print a table, write JSON.

Sections, in order: server (the site server alone), extract, crawl (emails vs bare at 500,
2,000 and 8,000 pages, 3 alternating runs each), api (status polls, SQLite and PostgreSQL),
e2e (scrapyd). Results: var/bench/latest.json and a dated copy (latest-partial.json for
--quick or a subset of sections). The full run takes about 9 minutes on 2 cores. Every
server listens on 127.0.0.1 only; every run is bounded in time and in pages.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time

from bench import api, crawl, extraction, procs, report, scrapyd_e2e
from bench.report import Figure, target

SECTIONS = ("server", "extract", "crawl", "api", "e2e")


@dataclasses.dataclass(frozen=True)
class Plan:
    sizes: tuple[int, ...] = crawl.SIZES
    runs: int = 3
    server_seconds: float = 3.0
    extract_pages: int = 300
    extract_repeats: int = 5
    api_seconds: float = 8.0
    e2e_pages: int = 200
    e2e_sites: int = 10
    e2e_singles: int = 3


QUICK = Plan(
    sizes=(500,),
    runs=1,
    server_seconds=1.0,
    extract_pages=60,
    extract_repeats=2,
    api_seconds=2.0,
    e2e_pages=100,
    e2e_sites=3,
    e2e_singles=1,
)


def run_section(name: str, plan: Plan) -> tuple[list[Figure], dict]:
    if name == "server":
        return crawl.server_figures(seconds=plan.server_seconds), {}
    if name == "extract":
        return extraction.run(plan.extract_pages, plan.extract_repeats)
    if name == "crawl":
        return crawl.run(plan.sizes, plan.runs)
    if name == "api":
        return api.run(plan.api_seconds)
    return scrapyd_e2e.run(plan.e2e_pages, plan.e2e_sites, plan.e2e_singles)


def _server_target(figures: list[Figure]) -> None:
    """The site server must be several (>= 5) times faster than the fastest crawl measured."""
    prefixes = ("bare_pages_per_s_", "crawl_pages_per_s_", "bare_same_links_pages_per_s_")
    crawls = [f.value for f in figures if f.name.startswith(prefixes)]
    for figure in figures:
        if figure.name == "server_pages_per_s" and crawls:
            figure.target = target(">=", round(5 * max(crawls)))


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run of about a minute")
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated: {SECTIONS}")
    parser.add_argument("--sizes", help="crawl sizes, e.g. 500,2000")
    parser.add_argument("--runs", type=int, help="crawl runs per spider and size (default 3)")
    args = parser.parse_args(argv)
    args.sections = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = set(args.sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}; choose from {SECTIONS}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    plan = QUICK if args.quick else Plan()
    if args.sizes:
        plan = dataclasses.replace(plan, sizes=tuple(int(n) for n in args.sizes.split(",")))
    if args.runs:
        plan = dataclasses.replace(plan, runs=args.runs)
    started = time.monotonic()
    machine = procs.machine()
    figures: list[Figure] = []
    details: dict = {
        "code": procs.code_version(),
        "plan": dataclasses.asdict(plan),
        "crawl_settings": crawl.COMMON,
    }
    for name in [name for name in SECTIONS if name in args.sections]:
        print(f"[{time.monotonic() - started:5.0f} s] {name}", flush=True)
        section_figures, details[name] = run_section(name, plan)
        figures += section_figures
    _server_target(figures)
    details["seconds"] = round(time.monotonic() - started, 1)
    complete = plan == Plan() and args.sections == list(SECTIONS)
    path = report.write(figures, machine, details, complete)
    print(f"\n{report.table(figures)}\n")
    missed = [figure.name for figure in figures if figure.met() is False]
    print(f"missed: {', '.join(missed) or 'none'}")
    print(f"written: {path} ({details['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
