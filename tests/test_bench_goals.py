"""The Performance goals table in the README and docs/performance.md is the last full bench run's, made by
bench/goals.py from bench/results.json -- no figure in it is typed by hand -- and it says "no" where a goal
is missed."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _goals():
    spec = importlib.util.spec_from_file_location("bench_goals", ROOT / "bench" / "goals.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_goals"] = module  # (a dataclass looks its module up)
    spec.loader.exec_module(module)
    return module


def test_the_docs_hold_the_table_the_last_full_bench_run_makes() -> None:
    goals = _goals()
    results = goals.load()
    for path in goals.DOCS:
        assert goals.current_block(path.read_text(encoding="utf-8")) == goals.block(results), \
            f"{path}: run `python bench/goals.py` (or `make bench`)"


def test_the_figures_are_those_of_the_run_bench_results_md_holds() -> None:
    """bench/results.md and bench/results.json come from one run: the same date, and the validate figures of
    its load table."""
    goals = _goals()
    results = goals.load()
    report = (ROOT / "bench" / "results.md").read_text(encoding="utf-8")
    assert f"- date: {results['date']}" in report
    xlsx = results["figures"]["validate 100k-row xlsx"]
    line = next(line for line in report.splitlines() if line.startswith("| 100k-row xlsx |"))
    assert re.split(r"\s*\|\s*", line)[2] == f"{xlsx['seconds']:.2f}"
    assert set(results["figures"]) >= {g.key for g in goals.GOALS}, "every goal measured by the full run"


def test_a_missed_goal_says_no() -> None:
    goals = _goals()
    fast = {"seconds": 1.0, "bare": 1.0, "ratio": 1.4, "best_ratio": 1.3, "rss_mb": 100.0, "columnwise": 0.98}
    slow = {**fast, "ratio": 1.6}
    small = {"seconds": 30.0, "rss_mb": 150.0, "baseline": "HEAD~1 (abc)", "baseline_seconds": 30.0,
             "baseline_rss_mb": 900.0}
    for figures, expected in (({"validate 100k-row xlsx": fast, "add 200k": small}, "**yes**"),
                              ({"validate 100k-row xlsx": slow, "add 200k": {**small, "seconds": 33.0}}, "**no**")):
        lines = goals.table({"date": "d", "machine": "m", "repeat": 3, "commit": "c", "figures": figures})
        judged = [line for line in lines if line.startswith(("| validate the 100,000", "| add 200,000"))]
        assert len(judged) == 2 and all(line.endswith(f"| {expected} |") for line in judged), judged
    assert "not measured" in "\n".join(goals.table({"date": "d", "machine": "m", "repeat": 3, "commit": "c", "figures": {}}))
