"""The frame every strategy runs in: *begin* (load and check the file, fail early on an unwritable result
path) and *end* (the undo file, the result workbook, the ledger's bookkeeping, the audit record and the
webhook) -- the same for every command.  The strategies (:mod:`bulkprov.jobs.runner`'s table) decide what
happens in between.

A sending run with a ledger, and sync, keep their checked rows on disk until they are sent (:class:`Spooled`)
and their results in the ledger (:mod:`bulkprov.jobs.rowresults`); a run without a ledger holds them
(:class:`Checked`).  Either way the Failures sheet takes the cells of invalid rows from the first pass (up
to a bound) and reads the file again only for the rest.  ``validate`` and ``--dry-run`` stream in one pass
(:mod:`bulkprov.jobs.checkonly`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import itertools
import logging
import sqlite3
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bulkprov import i18n
from bulkprov._faults import fault_point
from bulkprov.check.validator import Validator
from bulkprov.errors import (
    BadConfig,
    DiskFull,
    FileChanged,
    InputChanged,
    InputError,
    MissingColumn,
    RunStopped,
    StateDirUnusable,
)
from bulkprov.i18n import gettext as _
from bulkprov.io import RawRow, Table, open_table, read_lookups
from bulkprov.io.shared.guard import file_sha256
from bulkprov.io.writers.xlsx import check_new
from bulkprov.jobs.inputfile import InputSnapshot, refuse_bulkprov_output, signature, wait_until_settled
from bulkprov.jobs.rowresults import HeldResults, RowResults
from bulkprov.jobs.settings import (
    ATTENTION_KEPT,
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
    key_column_requirement,
    now,
    state_dir_for,
)
from bulkprov.jobs.stopping import RuntimeLimit
from bulkprov.kore.directory import Directory
from bulkprov.model import FAILED_STATUSES, CheckedRow, RowResult, Status
from bulkprov.outputs.names import USERS_SHEET_HEADERS, Names, user_cells
from bulkprov.outputs.results import ResultWriter, RunSummary, check_writable, is_result_file, results_path
from bulkprov.state.ledger import Ledger, LedgerWriteFailed
from bulkprov.state.spool import RowSpool

log = logging.getLogger("bulkprov")

# Input cells of invalid rows kept from the first pass for the Failures sheet; beyond this many the
# rest are read again in a second pass, so memory stays bounded for a file where every row is bad.
KEEP_CELLS_LIMIT = 20_000


def load(path: Path, settings: JobSettings) -> Table:
    if settings.command not in COMMANDS:
        raise BadConfig("unknown-command", command=settings.command)
    return open_table(path, sheet=settings.sheet, limits=settings.limits,
                      required_any=key_column_requirement(settings.command), encoding=settings.encoding,
                      ignore=tuple(settings.ignore_columns))


@dataclass
class Checked:
    """Every checked row, held in memory (a run without a ledger sends them)."""

    rows: list[CheckedRow]
    cells: dict[int, list[str]]  # input cells of (some) invalid rows, for the Failures sheet
    keep_users: bool = True

    @property
    def valid(self) -> list[CheckedRow]:
        return [r for r in self.rows if r.valid]

    @property
    def invalid(self) -> list[CheckedRow]:
        return [r for r in self.rows if not r.valid]

    def take(self, raw: RawRow, row: CheckedRow) -> None:
        if not self.keep_users:
            row.user = {}
        if row.errors and len(self.cells) < KEEP_CELLS_LIMIT:
            self.cells[raw.row] = raw.cells
        self.rows.append(row)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


class Spooled:
    """Every checked row of a sending run, on disk (:class:`~bulkprov.state.spool.RowSpool`) until it is sent:
    the valid rows and the invalid ones, each in input order; in memory only the Failures sheet's cells of the
    first invalid rows and the notes of valid rows that went through with a changed value."""

    def __init__(self, folder: Path, observe: Callable[[CheckedRow], None] | None = None) -> None:
        self.observe = observe  # shown each valid row as it is checked (the gate's scan: no second read)
        try:
            self.valid = RowSpool(folder)
            self.invalid = RowSpool(folder)
        except OSError as exc:
            raise StateDirUnusable(state_dir=str(folder), reason=exc.strerror or str(exc)) from None
        self.folder = folder
        self.cells: dict[int, list[str]] = {}
        self.notes: dict[int, str] = {}
        self._valid: list[CheckedRow] = []
        self._invalid: list[CheckedRow] = []

    def take(self, raw: RawRow, row: CheckedRow) -> None:
        if row.errors:
            if len(self.cells) < KEEP_CELLS_LIMIT:
                self.cells[raw.row] = raw.cells
            self._invalid.append(row)
        else:
            if row.notes:
                self.notes[row.row] = "; ".join(row.notes)
            if self.observe is not None:
                self.observe(row)
            self._valid.append(row)

    def flush(self) -> None:
        try:
            self.valid.add(self._valid)
            self.invalid.add(self._invalid)
        except OSError as exc:  # a full disk while the rows wait: nothing was sent
            raise StateDirUnusable(state_dir=str(self.folder), reason=exc.strerror or str(exc)) from None
        self._valid, self._invalid = [], []

    def close(self) -> None:
        self.valid.close()
        self.invalid.close()


def make_validator(table: Table, settings: JobSettings, directory: Directory | None = None, *,
                   deferred: bool = False) -> Validator:
    """The validator of a run: the command's rules, and names resolved against ``directory`` (the account
    written to, :mod:`bulkprov.jobs.names`; ``deferred``: read once a row writes a name) or, without one, the
    lookup sheets."""
    extra = read_lookups(settings.lookups_file) if settings.lookups_file else None
    command = "add" if settings.command in ROSTER_COMMANDS else settings.command
    validator = Validator(table, command, lookups=extra, builder_default=settings.builder_default,
                          strict_ids=settings.strict_ids, directory=directory, target=settings.host or None,
                          deferred=deferred)
    if settings.command == "apply" and "action" not in validator.index:
        raise MissingColumn("action", path=table.path)
    return validator


def check_rows(table: Table, settings: JobSettings, validator: Validator | None = None) -> Checked:
    """Validate every row; payloads are kept only when they will be sent."""
    validator = validator or make_validator(table, settings)
    checked = Checked([], {}, _keeps_users(settings))
    for raw in table.rows:
        checked.take(raw, validator.check(raw))
    return checked


async def check_rows_with_names(table: Table, settings: JobSettings, validator: Validator, names: Any,
                                into: Checked | Spooled | None = None) -> Checked | Spooled:
    """:func:`check_rows` a chunk at a time, names against the account written to: a chunk whose rows the
    validator noted (a name written before the directory was read, a name it did not know) is checked again
    once ``names`` (:class:`~bulkprov.jobs.names.AccountNames`) has read it -- at most one chunk twice.
    ``into``: where the checked rows go (held in memory unless a spool is given)."""
    checked = into if into is not None else Checked([], {}, _keeps_users(settings))
    rows = iter(table.rows)
    while batch := list(itertools.islice(rows, CHECK_CHUNK)):
        results = [validator.check(raw) for raw in batch]
        if validator.refreshable:
            again = await names.check_again(validator, batch)
            results = [again.get(raw.row, row) for raw, row in zip(batch, results, strict=True)]
        for raw, row in zip(batch, results, strict=True):
            checked.take(raw, row)
        checked.flush()
    return checked


CHECK_CHUNK = 2048


def _keeps_users(settings: JobSettings) -> bool:
    return settings.command in ROSTER_COMMANDS or (settings.command != "validate" and not settings.dry_run)


def failure_cells(path: Path, settings: JobSettings, table: Table, missing: set[int],
                  known: dict[int, list[str]], sha256: str) -> dict[int, list[str]]:
    """Input cells of every row bound for the Failures sheet: those ``known`` from the first pass, and the
    ``missing`` ones read again from the file (only if there are any).

    The run has happened by now, so nothing here may cost the user their results: when the input
    changed or vanished meanwhile, the Failures sheet goes without those cells (Results is complete).
    """
    if not missing:
        return known
    cells = dict(known)
    try:
        if file_sha256(path) != sha256:
            raise FileChanged(path=path)
        again = open_table(path, sheet=table.sheet, limits=settings.limits,
                           required_any=key_column_requirement(settings.command), encoding=settings.encoding,
                           ignore=tuple(settings.ignore_columns))
        for raw in again.rows:
            if raw.row in missing:
                cells[raw.row] = raw.cells
    except (InputError, OSError) as exc:
        log.warning(i18n.gettext("Failures sheet without the input's cells for %d rows: %s"), len(missing), exc)
    return cells


def missing_cells(results: Mapping[int, RowResult], known: dict[int, list[str]]) -> set[int]:
    """The rows needing attention (from the input) whose cells the first pass did not keep."""
    return HeldResults(results).tally(known)[2]


def write_results(settings: JobSettings, input_headers: list[str], results: Iterable[RowResult],
                  cells: dict[int, list[str]], summary: RunSummary, out_path: Path,
                  users: dict[int, dict] | None = None, extra: list | None = None, *,
                  total: int | None = None, attention: list[RowResult] | None = None) -> Path:
    """Every row once, in input order; failed and invalid rows also with their own cells.  ``results``: a
    mapping by row, or a stream in row order (``total`` rows); ``attention`` collects the first rows that
    need it."""
    if isinstance(results, Mapping):
        results = HeldResults(results)
        total = len(results.results)
    users_headers, names = list(USERS_SHEET_HEADERS), Names(users.values() if users else ())
    writer = ResultWriter(out_path, fmt=settings.results_format, input_headers=input_headers,
                          users_headers=users_headers if users is not None else None,
                          failures=settings.failures_output if settings.results_format == "xlsx" else None,
                          extra=extra)
    half = (total or 0) // 2
    try:
        for i, result in enumerate(results):
            if i == half:
                fault_point("results")
            summary.counts[(result.action, result.status)] += 1
            writer.add(result, cells.get(result.row))
            if attention is not None and result.status in FAILED_STATUSES and len(attention) < ATTENTION_KEPT:
                attention.append(result)
            if users is not None and result.row in users:
                named = user_cells(users[result.row], names)
                writer.add_user([named.get(h, "") for h in users_headers])
    except BaseException:
        writer.abandon()
        raise
    summary.finished = now().isoformat(timespec="seconds")
    return writer.close(summary)


def exit_code_for(summary: RunSummary, stop_errors: list[RunStopped] | None = None) -> int:
    if stop_errors:
        return max(e.exit_code for e in stop_errors)
    if summary.aborted:
        return EXIT_ABORTED
    totals = summary.status_totals()
    bad = sum(totals[s] for s in FAILED_STATUSES)
    return EXIT_ROWS_FAILED if bad else EXIT_OK


# -- begin and end: the same for every command --------------------------------------------------------


@dataclass
class Context:
    """What a strategy gets besides the file and the settings: credentials and the front end's hooks,
    and the one stop event that Ctrl-C, SIGTERM and the run-time limit set for the whole job."""

    credentials: Any = None
    progress: ProgressFn | None = None
    confirm: ConfirmFn | None = None
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    limit: RuntimeLimit | None = None

    def stopped(self, report: Any) -> Any:
        """Mark ``report`` interrupted when the stop event ended it."""
        if self.limit is not None:
            return self.limit.stopped(report, self.stop)
        return report


@dataclass
class Job:
    """What every command has once its input is loaded and checked."""

    path: Path
    settings: JobSettings
    table: Table
    checked: Checked | Spooled
    summary: RunSummary
    out_path: Path
    stop_errors: list[RunStopped] = field(default_factory=list)  # why the run stopped early, typed
    snapshot: InputSnapshot | None = None  # the input as read (size, mtime, SHA-256): is it still that file?
    validator: Validator | None = None  # what the checks found beyond the rows (a migration's bot tasks not carried)
    approved: Any = None  # the approved request (bulkprov.approvals.store.Request) the gate let this run use

    def check_unchanged_before_sending(self) -> None:
        """The file must still be the one read when the first request is about to leave (exit 2)."""
        if self.snapshot is not None and self.snapshot.changed(self.path):
            raise FileChanged("before-sending", path=self.path)

    def changed_after_sending(self) -> bool:
        """After the last request: a changed file stops the run as ``file-changed`` (exit 3)."""
        if self.snapshot is None or not self.snapshot.changed(self.path):
            return False
        error = InputChanged()
        self.stop_errors.append(error)
        self.summary.aborted = self.summary.aborted or error.message
        return True


def open_job(path: Path, settings: JobSettings, fmt: str, *, hash_now: bool = True) -> Job:
    """Load the file (rows are read lazily) and fail on an unwritable result path, before any work.

    ``hash_now=False`` leaves the input's SHA-256 to a background thread (:func:`input_hash`), so
    a streaming run reads the file and hashes it at the same time."""
    started = now()
    wait_until_settled(path, settings.settle)  # a file still being written is never read
    if settings.command in ROSTER_COMMANDS:
        refuse_bulkprov_output(path)  # a result, undo or plan workbook is not a roster
    before = signature(path) if hash_now else None
    table = load(path, settings)
    out_path = results_path(settings.output or default_output(path, settings.command, fmt, started), fmt)
    if settings.output:
        check_new(out_path, replace=settings.replace_output or is_result_file(out_path), ours=False)
    check_writable(out_path)
    summary = RunSummary(command=settings.command + (_(" (dry run)") if settings.dry_run else ""),
                         input_path=str(path.resolve()), input_sha256=file_sha256(path) if hash_now else "",
                         input_name=settings.input_name or "",
                         started=started.isoformat(timespec="seconds"), sheet=table.sheet,
                         settings=settings.public_settings(),
                         warnings=[w.message for w in table.warnings])
    snapshot = InputSnapshot(*before, summary.input_sha256) if before is not None else None
    return Job(path, settings, table, Checked([], {}), summary, out_path, snapshot=snapshot)


async def begin(path: Path, settings: JobSettings, fmt: str, credentials: Any = None, *,
                spool: Path | None = None, observe: Callable[[CheckedRow], None] | None = None) -> Job:
    """Load and validate every row (the sending commands and sync), names against the account written to
    (read again once for rows naming something it did not know): into memory, or with ``spool`` (a folder)
    onto disk there (:class:`Spooled`, each valid row shown to ``observe`` as it is checked) -- the caller
    closes ``job.checked``."""
    from bulkprov.jobs.names import account_names

    job = open_job(path, settings, fmt)
    into = Spooled(spool, observe) if spool is not None else None
    try:
        async with account_names(path, settings, credentials) as names:
            job.validator = make_validator(job.table, settings, names.directory, deferred=names.deferred)
            job.checked = await check_rows_with_names(job.table, settings, job.validator, names, into)
    except BaseException:
        if into is not None:
            into.close()
        raise
    note_names(job.summary, names)
    return job


def note_names(summary: RunSummary, names: Any) -> None:
    """Where the run's role, bot and group names came from, in its Summary (the fallback as a warning)."""
    summary.settings[_("role, bot and group names")] = names.said
    if names.source == "unavailable":
        summary.warnings.append(names.said)


def input_hash(path: Path) -> concurrent.futures.Future[str]:
    """The input's SHA-256, computed in a thread (hashlib releases the GIL) while the run reads it."""
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="bulkprov-sha256")
    future = pool.submit(file_sha256, path)
    pool.shutdown(wait=False)
    return future


async def end(job: Job, results: Mapping[int, RowResult] | RowResults, report: Any, changed: list[CheckedRow],
              users: dict[int, dict] | None = None, extra: list | None = None) -> JobOutcome:
    """Undo file, result workbook, ledger bookkeeping and webhook: the same for every command.

    ``results``: every row's result, held (by row) or read as the workbook is written (a ledgered run's,
    :class:`~bulkprov.jobs.rowresults.LedgerResults`).  Nothing here may cost the user the run: a disk that
    fills up while the workbook is written ends the run with ``disk-full`` (exit 3) and the ledger still
    knows every row (``runs show`` writes the workbook later)."""
    from bulkprov.jobs.runs import record_finish
    from bulkprov.outputs.undo import undo_path
    from bulkprov.outputs.webhook import notify_run, run_body

    summary, settings = job.summary, job.settings
    held = results if isinstance(results, Mapping) else None
    if held is not None:
        add_notes(held, job.checked.rows if isinstance(job.checked, Checked) else [])
        results = HeldResults(held)
    writing, written = undo_path(job.out_path), None  # what is being written: the abort line names it truly
    attention: list[RowResult] = []
    try:
        total, failures, missing = results.tally(job.checked.cells)
        summary.next_steps = next_steps(settings, summary, job.out_path, job.stop_errors, failures)
        undo = write_undo_file(job, changed, held or {}, report) if report else None
        writing = job.out_path
        cells = failure_cells(job.path, settings, job.table, missing, job.checked.cells, summary.input_sha256)
        written = write_results(settings, job.table.headers, results, cells, summary, job.out_path, users, extra,
                                total=total, attention=attention)
        if summary.run_id and settings.use_ledger:
            record_finish(settings, job.path, summary, written, job.stop_errors)
    except (OSError, LedgerWriteFailed, sqlite3.Error) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        if written is not None:  # the results are there; only the ledger's note of the finish is not
            raise DiskFull("finish", results=str(written), reason=reason, run_id=summary.run_id or "?") from None
        raise DiskFull("results", what=str(writing), reason=reason, run_id=summary.run_id or "?") from None
    outcome = JobOutcome(summary, written, exit_code_for(summary, job.stop_errors), undo, attention,
                         list(job.stop_errors))
    from bulkprov.approvals.record import record_run

    outcome.audit_head = record_run(settings, summary, outcome.exit_code, job.stop_errors, job.approved)
    if settings.webhook and settings.command != "validate" and not settings.dry_run:
        await notify_run(settings.webhook, run_body(
            summary, exit_code=outcome.exit_code, codes=[e.code for e in outcome.stop_errors],
            results_path=outcome.results_path, undo_path=outcome.undo_path, audit_head=outcome.audit_head,
            run_id=settings.run_id or ""))
    return outcome


def add_notes(results: Mapping[int, RowResult], rows: Iterable[CheckedRow]) -> None:
    """A row that went through with a changed value (invisible characters removed...) says so in its reason."""
    for row in rows:
        result = results.get(row.row) if row.notes else None
        if result is not None and result.status in (Status.SUCCESS, Status.VALID):
            note = "; ".join(row.notes)
            result.reason = f"{result.reason}; {note}" if result.reason else note


def next_steps(settings: JobSettings, summary: RunSummary, out_path: Path,
               stop_errors: list[RunStopped], failures: int) -> list[str]:
    steps = [settings.phrasing.stopped(settings.command, e) for e in stop_errors]
    if summary.aborted and not stop_errors:
        steps.append(settings.phrasing.resume(settings.command, summary.aborted))
    if failures:
        steps.append(settings.phrasing.rerun_failures(settings.command, out_path))
    return steps


def write_undo_file(job: Job, rows: list[CheckedRow], results: Mapping[int, RowResult], report: Any) -> Path | None:
    """Every run that changed the account leaves a file that changes it back.  A ledgered run's undo
    file is written from the ledger, so it covers the whole run across crashes and resumptions."""
    from bulkprov.jobs.runs import write_ledger_undo
    from bulkprov.outputs.undo import UndoRows, undo_path, write_undo

    summary, settings = job.summary, job.settings
    if summary.run_id and (settings.use_ledger or settings.command == "sync"):  # sync always records its run
        with contextlib.closing(Ledger(state_dir_for(job.path, settings))) as ledger:
            path, changes = write_ledger_undo(ledger, summary.run_id, undo_path(job.out_path))
    else:
        undo = UndoRows(report.before)
        changed = [c for r in rows if not r.errors and (c := undo.of(r, results.get(r.row))) is not None]
        path = write_undo(undo_path(job.out_path), changed, undo.notes, summary.run_id) if changed else None
        changes = len(changed)
    if path is None:
        return None
    summary.next_steps.append(settings.phrasing.undo(path, changes))
    return path
