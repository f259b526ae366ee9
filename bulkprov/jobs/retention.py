"""Retention (``bulkprov prune --older-than DAYS``): old personal data goes, nothing else does.

In a state directory: the page's uploads and result files older than the cut, and the ledger's runs that
ended before it — their rows (emails, outcomes, the updates sent, the users as they were) and the result,
failures and undo files they wrote, wherever those are, when bulkprov wrote them (a file of anyone else's
with that name is left alone).  A run still going or interrupted is kept (``--resume`` needs it).  The
roster sync last applied stays: the next sync needs it.  The audit trail is pruned by its own class
(:meth:`bulkprov.approvals.audit.AuditTrail.prune`), keeping its chain verifiable.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from pathlib import Path

from bulkprov.errors import N_
from bulkprov.state.ledger import LEDGER_NAME, Ledger

UPLOADS, RESULTS, RUNS = N_("uploads"), N_("result files"), N_("ledger runs")


def _old(path: Path, before: dt.datetime) -> bool:
    try:
        return path.stat().st_mtime < before.timestamp()
    except OSError:
        return False


def _ended_before(finished: str | None, before: dt.datetime) -> bool:
    try:
        return bool(finished) and dt.datetime.fromisoformat(str(finished)) < before
    except ValueError:
        return False


def _run_files(results_path: str | None) -> list[Path]:
    """The files a run wrote: its results, failures and undo files, when bulkprov wrote them."""
    from bulkprov.outputs.results import failures_path, is_result_file
    from bulkprov.outputs.undo import undo_path

    if not results_path:
        return []
    results = Path(results_path)
    if not results.is_file() or not is_result_file(results):
        return []
    return [p for p in (results, failures_path(results), undo_path(results)) if p.is_file()]


def prune_state(state_dir: Path, before: dt.datetime, *, dry_run: bool = False) -> dict[str, int]:
    """Remove what is older than ``before`` in ``state_dir``; how many of each kind (or would, on a dry run)."""
    done = {UPLOADS: 0, RESULTS: 0, RUNS: 0}
    for kind, folder in ((UPLOADS, state_dir / "uploads"), (RESULTS, state_dir / "results")):
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            if path.is_file() and _old(path, before):
                done[kind] += path.suffix != ".json"  # an upload's metadata goes with it, uncounted
                if not dry_run:
                    path.unlink(missing_ok=True)
    if not (state_dir / LEDGER_NAME).is_file():
        return done
    with contextlib.closing(Ledger(state_dir)) as ledger:
        old = [r for r in ledger.runs() if r.state == "finished" and _ended_before(r.finished, before)]
        for run in old:
            for path in _run_files(run.results_path):
                done[RESULTS] += 1
                if not dry_run:
                    path.unlink(missing_ok=True)
        done[RUNS] = len(old)
        if old and not dry_run:
            ledger.forget_runs([r.id for r in old])
    return done
