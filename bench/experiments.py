"""Size proposed fixes before anyone makes them: `python -m bench.experiments [--pages N] ...`.

Runs the bare spider, `scrapy crawl emails` and variants of it (bench/variant_spider.py, or
settings such as a synchronous ValidatePipeline) round-robin against one generated site, and
prints median pages/s and the ratio to bare for each. Not part of `python -m bench`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

from scrapy.exceptions import DropItem

from bench import crawl, procs
from emailscan import extract
from emailscan.pipelines import ValidatePipeline, _refusal

PIPELINES = {
    "emailscan.pipelines.NormalisePipeline": 100,
    "emailscan.pipelines.ValidatePipeline": 200,
    "emailscan.pipelines.DedupePipeline": 300,
    "emailscan.pipelines.StorePipeline": 400,
}
SYNC_PIPELINES = {
    **PIPELINES,
    "emailscan.pipelines.ValidatePipeline": None,
    "bench.experiments.SyncValidatePipeline": 200,
}


class SyncValidatePipeline(ValidatePipeline):
    """ValidatePipeline without the coroutine when no DNS check runs (EMAILSCAN_CHECK_MX off)."""

    def process_item(self, item):
        reason = _refusal(item["email"], False)
        if reason:
            self.crawler.stats.inc_value("emailscan/dropped/invalid")
            raise DropItem(f"{item['email']}: {reason}", log_level="DEBUG")
        return item


def scan_obfuscations_text_only(self) -> None:
    """_Scan.scan_obfuscations, searching hints only between scripts, styles and comments.

    Hints inside those are thrown away by the context check anyway; CSS and JS are full of
    "{" and "(" where _BRACKET_HINT starts a match attempt.
    """
    doc = self.doc
    spaced = any(word in doc for word in extract._SPACED_HINT_WORDS)
    hints = []
    for start, end in _text_spans(self.blocks if self.markup else [], len(doc)):
        hints += [hint.start() for hint in extract._BRACKET_HINT.finditer(doc, start, end)]
        if spaced:
            hints += [hint.start() for hint in extract._SPACED_HINT.finditer(doc, start, end)]
    for pos in sorted(hints)[: extract._MAX_HINTS]:
        if self.context(pos)[0] == "text" and (address := self.deobfuscate(pos)):
            self.found.append((pos, address, "obfuscated"))


def _text_spans(blocks: list[tuple[int, int, str]], length: int) -> list[tuple[int, int]]:
    spans, pos = [], 0
    for start, end, _ in blocks:
        spans.append((pos, start))
        pos = end
    spans.append((pos, length))
    return spans


def command(variant: str, port: int, pages: int, probe: Path) -> list[str]:
    """bare, bare_naive, emails, or emails variants joined by "+" (see variant_spider);
    `set:NAME=VALUE` overrides a setting of the emails crawl."""
    if variant in crawl.EXTENSIONS:  # emails, bare, bare_same_links
        return crawl.command(variant, port, pages, probe)
    if variant == "bare_naive":
        return [*crawl.command("bare", port, pages, probe), "-a", "naive=1"]
    flags = set(variant.split("+"))
    base = crawl.command("emails", port, pages, probe)
    for flag in [flag for flag in flags if flag.startswith("set:")]:  # set:NAME=VALUE
        base += ["-s", flag.removeprefix("set:")]
        flags.discard(flag)
    if "sync_validate" in flags:
        base += ["-s", f"ITEM_PIPELINES={json.dumps(SYNC_PIPELINES)}"]
        flags.discard("sync_validate")
    if not flags:
        return base
    spider = ["runspider", "bench/variant_spider.py", "-a", f"variant={'+'.join(sorted(flags))}"]
    return [*base[:3], *spider, *base[5:]]  # base: python -m scrapy crawl emails -a ... -s ...


def run(variants: list[str], pages: int, runs: int) -> dict[str, list[dict]]:
    results: dict[str, list[dict]] = {variant: [] for variant in variants}
    with tempfile.TemporaryDirectory() as directory, procs.site_server(pages) as (server, ports):
        workdir = Path(directory)
        for index in range(runs):
            order = variants if index % 2 == 0 else variants[::-1]
            for variant in order:
                result = crawl.run_one(variant, ports[0], pages, workdir, server.pid, command)
                results[variant].append(result)
                print(
                    f"  {variant:<18} {result['html_pages']:>5} pages "
                    f"{result['pages_per_s']:6.1f} pages/s rss {result['rss_mb']:4.0f} MB",
                    flush=True,
                )
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variants", nargs="*", default=["bare", "emails", "same", "no_extract"])
    parser.add_argument("--pages", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args(argv)
    results = run(args.variants, args.pages, args.runs)
    bare = (
        statistics.median(r["pages_per_s"] for r in results.get("bare", []))
        if "bare" in results
        else None
    )
    print(f"\n{'variant':<18} {'pages/s':>8} {'vs bare':>8} {'ms/page':>8} {'rss MB':>7}")
    for variant, runs in results.items():
        rate = statistics.median(r["pages_per_s"] for r in runs)
        ratio = f"{rate / bare:8.3f}" if bare else "       -"
        rss = max(r["rss_mb"] for r in runs)
        print(f"{variant:<18} {rate:8.1f} {ratio} {1000 / rate:8.2f} {rss:7.0f}")


if __name__ == "__main__":
    main()
