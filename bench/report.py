"""Figures, their targets, the printed table and var/bench/*.json."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import operator
from pathlib import Path

from bench.procs import ROOT

OUTPUT_DIR = ROOT / "var" / "bench"
_OPERATORS = {
    "<=": operator.le,
    ">=": operator.ge,
    "<": operator.lt,
    ">": operator.gt,
    "==": operator.eq,
}


@dataclasses.dataclass
class Figure:
    name: str
    value: float | int | None
    unit: str
    target: str | None = None  # "<op> <number>", e.g. ">= 0.9"; None: informational

    def met(self) -> bool | None:
        if self.target is None:
            return None
        if self.value is None or (isinstance(self.value, float) and math.isnan(self.value)):
            return False
        op, number = self.target.split()
        return _OPERATORS[op](self.value, float(number))


def target(op: str, number: float) -> str:
    return f"{op} {number:g}"


def table(figures: list[Figure]) -> str:
    rows = [("figure", "value", "unit", "target", "")]
    for figure in figures:
        verdict = {True: "ok", False: "MISSED", None: ""}[figure.met()]
        rows.append((figure.name, _format(figure.value), figure.unit, figure.target or "", verdict))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = []
    for index, row in enumerate(rows):
        cells = [row[0].ljust(widths[0]), row[1].rjust(widths[1])]
        cells += [row[i].ljust(widths[i]) for i in (2, 3, 4)]
        lines.append("  ".join(cells).rstrip())
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(lines)


def _format(value) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "nan"
    return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"


def write(figures: list[Figure], machine: dict, details: dict, complete: bool) -> Path:
    """latest.json (latest-partial.json for --quick or single sections) plus a dated copy."""
    now = dt.datetime.now(dt.UTC)
    document = {
        "date": now.isoformat(timespec="seconds"),
        "machine": machine,
        "figures": [
            {"name": f.name, "value": f.value, "unit": f.unit, "target": f.target} for f in figures
        ],
        "missed": [f.name for f in figures if f.met() is False],
        "complete_run": complete,
        "details": details,
    }
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    stamp = now.strftime("%Y-%m-%dT%H-%M-%SZ")
    suffix = "" if complete else "-partial"
    text = json.dumps(document, indent=2, default=str)
    (OUTPUT_DIR / f"{stamp}{suffix}.json").write_text(text)
    latest = OUTPUT_DIR / f"latest{suffix}.json"
    latest.write_text(text)
    return latest
