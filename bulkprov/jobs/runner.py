"""The one runner every command goes through: begin → a strategy per command → end.

*begin* loads and validates the file and fails early on an unwritable result path; the *strategy*
decides what happens to the valid rows (``validate`` and ``--dry-run`` check only; add, update,
remove, lookup and apply send through the ledgered dispatcher; plan and sync diff against the
account, see :mod:`bulkprov.sync.run`); *end* writes the undo file, the result workbook, the
ledger's bookkeeping and the webhook -- the same for every command.  This is the library API the
CLI and the page are thin layers over::

    from bulkprov.jobs import JobSettings, run_job
    outcome = run_job("users.xlsx", JobSettings(command="validate"))
    print(outcome.exit_code, outcome.results_path)

``validate`` and ``--dry-run`` stream (:func:`_check_only`): each chunk of rows is read, checked
(column-wise where that is equivalent, see :mod:`bulkprov.columnwise`) and written to the result
workbook at once, Failures included; nothing per row is kept but the duplicate bookkeeping.  The
sending commands keep every row's check in memory (batches, ledger, undo): there the Failures sheet
takes the cells of invalid rows from the first pass (up to a bound) and reads the file again only
for the rest.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bulkprov import schema
from bulkprov.errors import BadConfig, FileChanged, InputError, MissingColumn, RunStopped
from bulkprov.io import Table, open_table, read_lookups
from bulkprov.jobs.settings import (
    COMMANDS,
    EXIT_ABORTED,
    EXIT_OK,
    EXIT_ROWS_FAILED,
    ROSTER_COMMANDS,
    ConfirmFn,
    JobOutcome,
    JobSettings,
    ProgressFn,
    default_output,
    file_sha256,
    key_column_requirement,
)
from bulkprov.model import FAILED_STATUSES, CheckedRow, RowResult
from bulkprov.outputs.results import ResultWriter, RunSummary, check_writable, results_path
from bulkprov.validation import Validator

log = logging.getLogger("bulkprov")

# Input cells of invalid rows kept from the first pass for the Failures sheet; beyond this many the
# rest are read again in a second pass, so memory stays bounded for a file where every row is bad.
KEEP_CELLS_LIMIT = 20_000


def load(path: Path, settings: JobSettings) -> Table:
    if settings.command not in COMMANDS:
        raise BadConfig("unknown-command", command=settings.command)
    return open_table(path, sheet=settings.sheet, limits=settings.limits,
                      required_any=key_column_requirement(settings.command))


@dataclass
class Checked:
    rows: list[CheckedRow]
    cells: dict[int, list[str]]  # input cells of (some) invalid rows, for the Failures sheet

    @property
    def valid(self) -> list[CheckedRow]:
        return [r for r in self.rows if r.valid]

    @property
    def invalid(self) -> list[CheckedRow]:
        return [r for r in self.rows if not r.valid]


def make_validator(table: Table, settings: JobSettings) -> Validator:
    extra = read_lookups(settings.lookups_file) if settings.lookups_file else None
    command = "add" if settings.command in ROSTER_COMMANDS else settings.command
    validator = Validator(table, command, lookups=extra, builder_default=settings.builder_default)
    if settings.command == "apply" and "action" not in validator.index:
        raise MissingColumn("action", path=table.path)
    return validator


def check_rows(table: Table, settings: JobSettings) -> Checked:
    """Validate every row; payloads are kept only when they will be sent."""
    validator = make_validator(table, settings)
    keep = settings.command in ROSTER_COMMANDS or (settings.command != "validate" and not settings.dry_run)
    checked = Checked([], {})
    for raw in table.rows:
        row = validator.check(raw)
        if not keep:
            row.user = {}
        if row.errors and len(checked.cells) < KEEP_CELLS_LIMIT:
            checked.cells[raw.row] = raw.cells
        checked.rows.append(row)
    return checked


def failure_cells(path: Path, settings: JobSettings, table: Table, results: dict[int, RowResult],
                  known: dict[int, list[str]], sha256: str) -> dict[int, list[str]]:
    """Input cells of every row bound for the Failures sheet; re-reads the file only if some are missing.

    The run has happened by now, so nothing here may cost the user their results: when the input
    changed or vanished meanwhile, the Failures sheet goes without those cells (Results is complete).
    """
    missing = {row for row, r in results.items() if r.status in FAILED_STATUSES and row not in known}
    if not missing:
        return known
    cells = dict(known)
    try:
        if file_sha256(path) != sha256:
            raise FileChanged(path=path)
        again = open_table(path, sheet=table.sheet, limits=settings.limits,
                           required_any=key_column_requirement(settings.command))
        for raw in again.rows:
            if raw.row in missing:
                cells[raw.row] = raw.cells
    except (InputError, OSError) as exc:
        log.warning("Failures sheet without the input's cells for %d rows: %s", len(missing), exc)
    return cells


def write_results(settings: JobSettings, input_headers: list[str], results: dict[int, RowResult],
                  cells: dict[int, list[str]], summary: RunSummary, out_path: Path,
                  users: dict[int, dict] | None = None) -> Path:
    """Every row once, in input order; failed and invalid rows also with their own cells."""
    users_headers = list(schema.USER_SHEET_COLUMNS)
    writer = ResultWriter(out_path, fmt=settings.results_format, input_headers=input_headers,
                          users_headers=users_headers if users is not None else None,
                          failures=settings.failures_output if settings.results_format == "xlsx" else None)
    try:
        for row in sorted(results):
            result = results[row]
            summary.counts[(result.action, result.status)] += 1
            writer.add(result, cells.get(row))
            if users is not None and row in users:
                user_cells = schema.user_to_cells(users[row])
                writer.add_user([user_cells.get(h, "") for h in users_headers])
    except BaseException:
        writer.abandon()
        raise
    summary.finished = now().isoformat(timespec="seconds")
    return writer.close(summary)


def exit_code_for(summary: RunSummary) -> int:
    if summary.aborted:
        return EXIT_ABORTED
    totals = summary.status_totals()
    bad = totals["invalid"] + totals["failed"] + totals["not_attempted"]
    return EXIT_ROWS_FAILED if bad else EXIT_OK


def now() -> dt.datetime:
    return dt.datetime.now().astimezone()


def now_text() -> str:
    return now().isoformat(timespec="seconds")


# -- begin and end: the same for every command --------------------------------------------------------


@dataclass
class Job:
    """What every command has once its input is loaded and checked."""

    path: Path
    settings: JobSettings
    table: Table
    checked: Checked
    summary: RunSummary
    out_path: Path
    stop_errors: list[RunStopped] = field(default_factory=list)  # why the run stopped early, typed


def open_job(path: Path, settings: JobSettings, fmt: str, *, hash_now: bool = True) -> Job:
    """Load the file (rows are read lazily) and fail on an unwritable result path, before any work.

    ``hash_now=False`` leaves the input's SHA-256 to a background thread (:func:`input_hash`), so
    a streaming run reads the file and hashes it at the same time."""
    started = now()
    table = load(path, settings)
    out_path = results_path(settings.output or default_output(path, settings.command, fmt, started), fmt)
    check_writable(out_path)
    summary = RunSummary(command=settings.command + (" (dry run)" if settings.dry_run else ""),
                         input_path=str(path.resolve()), input_sha256=file_sha256(path) if hash_now else "",
                         started=started.isoformat(timespec="seconds"), sheet=table.sheet,
                         settings=settings.public_settings(),
                         warnings=[w.message for w in table.warnings])
    return Job(path, settings, table, Checked([], {}), summary, out_path)


def begin(path: Path, settings: JobSettings, fmt: str) -> Job:
    """Load and validate every row into memory (the sending commands and sync)."""
    job = open_job(path, settings, fmt)
    job.checked = check_rows(job.table, settings)
    return job


def input_hash(path: Path) -> concurrent.futures.Future[str]:
    """The input's SHA-256, computed in a thread (hashlib releases the GIL) while the run reads it."""
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="bulkprov-sha256")
    future = pool.submit(file_sha256, path)
    pool.shutdown(wait=False)
    return future


async def end(job: Job, results: dict[int, RowResult], report: Any, changed: list[CheckedRow],
              users: dict[int, dict] | None = None) -> JobOutcome:
    """Undo file, result workbook, ledger bookkeeping and webhook: the same for every command."""
    from bulkprov.jobs.ledgered import record_finish
    from bulkprov.jobs.webhook import notify_webhook

    summary, settings = job.summary, job.settings
    summary.next_steps = next_steps(settings, summary, job.out_path, job.stop_errors)
    undo = write_undo_file(changed, results, report, job.out_path, summary, settings) if report else None
    input_rows = {k: v for k, v in results.items() if not v.ref.synthetic}
    cells = failure_cells(job.path, settings, job.table, input_rows, job.checked.cells, summary.input_sha256)
    written = write_results(settings, job.table.headers, results, cells, summary, job.out_path, users)
    if summary.run_id and settings.use_ledger:
        record_finish(settings, job.path, summary, written)
    outcome = JobOutcome(summary, written, exit_code_for(summary), undo, results, list(job.stop_errors))
    if settings.webhook and settings.command != "validate" and not settings.dry_run:
        await notify_webhook(settings.webhook, outcome)
    return outcome


def next_steps(settings: JobSettings, summary: RunSummary, out_path: Path,
               stop_errors: list[RunStopped]) -> list[str]:
    steps = [settings.phrasing.stopped(settings.command, e) for e in stop_errors]
    if summary.aborted and not stop_errors:
        steps.append(settings.phrasing.resume(settings.command, summary.aborted))
    steps.append(settings.phrasing.rerun_failures(settings.command, out_path))
    return steps


def write_undo_file(rows: list[CheckedRow], results: dict[int, RowResult], report: Any, out_path: Path,
                    summary: RunSummary, settings: JobSettings) -> Path | None:
    """Every run that changed the account leaves a file that changes it back."""
    from bulkprov.outputs.undo import undo_path, undo_rows, write_undo

    changes, notes = undo_rows((r for r in rows if not r.errors), results, report.before)
    if not changes:
        return None
    path = write_undo(undo_path(out_path), changes, notes, summary.run_id)
    summary.next_steps.append(settings.phrasing.undo(path, len(changes)))
    log.info("undo file: %s", path)
    return path


def dry_run_plan(checked: list[CheckedRow], settings: JobSettings) -> list[str]:
    """The plan ``--dry-run`` prints, from rows in memory (the page's preview)."""
    from bulkprov.jobs.checkonly import PlanCounts

    plan = PlanCounts(settings)
    plan.add([r for r in checked if not r.errors])
    return plan.lines()


# -- the strategies ---------------------------------------------------------------------------------------


async def _check_only(path: Path, settings: JobSettings, credentials: Any, progress: ProgressFn | None,
                      confirm: ConfirmFn | None) -> JobOutcome:
    """``validate`` and ``--dry-run``: the same result workbook a real run would write, nothing sent.

    One streaming pass: each chunk of rows is read, checked and written; nothing per row is kept but
    the duplicate bookkeeping and the first rows that need attention (for the outcome)."""
    from bulkprov.jobs.checkonly import PlanCounts, stream_check

    job = open_job(path, settings, settings.results_format, hash_now=False)
    sha256 = input_hash(path)
    summary = job.summary
    summary.next_steps = next_steps(settings, summary, job.out_path, job.stop_errors)
    writer = ResultWriter(job.out_path, fmt=settings.results_format, input_headers=job.table.headers,
                          failures=settings.failures_output if settings.results_format == "xlsx" else None)
    try:
        plan = PlanCounts(settings) if settings.dry_run else None
        attention = stream_check(job.table, make_validator(job.table, settings), writer, summary, plan)
        if plan is not None:
            summary.warnings.extend(f"plan: {line}" for line in plan.lines())
        summary.input_sha256 = sha256.result()
        summary.finished = now_text()
    except BaseException:
        writer.abandon()
        raise
    written = writer.close(summary)
    return JobOutcome(summary, written, exit_code_for(summary), None, attention, list(job.stop_errors))


async def _send(path: Path, settings: JobSettings, credentials: Any, progress: ProgressFn | None,
                confirm: ConfirmFn | None) -> JobOutcome:
    """add, update, remove, lookup, apply: the valid rows go through the ledgered dispatcher."""
    from bulkprov.jobs.ledgered import send_rows

    job = begin(path, settings, settings.results_format)
    checked, summary = job.checked, job.summary
    results = {r.row: RowResult.invalid(r) for r in checked.invalid}
    report = await send_rows(path, settings, checked.rows, results, summary, credentials, progress)
    results.update(report.results)
    summary.aborted = report.aborted
    if report.stop_error is not None:
        job.stop_errors.append(report.stop_error)
    summary.run_id = report.run_id
    summary.warnings.extend(report.notes)
    users = report.users if settings.command == "lookup" else None
    return await end(job, results, report, checked.valid, users)


def _strategy(settings: JobSettings):
    if settings.command in ROSTER_COMMANDS:
        from bulkprov.sync.run import run_sync

        return run_sync
    if settings.command == "validate" or settings.dry_run:
        return _check_only
    return _send


def run_job(path: str | Path, settings: JobSettings, *, credentials: Any = None,
            progress: ProgressFn | None = None, confirm: ConfirmFn | None = None) -> JobOutcome:
    """Run one command over one file, synchronously (an event loop is started when needed)."""
    return asyncio.run(run_job_async(path, settings, credentials=credentials, progress=progress, confirm=confirm))


async def run_job_async(path: str | Path, settings: JobSettings, *, credentials: Any = None,
                        progress: ProgressFn | None = None, confirm: ConfirmFn | None = None) -> JobOutcome:
    if settings.command not in COMMANDS:
        raise BadConfig("unknown-command", command=settings.command)
    return await _strategy(settings)(Path(path), settings, credentials, progress, confirm)
