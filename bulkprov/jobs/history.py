"""Past runs from the ledger: the list, and a run's result workbook written again (``runs show ID``)."""

from __future__ import annotations

import contextlib
from pathlib import Path

from bulkprov.errors import OUTCOME_CODES, RunNotFound
from bulkprov.i18n import gettext as _
from bulkprov.io.shared.guard import file_sha256
from bulkprov.io.writers.xlsx import check_new
from bulkprov.jobs.frame import failure_cells, load, missing_cells, write_results
from bulkprov.jobs.runs import in_flight_result
from bulkprov.jobs.settings import JobSettings, now_text
from bulkprov.model import NOT_ATTEMPTED_CODE
from bulkprov.outputs.results import RunSummary, results_path
from bulkprov.state.ledger import Ledger, RunInfo, has_ledger, state_dir_access


def list_runs(state_dir: Path) -> list[RunInfo]:
    """Every run of the ledger, as it stands now: a ``running`` run whose process is gone (kill -9, a
    power cut) is reported ``interrupted`` -- the state-directory lock and the run's pid tell."""
    from bulkprov.state.lock import holder, is_alive

    state_dir = Path(state_dir)
    if not has_ledger(state_dir):
        raise RunNotFound("no-ledger", state_dir=str(state_dir))
    with contextlib.closing(Ledger(state_dir)) as ledger:
        runs = ledger.runs()
    with state_dir_access(state_dir):
        live = holder(state_dir)
    for run in runs:
        if run.state == "running" and not (live.get("pid") == run.pid and live.get("host") == run.machine
                                           and is_alive(live)):
            run.state = "interrupted"
    return runs


def rewrite_results(state_dir: Path, run_id: str, output: Path | None = None, fmt: str = "xlsx", *,
                    replace: bool = True) -> Path:
    """The result workbook of a run, from the ledger.

    The Failures sheet carries the input's own cells when the input file is still there unchanged;
    otherwise it carries the keys the ledger has.
    """
    list_runs(state_dir)  # the same clear error when there is no ledger
    if output is not None:
        check_new(results_path(output, fmt), replace=replace)
    with contextlib.closing(Ledger(state_dir)) as ledger:
        info = ledger.run(run_id)
        records = ledger.rows(run_id)
    results = {r.row: r.result() for r in records}
    for r in records:
        if r.state == "in_flight":
            results[r.row] = in_flight_result(r)
        elif r.state == "pending":
            results[r.row].reason = OUTCOME_CODES[NOT_ATTEMPTED_CODE].render("pending")
    settings = JobSettings(command=info.command, output=output, results_format=fmt, use_ledger=False)
    input_path = Path(info.input_path)
    headers, cells = ["emailId", "orgUserId"], {r.row: [r.email, r.org_user_id] for r in records}
    if input_path.is_file() and file_sha256(input_path) == info.input_sha256:
        table = load(input_path, settings)
        headers = table.headers
        cells = failure_cells(input_path, settings, table, missing_cells(results, {}), {},
                              info.input_sha256)
    summary = RunSummary(command=info.command, input_path=info.input_path, input_sha256=info.input_sha256,
                         started=info.started, settings={"host": info.host, "state": info.state,
                                                         _("rewritten from the ledger"): now_text()},
                         run_id=info.id)
    summary.aborted = "" if info.state == "finished" else _("the run is {state}").format(state=info.state)
    out = results_path(output or Path(state_dir) / f"run-{info.id}.{fmt}", fmt)
    return write_results(settings, headers, results, cells, summary, out)


def rewrite_undo(state_dir: Path, run_id: str, output: Path | None = None, *, replace: bool = True) -> Path | None:
    """The undo file of a run, from the ledger: every change of the run, across crashes and resumptions."""
    from bulkprov.jobs.runs import write_ledger_undo

    list_runs(state_dir)
    if output is not None:
        check_new(output, replace=replace)
    with contextlib.closing(Ledger(state_dir)) as ledger:
        ledger.run(run_id)  # a clear error for an unknown id
        return write_ledger_undo(ledger, run_id, output or Path(state_dir) / f"run-{run_id}.undo.xlsx")[0]
