"""The one pipeline every command runs: load → validate → dispatch → reconcile → results.

``validate`` and ``--dry-run`` stop after validation; ``add``/``update``/``remove``/``lookup``/
``apply`` go on to the dispatcher.  The Failures sheet carries the input's own cells: those of
invalid rows are kept from the first pass (up to a bound), the rest are read again in a second
streaming pass only when some row needs them, so memory stays bounded.  This module is the library API the CLI is a thin layer over::

    from bulkprov.pipeline import JobSettings, run_job
    outcome = run_job("users.xlsx", JobSettings(command="validate"))
    print(outcome.exit_code, outcome.results_path)
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bulkprov import schema
from bulkprov.errors import InputError, RunAborted
from bulkprov.loader import LoaderLimits, Table, open_table, read_lookups
from bulkprov.logs import set_run_id
from bulkprov.results import (
    FAILED_STATUSES,
    SYNTHETIC_ROW_BASE,
    ResultWriter,
    RowResult,
    RunSummary,
    check_writable,
    results_path,
)
from bulkprov.validation import CheckedRow, Validator

log = logging.getLogger("bulkprov")

COMMANDS = ("validate", "add", "update", "remove", "lookup", "apply", "plan", "sync")
ROSTER_COMMANDS = ("plan", "sync")  # the roster is checked as adds: every row a complete user
EXIT_OK, EXIT_ROWS_FAILED, EXIT_UNUSABLE, EXIT_ABORTED = 0, 1, 2, 3


@dataclass
class JobSettings:
    """Everything a run needs except secrets (those live in :class:`bulkprov.auth.Credentials`)."""

    command: str
    sheet: str | None = None
    output: Path | None = None
    results_format: str = "xlsx"
    dry_run: bool = False
    send_email: bool = True
    builder_default: bool = False
    lookups_file: Path | None = None
    limits: LoaderLimits = field(default_factory=LoaderLimits)
    host: str | None = None
    batch_size: int = 100
    concurrency: int = 4
    rate: str = "60/min,1800/h"
    max_attempts: int = 6
    timeout: float = 60.0
    breaker_window: int = 20
    command_line: str = ""
    state_dir: Path | None = None      # default: .bulkprov/ beside the input
    use_ledger: bool = True
    resume: bool = False
    force: bool = False
    retry_failed: str | None = None
    webhook: str | None = None
    max_runtime: float | None = None
    # sync / plan guards (config: max_deletes, max_delete_percent, protected, builder_confirm)
    max_deletes: int = 500
    max_delete_percent: float = 10.0
    allow_deletes: int | None = None
    protected: list[str] = field(default_factory=list)
    builder_confirm: int = 10
    allow_builder: int | None = None
    allow_role_removals: int | None = None
    plan_file: Path | None = None

    def public_settings(self) -> dict[str, str]:
        """Settings for the Summary sheet: what was asked, never a secret."""
        out = {"command": self.command, "dry run": str(self.dry_run), "send email": str(self.send_email)}
        if self.command not in ("validate",) and not self.dry_run:
            out.update({"host": self.host or "", "batch size": str(self.batch_size),
                        "concurrency": str(self.concurrency), "rate": self.rate,
                        "max attempts": str(self.max_attempts), "timeout (s)": str(self.timeout)})
        return out


@dataclass
class JobOutcome:
    summary: RunSummary
    results_path: Path
    exit_code: int
    undo_path: Path | None = None


ProgressFn = Callable[[dict[str, Any]], None]


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def default_output(path: Path, command: str, fmt: str, when: dt.datetime) -> Path:
    """``users.add-results-20261123-105000.xlsx`` beside the input: earlier results are kept."""
    return path.with_name(f"{path.stem}.{command}-results-{when:%Y%m%d-%H%M%S}.{fmt}")


def key_column_requirement(command: str) -> tuple[str, ...]:
    """Which key columns a file must have for a command (one of them)."""
    return ("emailId",) if command in ("add", *ROSTER_COMMANDS) else ("emailId", "orgUserId")


def load(path: Path, settings: JobSettings) -> Table:
    if settings.command not in COMMANDS:
        raise InputError("usage", f"unknown command {settings.command!r}")
    return open_table(path, sheet=settings.sheet, limits=settings.limits,
                      required_any=key_column_requirement(settings.command))


# Input cells of invalid rows kept from the first pass for the Failures sheet; beyond this many the
# rest are read again in a second pass, so memory stays bounded for a file where every row is bad.
KEEP_CELLS_LIMIT = 20_000


@dataclass
class Checked:
    rows: list[CheckedRow]
    cells: dict[int, list[str]]  # input cells of (some) invalid rows, for the Failures sheet


def check_rows(table: Table, settings: JobSettings) -> Checked:
    """Validate every row; payloads are kept only when they will be sent."""
    extra = read_lookups(settings.lookups_file) if settings.lookups_file else None
    command = "add" if settings.command in ROSTER_COMMANDS else settings.command
    validator = Validator(table, command, lookups=extra, builder_default=settings.builder_default)
    if settings.command == "apply" and "action" not in validator.index:
        raise InputError("missing-column", "apply needs an 'action' (or 'User Status') column saying add, "
                         "update or remove for each row", str(table.path))
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
            raise InputError("file-changed", "the input file changed during the run", str(path))
        again = open_table(path, sheet=table.sheet, limits=settings.limits,
                           required_any=key_column_requirement(settings.command))
        for raw in again.rows:
            if raw.row in missing:
                cells[raw.row] = raw.cells
    except (InputError, OSError) as exc:
        log.warning("Failures sheet without the input's cells for %d rows: %s", len(missing), exc)
    return cells


def invalid_result(row: CheckedRow) -> RowResult:
    reason = "; ".join(str(e) for e in row.errors)
    return RowResult(row.row, row.action, row.email, row.org_user_id, "invalid", reason, row.errors[0].code)


def validation_results(checked: list[CheckedRow]) -> dict[int, RowResult]:
    return {
        r.row: invalid_result(r) if r.errors else RowResult(r.row, r.action, r.email, r.org_user_id, "valid")
        for r in checked
    }


def write_results(settings: JobSettings, input_headers: list[str], results: dict[int, RowResult],
                  cells: dict[int, list[str]], summary: RunSummary, out_path: Path,
                  users: dict[int, dict] | None = None) -> Path:
    """Every row once, in input order; failed and invalid rows also with their own cells."""
    users_headers = list(schema.USER_SHEET_COLUMNS)
    writer = ResultWriter(out_path, fmt=settings.results_format, input_headers=input_headers,
                          users_headers=users_headers if users is not None else None)
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
    summary.finished = _now().isoformat(timespec="seconds")
    return writer.close(summary)


def exit_code_for(summary: RunSummary) -> int:
    if summary.aborted:
        return EXIT_ABORTED
    totals = summary.status_totals()
    bad = totals["invalid"] + totals["failed"] + totals["not_attempted"]
    return EXIT_ROWS_FAILED if bad else EXIT_OK


def _now() -> dt.datetime:
    return dt.datetime.now().astimezone()


def run_job(path: str | Path, settings: JobSettings, *, credentials: Any = None,
            progress: ProgressFn | None = None) -> JobOutcome:
    """Run one command over one file, synchronously (an event loop is started when needed)."""
    return asyncio.run(run_job_async(path, settings, credentials=credentials, progress=progress))


@dataclass
class _Job:
    """What every command has once its input is loaded and checked."""

    path: Path
    settings: JobSettings
    table: Table
    checked: Checked
    summary: RunSummary
    out_path: Path


def _begin(path: Path, settings: JobSettings, fmt: str) -> _Job:
    """Load and validate; fail on an unwritable result path before any work is done."""
    started = _now()
    table = load(path, settings)
    out_path = results_path(settings.output or default_output(path, settings.command, fmt, started), fmt)
    check_writable(out_path)
    checked = check_rows(table, settings)
    summary = RunSummary(command=settings.command + (" (dry run)" if settings.dry_run else ""),
                         input_path=str(path.resolve()), input_sha256=file_sha256(path),
                         started=started.isoformat(timespec="seconds"), sheet=table.sheet,
                         settings=settings.public_settings(),
                         warnings=[w.message for w in table.warnings])
    return _Job(path, settings, table, checked, summary, out_path)


async def _end(job: _Job, results: dict[int, RowResult], report: Any, changed: list[CheckedRow],
               users: dict[int, dict] | None = None) -> JobOutcome:
    """Undo file, result workbook, ledger bookkeeping and webhook: the same for every command."""
    summary, settings = job.summary, job.settings
    summary.next_steps = next_steps(settings, summary)
    undo = write_undo_file(changed, results, report, job.out_path, summary) if report else None
    input_rows = {k: v for k, v in results.items() if k < SYNTHETIC_ROW_BASE}
    cells = failure_cells(job.path, settings, job.table, input_rows, job.checked.cells, summary.input_sha256)
    written = write_results(settings, job.table.headers, results, cells, summary, job.out_path, users)
    if summary.run_id and settings.use_ledger:
        record_finish(settings, job.path, summary, written)
    outcome = JobOutcome(summary, written, exit_code_for(summary), undo)
    if settings.webhook and settings.command != "validate" and not settings.dry_run:
        await notify_webhook(settings.webhook, outcome)
    return outcome


async def run_job_async(path: str | Path, settings: JobSettings, *, credentials: Any = None,
                        progress: ProgressFn | None = None) -> JobOutcome:
    path = Path(path)
    if settings.command in ROSTER_COMMANDS:
        return await run_sync_async(path, settings, credentials=credentials, progress=progress)
    job = _begin(path, settings, settings.results_format)
    checked, summary = job.checked, job.summary
    if settings.command == "validate" or settings.dry_run:
        results = validation_results(checked.rows)
        if settings.dry_run:
            summary.warnings.extend(f"plan: {line}" for line in dry_run_plan(checked.rows, settings))
        return await _end(job, results, None, [])
    results = {r.row: invalid_result(r) for r in checked.rows if r.errors}
    report = await send_rows(path, settings, checked.rows, results, summary, credentials, progress, job.out_path)
    results.update(report.results)
    summary.aborted = report.aborted
    summary.run_id = report.run_id
    summary.warnings.extend(report.notes)
    users = report.users if settings.command == "lookup" else None
    return await _end(job, results, report, [r for r in checked.rows if not r.errors], users)


def webhook_body(outcome: JobOutcome) -> dict[str, Any]:
    s = outcome.summary
    return {"run_id": s.run_id, "command": s.command, "input": s.input_path, "input_sha256": s.input_sha256,
            "started": s.started, "finished": s.finished, "exit_code": outcome.exit_code, "aborted": s.aborted,
            "totals": dict(s.status_totals()),
            "counts": [{"action": a, "status": st, "rows": n} for (a, st), n in sorted(s.counts.items())],
            "results_path": str(outcome.results_path),
            "undo_path": str(outcome.undo_path) if outcome.undo_path else None}


async def notify_webhook(url: str, outcome: JobOutcome, timeout: float = 10.0) -> bool:
    """POST the run summary; a failure is a warning, never a failed run.  The URL may carry a token
    (Slack-style hooks), so only its host is ever logged."""
    import urllib.parse

    import aiohttp

    host = urllib.parse.urlsplit(url).netloc or "?"
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session:
            async with session.post(url, json=webhook_body(outcome)) as resp:
                if resp.status >= 300:
                    log.warning("webhook on %s answered HTTP %s", host, resp.status)
                    return False
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        log.warning("webhook on %s failed: %s", host, type(exc).__name__)
        return False
    log.info("run summary posted to the webhook on %s", host)
    return True


def write_undo_file(rows: list[CheckedRow], results: dict[int, RowResult], report, out_path: Path,
                    summary: RunSummary) -> Path | None:
    """Every run that changed the account leaves a file that changes it back."""
    from bulkprov.undo import undo_path, undo_rows, write_undo

    changes, notes = undo_rows((r for r in rows if not r.errors), results, report.before)
    if not changes:
        return None
    path = write_undo(undo_path(out_path), changes, notes, summary.run_id)
    summary.next_steps.append(f"To undo this run's {len(changes)} changes: bulkprov apply {path}")
    log.info("undo file: %s", path)
    return path


def state_dir_for(path: Path, settings: JobSettings) -> Path:
    return settings.state_dir or path.resolve().parent / ".bulkprov"


async def send_rows(path: Path, settings: JobSettings, checked: list[CheckedRow], known: dict[int, RowResult],
                    summary: RunSummary, credentials: Any, progress: ProgressFn | None, out_path: Path):
    """The network half, under the state-directory lock and recorded in the ledger."""
    from bulkprov.dispatcher import DispatchReport, dispatch_rows  # lazy: validate needs no network stack

    valid = [r for r in checked if not r.errors]
    stop = asyncio.Event()
    timer = _max_runtime_timer(settings, stop)
    if not settings.use_ledger:
        with stop_on_signals(stop):
            report = await dispatch_rows(valid, settings, credentials, progress, stop,
                                         snapshot=_wants_snapshot(settings))
        return _stopped(report, stop, timer)

    from bulkprov.ledger import Ledger, LedgerHooks, StateLock

    state_dir = state_dir_for(path, settings)
    with StateLock(state_dir) as lock, contextlib.closing(Ledger(state_dir)) as ledger:
        if lock.took_over:
            log.warning("took over a stale lock of pid %s on %s (started %s): that run died",
                        lock.took_over.get("pid"), lock.took_over.get("host"), lock.took_over.get("started"))
        run_id, done, uncertain = _open_run(ledger, settings, summary, valid, known)
        set_run_id(run_id)
        to_send = [r for r in valid if r.row not in done]
        with stop_on_signals(stop), shared_budget(ledger, settings) as limiter:
            report = await dispatch_rows(to_send, settings, credentials, progress, stop,
                                         hooks=LedgerHooks(ledger, run_id), uncertain=uncertain,
                                         snapshot=_wants_snapshot(settings), limiter=limiter)
    report = _stopped(report, stop, timer)
    report.run_id = run_id
    merged = dict(done)
    merged.update(report.results)
    return DispatchReport(results=merged, aborted=report.aborted, run_id=run_id, users=report.users,
                          before=report.before, requests=report.requests, notes=report.notes)


@contextlib.contextmanager
def shared_budget(ledger, settings: JobSettings):
    """One rate limiter for everything a job sends, seeded with the requests earlier runs made to
    the same host and saved back at the end: back-to-back runs (and sync's lookups then changes)
    share the account's windows instead of each starting as if they were empty."""
    from bulkprov.limiter import RateLimiter, parse_rate

    limiter = RateLimiter(parse_rate(settings.rate))
    host = settings.host or ""
    limiter.seed(ledger.recent_requests(host))
    try:
        yield limiter
    finally:
        ledger.save_requests(host, limiter.recent())


def _wants_snapshot(settings: JobSettings) -> bool:
    """Fetch users before changing or removing them, so the undo file can restore them."""
    return settings.command in ("update", "remove", "apply")


def _max_runtime_timer(settings: JobSettings, stop: asyncio.Event) -> dict[str, Any]:
    """--max-runtime: stop cleanly, exactly like SIGTERM, when the time is up."""
    state: dict[str, Any] = {"fired": False, "seconds": settings.max_runtime}
    if settings.max_runtime:
        def fire() -> None:
            state["fired"] = True
            log.warning("--max-runtime of %s s reached: stopping cleanly", settings.max_runtime)
            stop.set()

        state["handle"] = asyncio.get_running_loop().call_later(settings.max_runtime, fire)
    return state


def _stopped(report, stop: asyncio.Event, timer: dict[str, Any]):
    if "handle" in timer:
        timer["handle"].cancel()
    if stop.is_set() and not report.aborted:
        report.aborted = (f"stopped after --max-runtime {timer['seconds']:g} s" if timer["fired"]
                          else "interrupted by a stop signal (Ctrl-C / SIGTERM)")
    return report


def _open_run(ledger, settings: JobSettings, summary: RunSummary, valid: list[CheckedRow],
              known: dict[int, RowResult]) -> tuple[str, dict[int, RowResult], set[int]]:
    """Resume the interrupted run, or start a new one (skipping rows earlier runs already did).

    Returns the run id, the rows whose outcome is already final, and the rows that may have been
    sent by a process that died (to verify before sending).
    """
    from bulkprov.ledger import payload_hash

    host = settings.host or ""
    previous = ledger.unfinished_run(settings.command, summary.input_sha256, host)
    if settings.resume:
        if previous is None:
            raise InputError("usage", "nothing to resume: there is no interrupted run of this file for this host "
                             f"in {ledger.path}; run it without --resume")
        records = ledger.rows(previous.id)
        done = {r.row: r.result() for r in records if r.state == "done" and r.status != "invalid"}
        uncertain = {r.row for r in records if r.state == "in_flight"}
        log.info("resuming run %s: %d rows already done, %d to verify, %d to send", previous.id, len(done),
                 len(uncertain), len(valid) - len(done))
        return previous.id, done, uncertain
    if previous is not None and not settings.force:
        raise InputError("interrupted-run", f"run {previous.id} of this file (started {previous.started}) did not "
                         "finish: add --resume to finish it (rows already done are not sent again), or --force to "
                         "start a new run anyway")
    hashes = {r.row: payload_hash(r.action, r.user) for r in valid}
    done: dict[int, RowResult] = {}
    if settings.retry_failed:
        done.update(_not_retried(ledger, settings, summary, valid))
    if not settings.force and settings.command != "lookup":
        earlier = ledger.earlier_successes(host, [(r.key.casefold(), r.action, hashes[r.row]) for r in valid])
        for r in valid:
            hit = earlier.get((r.key.casefold(), r.action, hashes[r.row]))
            if hit and r.row not in done:
                done[r.row] = RowResult(r.row, r.action, r.email, r.org_user_id, "skipped",
                                        f"already done by run {hit[0]} ({hit[1]}); use --force to send it again",
                                        "skipped-done")
    run_id = ledger.create_run(
        command=settings.command, input_path=summary.input_path, input_sha256=summary.input_sha256, host=host,
        settings=summary.settings,
        rows=[(r.row, r.action, r.email, r.org_user_id, r.key.casefold(), hashes[r.row]) for r in valid
              if r.row not in done],
        done=[*known.values(), *done.values()], retry_of=settings.retry_failed)
    if done:
        log.info("%d rows skipped: done by earlier runs", len(done))
    return run_id, done, set()


def _not_retried(ledger, settings: JobSettings, summary: RunSummary,
                 valid: list[CheckedRow]) -> dict[int, RowResult]:
    """For --retry-failed RUN: every row that did not fail in RUN is skipped."""
    base = ledger.run(settings.retry_failed)
    if base.input_sha256 != summary.input_sha256:
        raise InputError("usage", f"run {base.id} was made from another file ({base.input_path}); "
                         "--retry-failed needs the same input file")
    failed = {r.row for r in ledger.rows(base.id) if r.status in ("failed", "not_attempted") or r.state != "done"}
    return {r.row: RowResult(r.row, r.action, r.email, r.org_user_id, "skipped",
                             f"not retried: it did not fail in run {base.id}", "skipped-done")
            for r in valid if r.row not in failed}


def list_runs(state_dir: Path) -> list:
    from bulkprov.ledger import Ledger

    if not (Path(state_dir) / "ledger.sqlite3").is_file():
        raise InputError("usage", f"no run ledger in {state_dir}: runs are recorded in .bulkprov/ beside the "
                         "input file (or --state-dir)")
    with contextlib.closing(Ledger(state_dir)) as ledger:
        return ledger.runs()


def rewrite_results(state_dir: Path, run_id: str, output: Path | None = None, fmt: str = "xlsx") -> Path:
    """``bulkprov runs show ID``: the result workbook of a run, from the ledger.

    The Failures sheet carries the input's own cells when the input file is still there unchanged;
    otherwise it carries the keys the ledger has.
    """
    from bulkprov.ledger import Ledger

    list_runs(state_dir)  # the same clear error when there is no ledger
    with contextlib.closing(Ledger(state_dir)) as ledger:
        info = ledger.run(run_id)
        records = ledger.rows(run_id)
    results = {r.row: r.result() for r in records}
    for r in records:
        if r.state == "in_flight":
            results[r.row].status, results[r.row].reason = "failed", "outcome unknown: the run stopped while " \
                "this row was in flight; finish it with --resume"
            results[r.row].error_code = "unverified"
        elif r.state == "pending":
            results[r.row].reason = "not sent yet: finish the run with --resume"
    settings = JobSettings(command=info.command, output=output, results_format=fmt, use_ledger=False)
    input_path = Path(info.input_path)
    headers, cells = ["emailId", "orgUserId"], {r.row: [r.email, r.org_user_id] for r in records}
    if input_path.is_file() and file_sha256(input_path) == info.input_sha256:
        table = load(input_path, settings)
        headers = table.headers
        cells = failure_cells(input_path, settings, table, results, {}, info.input_sha256)
    summary = RunSummary(command=info.command, input_path=info.input_path, input_sha256=info.input_sha256,
                         started=info.started, settings={"host": info.host, "state": info.state,
                                                         "rewritten from the ledger": now_text()},
                         run_id=info.id)
    summary.aborted = "" if info.state == "finished" else f"the run is {info.state}"
    out = results_path(output or Path(state_dir) / f"run-{info.id}.{fmt}", fmt)
    return write_results(settings, headers, results, cells, summary, out)


def now_text() -> str:
    return _now().isoformat(timespec="seconds")


def record_finish(settings: JobSettings, path: Path, summary: RunSummary, written: Path) -> None:
    from bulkprov.ledger import Ledger

    with contextlib.closing(Ledger(state_dir_for(path, settings))) as ledger:
        ledger.finish_run(summary.run_id, state="aborted" if summary.aborted else "finished",
                          counts=dict(summary.status_totals()), results_path=str(written))


def dry_run_plan(checked: list[CheckedRow], settings: JobSettings) -> list[str]:
    from bulkprov.dispatcher import describe_plan, plan_batches
    from bulkprov.limiter import parse_rate

    valid = [r for r in checked if not r.errors]
    batches = plan_batches(valid, settings.batch_size, settings.send_email)
    lines = describe_plan(batches, settings.batch_size, settings.concurrency, parse_rate(settings.rate))
    for line in lines:
        log.info("plan (dry run, nothing sent): %s", line)
    return lines


@contextlib.contextmanager
def stop_on_signals(stop: asyncio.Event):
    """Ctrl-C / SIGTERM set ``stop``: the dispatcher stops sending, in-flight calls finish, results
    are written.  A second Ctrl-C is the user insisting: it raises KeyboardInterrupt."""
    loop = asyncio.get_running_loop()
    installed = []

    def on_signal(sig: int) -> None:
        if stop.is_set() and sig == signal.SIGINT:
            raise KeyboardInterrupt
        log.warning("stop requested (%s): finishing requests in flight, then writing results",
                    signal.Signals(sig).name)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, on_signal, sig)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or Windows
            pass
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


def next_steps(settings: JobSettings, summary: RunSummary) -> list[str]:
    steps = []
    if summary.aborted:
        steps.append(f"The run stopped: {summary.aborted}. Fix the cause and run the same command again; "
                     "rows already done are reported, the rest are sent.")
    steps.append("Failed and invalid rows are in the Failures sheet: fix them there and run that sheet again "
                 f"(bulkprov {settings.command} RESULTS.xlsx --sheet Failures).")
    return steps


# -- plan and sync ------------------------------------------------------------------------------------------


async def run_sync_async(path: Path, settings: JobSettings, *, credentials: Any = None,
                         progress: ProgressFn | None = None) -> JobOutcome:
    """``plan`` writes the plan workbook; ``sync`` executes it (see :mod:`bulkprov.sync`)."""
    from bulkprov import sync
    from bulkprov.dispatcher import dispatch_rows, estimate_seconds, plan_batches
    from bulkprov.ledger import Ledger, LedgerHooks, StateLock
    from bulkprov.limiter import parse_rate

    job = _begin(path, settings, "xlsx" if settings.command == "plan" or settings.dry_run else settings.results_format)
    checked, summary = job.checked, job.summary
    managed = {c.name for c in job.table.columns if c is not None}
    host = settings.host or ""
    state_dir = state_dir_for(path, settings)
    with StateLock(state_dir), contextlib.closing(Ledger(state_dir)) as ledger, \
            shared_budget(ledger, settings) as limiter:
        previous_run, previous = ledger.applied_roster(host)
        valid = [r for r in checked.rows if not r.errors]
        try:
            current, lookups = await _current_state(valid, previous, settings, credentials, limiter)
        except RunAborted as exc:  # nothing was changed; still a result for every row
            summary.aborted = str(exc)
            results = {r.row: invalid_result(r) if r.errors else
                       RowResult(r.row, "sync", r.email, r.org_user_id, "not_attempted", f"not sent: {exc}",
                                 "not-attempted") for r in checked.rows}
            return await _end(job, results, None, [])
        plan = sync.build_plan(checked.rows, managed, current, previous, previous_run, settings)
        changes = [i.row for i in plan.items if i.action in ("add", "update", "remove")]
        plan.requests = lookups + len(plan_batches(changes, settings.batch_size, settings.send_email))
        plan.eta = estimate_seconds(plan.requests, parse_rate(settings.rate))
        for line in sync.describe(plan):
            log.info("plan: %s", line)
        if settings.command == "plan" or settings.dry_run:  # sync --dry-run is a plan: nothing changes
            for item in plan.items:
                summary.counts[(item.action, "planned")] += 1
            if plan.invalid:
                summary.counts[("", "invalid")] += len(plan.invalid)
            written = sync.write_plan(job.out_path, plan, path, summary.input_sha256)
            summary.warnings.extend(sync.describe(plan))
            return JobOutcome(summary, written, EXIT_ROWS_FAILED if plan.invalid else EXIT_OK)
        if settings.plan_file and sync.read_plan_fingerprint(settings.plan_file) != plan.fingerprint:
            summary.aborted = (f"the account or the roster changed since {settings.plan_file} was made: nothing was "
                               "changed; make a new plan and approve it")
        sync.confirm_builder(plan, settings)
        if plan.guards and not summary.aborted:
            summary.aborted = " / ".join(plan.guards)
        results = {r.row: invalid_result(r) for r in plan.invalid}
        report = None
        if summary.aborted:
            log.error("sync refused: %s", summary.aborted)
            for row in changes:
                results[row.row] = RowResult(row.row, row.action, row.email, row.org_user_id, "not_attempted",
                                             f"not sent: {summary.aborted}", "guard")
        else:
            summary.run_id = ledger.create_run(
                command="sync", input_path=summary.input_path, input_sha256=summary.input_sha256, host=host,
                settings=summary.settings, done=list(results.values()),
                rows=[(r.row, r.action, r.email, r.org_user_id, r.key.casefold(), "") for r in changes])
            set_run_id(summary.run_id)
            stop = asyncio.Event()
            timer = _max_runtime_timer(settings, stop)
            with stop_on_signals(stop):
                report = await dispatch_rows(changes, settings, credentials, progress, stop,
                                             hooks=LedgerHooks(ledger, summary.run_id), limiter=limiter)
            report = _stopped(report, stop, timer)
            # The undo file restores users as the plan found them: no second usersInfo needed.
            report.before = {i.row.row: plan.current[i.row.key.casefold()] for i in plan.items
                             if i.action in ("update", "remove") and i.row.key.casefold() in plan.current}
            summary.aborted = report.aborted
            summary.warnings.extend(report.notes)
            results.update(report.results)
        results = sync.sync_results(plan, results)
        if report is not None:
            ledger.set_applied_roster(host, summary.run_id, _applied(plan, results))
    return await _end(job, results, report, [i.row for i in plan.items])


async def _current_state(valid: list[CheckedRow], previous: list[tuple[str, str, str]], settings: JobSettings,
                         credentials: Any, limiter: Any = None) -> tuple[dict[str, dict], int]:
    """usersInfo for the roster's users and the previously applied ones: key → user object."""
    from bulkprov.dispatcher import dispatch_rows

    wanted: dict[str, CheckedRow] = {}
    for r in valid:
        wanted.setdefault(r.key.casefold(), CheckedRow(r.row, "lookup", r.email, r.org_user_id))
    for i, (key, email, org) in enumerate(previous, start=1):
        wanted.setdefault(key, CheckedRow(SYNTHETIC_ROW_BASE + i, "lookup", email, org))
    rows = list(wanted.values())
    if not rows:
        return {}, 0
    report = await dispatch_rows(rows, settings, credentials, limiter=limiter)
    if report.aborted:
        raise RunAborted(f"could not read the account's current state: {report.aborted}; nothing was changed")
    broken = [r for r in report.results.values() if r.status != "success" and r.error_code != "not-found"]
    if broken:
        raise RunAborted(f"could not read the current state of {len(broken)} users ({broken[0].reason}); "
                         "nothing was changed")
    by_row = {r.row: r for r in rows}
    return {by_row[row].key.casefold(): user for row, user in report.users.items()}, report.requests


def _applied(plan, results: dict[int, RowResult]) -> list[tuple[str, str, str]]:
    """The roster as applied now: users that exist as the roster says, and earlier ones not yet removed."""
    applied: dict[str, tuple[str, str, str]] = {}
    for item in plan.items:
        row = item.row
        result = results.get(row.row)
        gone = item.action == "remove" and result is not None and result.status == "success"
        exists = item.action in ("unchanged", "update") or (result is not None and result.status == "success")
        if item.action == "remove" and not gone:
            exists = True
        if exists and not gone:
            applied[row.key.casefold()] = (row.key.casefold(), row.email, row.org_user_id)
    return sorted(applied.values())  # earlier users that usersInfo no longer finds are gone: dropped
