"""Issue #30's goals, judged from the figures of the last full bench run (``bench/results.json``).

``make bench`` keeps its figures in ``bench/results.json`` and writes the table :func:`table` makes of them
into the README and docs/performance.md, between the ``<!-- bench-goals -->`` markers;
``tests/test_bench_goals.py`` checks the docs hold exactly that table, so no figure in it is typed by hand.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results.json"
DOCS = (HERE.parent / "README.md", HERE.parent / "docs" / "performance.md")
BEGIN, END = "<!-- bench-goals: made by bench/goals.py from bench/results.json -->", "<!-- /bench-goals -->"

# How much slower than the commit before an add may be and still count as "no slower": a choice, about the
# spread of one commit's runs on the bench machine (its 200,000-row adds ran 26.0-29.2 s alternating with
# another commit's, 2026-12-07).
MAKESPAN_NOISE = 0.05

Figures = dict[str, dict[str, Any]]


@dataclass(frozen=True)
class Goal:
    case: str                                # what is measured (a person reads it)
    key: str                                 # its figures in results.json
    target: str                              # the goal, as the issue states it
    met: Callable[[dict[str, Any]], bool]
    said: Callable[[dict[str, Any]], str]    # the figures, as a person reads them


def _validate(f: dict[str, Any]) -> str:
    return (f"{f['ratio']:.2f}× the bare read ({f['seconds']:.2f} s against {f['bare']:.2f} s; fastest runs "
            f"{f['best_ratio']:.2f}×), {f['rss_mb']:.0f} MB, {f['columnwise']:.1%} of rows column-wise")


def _add(f: dict[str, Any]) -> str:
    said = f"{f['rss_mb']:.0f} MB peak, {f['seconds']:.1f} s"
    if f.get("baseline_seconds"):
        said += f" (the commit before, {f['baseline']}, in the same run: {f['baseline_seconds']:.1f} s, " \
                f"{f['baseline_rss_mb']:.0f} MB)"
    return said


def _no_slower(f: dict[str, Any]) -> bool:
    return not f.get("baseline_seconds") or f["seconds"] <= f["baseline_seconds"] * (1 + MAKESPAN_NOISE)


GOALS = (
    Goal("validate the 100,000-row roster, xlsx", "validate 100k-row xlsx", "≤ 1.5× the bare read",
         lambda f: f["ratio"] <= 1.5, _validate),
    Goal("validate the 1,000,000-row roster, csv", "validate 1M-row csv", "≤ 8× the bare read, ≤ 250 MB",
         lambda f: f["ratio"] <= 8 and f["rss_mb"] <= 250, _validate),
    Goal("add 200,000 users of the roster, unthrottled emulator", "add 200k",
         f"≤ 200 MB; no slower than the commit before (within {MAKESPAN_NOISE:.0%})",
         lambda f: f["rss_mb"] <= 200 and _no_slower(f), _add),
    Goal("add 1,000,000 users", "add 1M", "≤ 400 MB", lambda f: f["rss_mb"] <= 400, _add),
    Goal("a first sync of 1,000,000 users into an empty account", "sync 1M", "≤ 500 MB",
         lambda f: f["rss_mb"] <= 500, _add),
)


def load(path: Path = RESULTS) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def table(results: dict[str, Any]) -> list[str]:
    """The goals as measured by the run ``results`` holds: one line each, met or not, with its figures."""
    figures: Figures = results["figures"]
    lines = [f"Measured by `make bench` on {results['date']} ({results['machine']}) at commit {results['commit']}: "
             f"medians of {results['repeat']} runs or more -- validate: of at least 5 runs alternating with the "
             "bare read; the add of 200,000: of as many rounds with each commit going first; the million: one run "
             "each.", "",
             "| case | measured | goal (issue #30) | met |", "|---|---|---|---|"]
    for goal in GOALS:
        f = figures.get(goal.key)
        if f is None:
            lines.append(f"| {goal.case} | not measured | {goal.target} | — |")
        else:
            lines.append(f"| {goal.case} | {goal.said(f)} | {goal.target} | {'**yes**' if goal.met(f) else '**no**'} |")
    return lines


def block(results: dict[str, Any]) -> str:
    return "\n".join([BEGIN, *table(results), END])


def current_block(text: str) -> str | None:
    """The goals block a document holds (None without one)."""
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        return None
    return text[start:end + len(END)]


def update_docs(results: dict[str, Any]) -> None:
    """Write the table into each document, in place of the one it holds."""
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        old = current_block(text)
        if old is None:
            raise SystemExit(f"{path}: no {BEGIN} … {END} block to fill")
        path.write_text(text.replace(old, block(results)), encoding="utf-8")


if __name__ == "__main__":  # the docs' table again from bench/results.json (``make bench`` does it itself)
    update_docs(load())
