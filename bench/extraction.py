"""Extraction speed: `extract_emails` against one plain regex pass over the same pages."""

from __future__ import annotations

import re
import statistics
import time

from bench.report import Figure, target
from bench.sitegen import build_site
from emailscan.extract import extract_emails

PLAIN = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")


def corpus(pages: int, seed: int = 7) -> list[str]:
    """Pages of a generated site (20-60 KB each), decoded as the spider sees response.text."""
    return [body.decode() for body in build_site(pages, seed).values()]


def _seconds(function, texts: list[str]) -> float:
    started = time.perf_counter()
    for text in texts:
        function(text)
    return time.perf_counter() - started


def run(pages: int = 300, repeats: int = 5) -> tuple[list[Figure], dict]:
    texts = corpus(pages)
    megabytes = sum(len(text.encode()) for text in texts) / 1e6
    extract_emails(texts[0])  # warm the caches (validators, compiled patterns)
    timings: dict[str, list[float]] = {"extract": [], "regex": []}
    for _ in range(repeats):  # alternating, so drift on a noisy machine hits both
        timings["extract"].append(_seconds(extract_emails, texts))
        timings["regex"].append(_seconds(PLAIN.findall, texts))
    extract = megabytes / statistics.median(timings["extract"])
    regex = megabytes / statistics.median(timings["regex"])
    found = sum(len(extract_emails(text)) for text in texts)
    print(
        f"  extraction: {megabytes:.1f} MB, {found} addresses; extract {extract:.1f} MB/s, "
        f"regex {regex:.1f} MB/s",
        flush=True,
    )
    figures = [
        Figure("extract_mb_per_s", extract, "MB/s"),
        Figure("regex_mb_per_s", regex, "MB/s"),
        Figure("extract_cost_vs_regex", regex / extract, "x", target("<=", 3)),
        Figure(
            "extract_ms_per_page", 1000 * statistics.median(timings["extract"]) / len(texts), "ms"
        ),
    ]
    return figures, {
        "megabytes": megabytes,
        "pages": len(texts),
        "addresses": found,
        "timings": timings,
    }
