"""A job's run in the ledger: its id, resume, skip-done, retry-failed, the shared budget, its finish, refusals
and the undo material.

The sending strategies run under the state-directory lock, with every row's state committed before and
after each call (see :mod:`bulkprov.state.ledger`).  Resuming is safe to ask for always: with an
interrupted run of this file it finishes that run (checking first, with usersInfo, the rows whose outcome
is unknown); without one it starts a new run and says so.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from bulkprov.errors import InterruptedRunPending, RetryOtherFile, RunStopped
from bulkprov.i18n import gettext as _
from bulkprov.jobs.settings import JobSettings, now_text, state_dir_for
from bulkprov.model import Action, CheckedRow, RowResult, Status
from bulkprov.outputs.results import RunSummary
from bulkprov.send.limiter import RateLimiter, parse_rate
from bulkprov.state.ledger import Ledger, LedgerWriteFailed, payload_hash
from bulkprov.state.lock import StateLock
from bulkprov.state.room import check_room

log = logging.getLogger("bulkprov")


@contextlib.contextmanager
def held_state(path: Path, settings: JobSettings, rows: int, out_path: Path, input_sha256: str = "") -> Iterator[None]:
    """The state directory, checked for room and held (one run at a time) from before the first
    request until the result workbook is written: nobody else writes this run's files meanwhile, so
    a temporary file a killed process left behind can be swept."""
    if not settings.use_ledger:
        yield
        return
    state_dir = state_dir_for(path, settings)
    check_room(state_dir, out_path, rows, to_record=rows_to_record(state_dir, settings, input_sha256, rows))
    with StateLock(state_dir) as lock:
        if lock.took_over:
            log.warning(_("took over a stale lock of pid %s on %s (started %s): that run died"),
                        lock.took_over.get("pid"), lock.took_over.get("host"), lock.took_over.get("started"))
            sweep_temporary_files(out_path)
        yield


def rows_to_record(state_dir: Path, settings: JobSettings, input_sha256: str, rows: int) -> int:
    """The rows the ledger has yet to record: with --resume, those the interrupted run has not done."""
    if not settings.resume or not input_sha256 or not (state_dir / "ledger.sqlite3").is_file():
        return rows
    with contextlib.closing(Ledger(state_dir)) as ledger:
        previous = ledger.unfinished_run(settings.command, input_sha256, settings.host or "")
        if previous is None:
            return rows
        done = sum(1 for record in ledger.rows(previous.id) if record.state == "done")
    return max(0, rows - done)


def sweep_temporary_files(out_path: Path) -> None:
    """Remove the half-written files of a process that died while writing this run's outputs."""
    from bulkprov.outputs.results import failures_path
    from bulkprov.outputs.undo import undo_path

    for target in (out_path, undo_path(out_path), failures_path(out_path)):
        for stale in target.parent.glob(f".{target.name}.*.tmp"):
            with contextlib.suppress(OSError):
                stale.unlink()


@contextlib.contextmanager
def shared_budget(ledger: Ledger, settings: JobSettings) -> Iterator[RateLimiter]:
    """One rate limiter for everything a job sends, seeded with the requests earlier runs made to
    the same host and saved back at the end: back-to-back runs (and sync's lookups then changes)
    share the account's windows instead of each starting as if they were empty."""
    limiter = RateLimiter(parse_rate(settings.rate))
    host = settings.host or ""
    limiter.seed(ledger.recent_requests(host))
    try:
        yield limiter
    finally:
        with contextlib.suppress(LedgerWriteFailed):  # a full disk must not hide the run's own outcome
            ledger.save_requests(host, limiter.recent())


def open_run(ledger: Ledger, settings: JobSettings, summary: RunSummary, valid: Iterable[list[CheckedRow]],
             invalid: Iterable[RowResult], valid_count: int,
             to_send: Callable[[list[CheckedRow]], None] | None = None) -> tuple[str, set[int], set[int]]:
    """Resume the interrupted run, or start a new one (skipping rows earlier runs already did).

    ``valid``: the rows to send, a chunk at a time (read once; checked rows, or their plain fields:
    :class:`~bulkprov.state.spool.RowFields`); ``invalid``: the invalid rows' results.
    Returns the run id, the rows whose outcome is already final (the ledger has it), and the rows that may
    have been sent without a known outcome (verified with usersInfo before anything is sent again).  A new
    run is recorded whole, in one transaction, a chunk at a time: nothing per row stays in memory but the
    row numbers of the two sets.  ``to_send`` is shown each chunk's rows still to send (the plan's tally),
    so the rows are read once here.
    """
    host = settings.host or ""
    previous = ledger.unfinished_run(settings.command, summary.input_sha256, host)
    if settings.resume and previous is not None:
        done, uncertain = ledger.resume_state(previous.id)
        ledger.forget_unsettled(previous.id)
        if to_send is not None:
            for chunk in valid:
                to_send([r for r in chunk if r.row not in done])
        log.info(_("resuming run %s: %d rows already done, %d to check first, %d to send"), previous.id, len(done),
                 len(uncertain), valid_count - len(done) - len(uncertain))
        return previous.id, done, uncertain
    if settings.resume:
        log.info(_("no interrupted run of this file for this host: starting a new run"))
    elif previous is not None and not settings.force:
        raise InterruptedRunPending(run_id=previous.id, started=previous.started)
    retried = _retried_rows(ledger, settings, summary)
    ours = {action: ledger.uncertain_keys(host, action) for action in (Action.ADD, Action.REMOVE)}
    done: set[int] = set()
    uncertain: set[int] = set()
    with ledger.new_run(command=settings.command, input_path=summary.input_path, input_sha256=summary.input_sha256,
                        host=host, settings=summary.settings, retry_of=settings.retry_failed,
                        run_id=settings.run_id) as run_id:
        ledger.add_rows_here(run_id, [], invalid)
        for chunk in valid:
            hashes = {r.row: payload_hash(r.action, r.user) for r in chunk}
            finals = _not_retried(chunk, retried, settings.retry_failed) if retried is not None else {}
            if not settings.force and settings.command != "lookup":
                finals.update(_done_before(ledger, host, chunk, hashes, finals))
            sending = [r for r in chunk if r.row not in finals]
            ledger.add_rows_here(run_id, [(r.row, r.action, r.email, r.org_user_id, r.key.id, hashes[r.row])
                                          for r in sending], finals.values(),
                                 {r.row: r.user for r in sending if r.action == Action.UPDATE})
            done.update(finals)
            # Rows an earlier run sent without learning the outcome: "already exists" (add) or "not found"
            # (remove) for them is this tool's own earlier work, a confirmed success.
            uncertain.update(r.row for r in sending if r.key.id in ours.get(r.action, ()))
            if to_send is not None:
                to_send(sending)
    if done:
        log.info(_("%d rows skipped: done by earlier runs"), len(done))
    return run_id, done, uncertain


def _done_before(ledger: Ledger, host: str, chunk: list[CheckedRow], hashes: dict[int, str],
                 finals: dict[int, RowResult]) -> dict[int, RowResult]:
    """The rows of a chunk whose exact change an earlier run already made: ``skipped``."""
    earlier = ledger.earlier_successes(host, [(r.key.id, r.action, hashes[r.row]) for r in chunk])
    out: dict[int, RowResult] = {}
    for r in chunk:
        hit = earlier.get((r.key.id, r.action, hashes[r.row]))
        if hit and r.row not in finals:
            out[r.row] = RowResult.of(r.ref, Status.SKIPPED, _skipped("", run_id=hit[0], when=hit[1]), "skipped-done")
    return out


def _skipped(variant: str, **params: Any) -> str:
    from bulkprov.errors import OUTCOME_CODES

    return OUTCOME_CODES["skipped-done"].render(variant, **params)


def _retried_rows(ledger: Ledger, settings: JobSettings, summary: RunSummary) -> set[int] | None:
    """For a retry of run RUN's failures: the rows that failed (or never finished) in RUN; None otherwise."""
    if not settings.retry_failed:
        return None
    base = ledger.run(settings.retry_failed)
    if base.input_sha256 != summary.input_sha256:
        raise RetryOtherFile(run_id=base.id, input=base.input_path)
    return {r.row for r in ledger.iter_rows(base.id)
            if r.status in (Status.FAILED, Status.NOT_ATTEMPTED) or r.state != "done"}


def _not_retried(chunk: list[CheckedRow], failed: set[int], base: str | None) -> dict[int, RowResult]:
    """Every row that did not fail in the run retried is skipped."""
    return {r.row: RowResult.of(r.ref, Status.SKIPPED, _skipped("not-retried", run_id=base), "skipped-done")
            for r in chunk if r.row not in failed}


def in_flight_result(rec: Any, stopped: str = "") -> RowResult:
    """A row whose request left with no known outcome: ``failed``, ``unverified`` -- never "not sent"."""
    from bulkprov.errors import OUTCOME_CODES

    reason = (OUTCOME_CODES["unverified"].render("sent", stopped=stopped) if stopped
              else OUTCOME_CODES["unverified"].render("in-flight"))
    return RowResult.of(rec.result().ref, Status.FAILED, reason, "unverified", rec.http_status, rec.attempt,
                        rec.batch or "")


# The guards that stop a sync before anything changes: such a night is listed as stopped by the guard.
GUARD_VARIANTS = ("deletes", "deletes-count", "roles", "builder", "plan-changed", "strays", "protected", "rejected")


def run_state(stop_errors: list[RunStopped]) -> tuple[str | None, str | None]:
    """The ledger state a run's stop errors mean (None: from its rows) and the note (the first code)."""
    from bulkprov.errors import GuardStopped, InputChanged, PendingApproval

    note = stop_errors[0].code if stop_errors else None
    if any(isinstance(e, PendingApproval) for e in stop_errors):
        return "awaiting-approval", note
    if any(isinstance(e, GuardStopped) and e.variant in GUARD_VARIANTS for e in stop_errors):
        return "stopped-by-guard", note
    if any(isinstance(e, GuardStopped | InputChanged) for e in stop_errors):
        return "interrupted", note  # the account unreadable, the file rewritten: a later run finishes it
    return None, note


def record_finish(settings: JobSettings, path: Path, summary: RunSummary, written: Path,
                  stop_errors: list[RunStopped] | None = None) -> str:
    state, note = run_state(stop_errors or [])
    from bulkprov._faults import fault_point

    fault_point("finish")
    with contextlib.closing(Ledger(state_dir_for(path, settings))) as ledger:
        return ledger.finish_run(summary.run_id, counts=dict(summary.status_totals()), results_path=str(written),
                                 state=state, note=note)


def invocation_run_id(path: Path, settings: JobSettings) -> str:
    """The id this invocation's lines, webhook and ledger run carry, known before anything is read: the
    interrupted run's own id when ``--resume`` will finish one, else a new id."""
    from bulkprov.errors import BulkprovError
    from bulkprov.io.shared.guard import file_sha256
    from bulkprov.jobs.settings import ROSTER_COMMANDS
    from bulkprov.state.ledger import has_ledger, new_run_id

    if settings.resume and settings.use_ledger and settings.command not in ROSTER_COMMANDS:
        state_dir = state_dir_for(path, settings)
        try:
            if has_ledger(state_dir):
                sha = file_sha256(path)
                with contextlib.closing(Ledger(state_dir)) as ledger:
                    previous = ledger.unfinished_run(settings.command, sha, settings.host or "")
                if previous is not None:
                    return previous.id
        except (OSError, BulkprovError):
            pass  # the run itself says what is wrong with the file or the state directory
    return new_run_id()


def record_refusal(path: Path, settings: JobSettings, error: Exception, started: str) -> None:
    """A run refused before anything was sent (exit 2) is listed in an existing ledger, so ``bulkprov
    runs`` shows every night of a schedule; a state directory that cannot take it is left alone."""
    from bulkprov.errors import BulkprovError
    from bulkprov.io.shared.guard import file_sha256
    from bulkprov.state.ledger import has_ledger

    if not settings.use_ledger or not settings.run_id or settings.dry_run or settings.command in ("validate", "plan"):
        return  # (only runs that change the account are recorded)
    state_dir = state_dir_for(path, settings)
    try:
        if not has_ledger(state_dir):
            return
        try:
            sha = file_sha256(path)
        except OSError:
            sha = ""
        with contextlib.closing(Ledger(state_dir)) as ledger:
            ledger.record_refused(run_id=settings.run_id, command=settings.command, input_path=str(path.resolve()),
                                  input_sha256=sha, host=settings.host or "", settings={"started": started},
                                  code=getattr(error, "code", "") or type(error).__name__)
    except (OSError, BulkprovError, LedgerWriteFailed) as exc:
        log.debug(_("refused run %s not recorded: %s"), settings.run_id, exc)


def write_ledger_undo(ledger: Ledger, run_id: str, path: Path) -> tuple[Path | None, int]:
    """The undo file of a run, from the ledger, streamed: every success of the run (this process's and those
    of the processes it resumed), every change sent with no known outcome (it may have been applied), the
    updates as sent, and the users as they were before.  Returns the file (None when the run changed nothing)
    and its number of rows."""
    from bulkprov.outputs.undo import UndoRows, write_undo

    undo = UndoRows(ledger.before_images([run_id]))
    rows = (cells for row, result in ledger_changes(ledger, run_id) if (cells := undo.of(row, result)) is not None)
    return write_undo(path, rows, undo.notes, run_id), undo.count


def ledger_changes(ledger: Ledger, run_id: str) -> Iterator[tuple[CheckedRow, RowResult]]:
    """The rows of a run that may have changed the account, in input order, as the ledger has them."""
    for rec in ledger.iter_rows(run_id, payloads=True):
        sent = rec.state == "in_flight"  # its request left and no outcome came back: it may be applied
        if not sent and (rec.state != "done" or rec.status != Status.SUCCESS):
            continue
        row = CheckedRow.make(rec.row, Action(rec.action), rec.email, rec.org_user_id, rec.payload)
        yield row, (in_flight_result(rec) if sent else rec.result())


async def report_refusal(path: Path, settings: JobSettings, error: Exception, started: str) -> None:
    """A run that ends without its results (refused, exit 2; or stopped before they were written) still
    leaves its trace: a ``runs`` entry (refused runs, in an existing ledger) and the webhook."""
    from bulkprov.outputs.webhook import notify_event, refusal_body

    if getattr(error, "reported", False):
        return
    error.reported = True  # type: ignore[attr-defined]  # the CLI does not post the same refusal again
    if error.exit_code == 2:
        record_refusal(path, settings, error, started)
    if settings.webhook and settings.command != "validate" and not settings.dry_run:
        await notify_event(settings.webhook, refusal_body(run_id=settings.run_id or "", command=settings.command,
                                                          path=path, started=started, finished=now_text(),
                                                          error=error))
