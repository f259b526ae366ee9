"""add, update, remove, lookup and apply: the valid rows go through the one gate, then the ledgered dispatcher.

The whole file is judged before anything is sent (:mod:`bulkprov.approvals.gate`); then, under the
state-directory lock, every row's state is committed before and after each call (see
:mod:`bulkprov.jobs.runs`), so a run interrupted at any instant can be resumed without doing anything twice.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Any

from bulkprov.errors import OUTCOME_CODES, BulkprovError, RunStopped, StateDirUnusable
from bulkprov.i18n import gettext as _
from bulkprov.jobs.frame import Context, Job, Spooled, begin, end
from bulkprov.jobs.internal import internal_error
from bulkprov.jobs.migration import say_before_sending
from bulkprov.jobs.rowresults import LedgerResults, NotSent, RowResults
from bulkprov.jobs.runs import held_state, open_run, shared_budget
from bulkprov.jobs.settings import JobOutcome, JobSettings, state_dir_for
from bulkprov.logs import set_run_id
from bulkprov.model import NOT_ATTEMPTED_CODE, CheckedRow, RowResult
from bulkprov.state.ledger import Ledger, LedgerHooks, LedgerWriteFailed

log = logging.getLogger("bulkprov")


async def send(path: Path, settings: JobSettings, ctx: Context) -> JobOutcome:
    """add, update, remove, lookup, apply: the valid rows go through the ledgered dispatcher.

    A ledgered run (the default) keeps no row in memory: the checked rows wait in a spool on disk, the
    ledger records each as it is sent, and the workbook and the undo file are written from the ledger."""
    spool = state_dir_for(path, settings) if settings.use_ledger else None
    scan = _gate_scan(settings) if spool is not None else None  # the gate's pass, made as the rows are checked
    job = await begin(path, settings, settings.results_format, ctx.credentials, spool=spool,
                      observe=scan.add if scan is not None else None)
    try:
        return await _send(path, settings, ctx, job, scan)
    finally:
        job.checked.close()


def _gate_scan(settings: JobSettings) -> Any:
    if not _gated(settings):
        return None
    from bulkprov.approvals.gate import GateScan, effective_policy

    return GateScan(effective_policy(settings), bool(settings.send_email))


def _gated(settings: JobSettings) -> bool:
    """add, update, remove and apply go through the gate; lookup changes nothing."""
    return settings.command != "lookup" and settings.account is not None


async def _send(path: Path, settings: JobSettings, ctx: Context, job: Job, scan: Any = None) -> JobOutcome:
    say_before_sending(job, log)  # another account's export: what cannot be carried, before anything is sent
    checked, summary = job.checked, job.summary
    job.check_unchanged_before_sending()
    rows = len(checked.valid) + len(checked.invalid)
    with held_state(path, settings, rows, job.out_path, summary.input_sha256):
        stops = await _gate(path, settings, job, ctx, scan)  # four eyes: judged whole, before anything is sent
        if stops:
            summary.aborted = " / ".join(s.message for s in stops)
            job.stop_errors.extend(stops)
            reason = OUTCOME_CODES["guard"].render(stopped=summary.aborted)
            return await end(job, NotSent(checked.valid, checked.invalid, reason, "guard"), None, [])
        if not settings.use_ledger:
            return await _send_held(path, settings, ctx, job)
        try:
            report, results = await send_rows(path, settings, job, ctx)
        except BulkprovError:
            raise
        except Exception as exc:  # a bug: still a result for every row, the details in a file, its own exit code
            report = _internal_error(path, settings, exc)
            report.run_id = summary.run_id or ""
            results = _after_internal_error(path, settings, job, report.aborted)
        return await _finish(path, settings, ctx, job, report, results, [])


async def _send_held(path: Path, settings: JobSettings, ctx: Context, job: Job) -> JobOutcome:
    """A run without a ledger (``use_ledger`` off): its rows and results are held in memory."""
    from bulkprov._faults import fault_point
    from bulkprov.send.dispatcher import dispatch_rows  # lazy: validate needs no network stack

    checked = job.checked
    results = {r.row: RowResult.invalid(r) for r in checked.invalid}
    valid = list(checked.valid)
    try:
        fault_point("dispatch")
        report = await dispatch_rows(valid, settings, ctx.credentials, ctx.progress, ctx.stop,
                                     snapshot=_wants_snapshot(settings))
        report = ctx.stopped(report)
    except BulkprovError:
        raise
    except Exception as exc:  # a bug: still a result for every row, the details in a file, its own exit code
        report = _internal_error(path, settings, exc)
    for row in valid:
        if row.row not in report.results:
            report.results[row.row] = RowResult.not_attempted(
                row, OUTCOME_CODES[NOT_ATTEMPTED_CODE].render(stopped=report.aborted))
    results.update(report.results)
    return await _finish(path, settings, ctx, job, report, results, valid)


async def _finish(path: Path, settings: JobSettings, ctx: Context, job: Job, report: Any,
                  results: dict[int, RowResult] | RowResults, sent: list[CheckedRow]) -> JobOutcome:
    """After sending, either way: the report into the summary, the input checked once more, a lookup's
    orgUserIds from the listing, then the frame's end (``sent``: the rows, when held, for the undo file)."""
    summary = job.summary
    summary.aborted = report.aborted
    summary.run_id = report.run_id or summary.run_id
    summary.warnings.extend(report.notes)
    if report.stop_error is not None:
        job.stop_errors.append(report.stop_error)
    job.changed_after_sending()
    users = report.users if settings.command == "lookup" else None
    if users:
        await org_ids_from_listing(users, path, settings, ctx.credentials)
    return await end(job, results, report, sent, users)


def _after_internal_error(path: Path, settings: JobSettings, job: Job, stopped: str) -> RowResults:
    """An internal error's results: what the ledger knows (rows whose request left are "sent, outcome
    unknown", never "not sent"); without a run in the ledger, nothing was sent."""
    checked = job.checked
    if not job.summary.run_id:
        return NotSent(checked.valid, checked.invalid, OUTCOME_CODES[NOT_ATTEMPTED_CODE].render(stopped=stopped),
                       NOT_ATTEMPTED_CODE)
    return LedgerResults(state_dir_for(path, settings), job.summary.run_id, checked.invalid, checked.notes,
                         set(), stopped)


async def _gate(path: Path, settings: JobSettings, job: Job, ctx: Context, scan: Any = None) -> list[RunStopped]:
    """The one gate (:mod:`bulkprov.approvals.gate`) for add, update, remove and apply; lookup changes nothing."""
    if not _gated(settings):
        return []
    from bulkprov.approvals.gate import gate_rows

    resuming = False
    if settings.resume and settings.use_ledger:
        with contextlib.closing(Ledger(state_dir_for(path, settings))) as ledger:
            resuming = ledger.unfinished_run(settings.command, job.summary.input_sha256, settings.host or "") is not None
    checked = job.checked
    rows = checked.valid.light if isinstance(checked, Spooled) else checked.valid  # what the gate reads of them
    verdict = await gate_rows(rows, len(checked.invalid), settings, ctx.credentials, scan=scan,
                              input_name=settings.input_name or path.name, input_sha256=job.summary.input_sha256,
                              confirm=ctx.confirm,
                              resuming=resuming)
    job.approved = verdict.approved  # the approval this run consumed: its audit record names it
    return verdict.stops


async def send_rows(path: Path, settings: JobSettings, job: Job, ctx: Context) -> tuple[Any, RowResults]:
    """The network half, under the state-directory lock and recorded in the ledger: the spooled rows are
    recorded in one transaction, then sent chunk by chunk (:func:`~bulkprov.send.chunked.dispatch_chunks`);
    the results are read back from the ledger."""
    from bulkprov._faults import fault_point
    from bulkprov.send.batches import PlanTally
    from bulkprov.send.chunked import dispatch_chunks  # lazy: validate needs no network stack
    from bulkprov.send.limiter import parse_rate

    checked, summary = job.checked, job.summary
    state_dir = state_dir_for(path, settings)
    with contextlib.closing(Ledger(state_dir)) as ledger:
        try:
            ledger.mark_dead_runs()  # under the lock: a run still "running" here died
            tally = PlanTally(settings.batch_size, settings.send_email)
            run_id, done, uncertain = open_run(ledger, settings, summary, checked.valid.field_chunks(),
                                               (RowResult.invalid(r) for r in checked.invalid), len(checked.valid),
                                               to_send=tally.add)
        except LedgerWriteFailed as exc:  # nothing was sent: the state directory is the problem
            raise StateDirUnusable(state_dir=str(state_dir), reason=str(exc)) from None
        summary.run_id = run_id
        set_run_id(run_id)
        unsent = ([r for r in chunk if r.row not in done] for chunk in checked.valid.chunks())
        fault_point("dispatch")
        with shared_budget(ledger, settings) as limiter:
            report = await dispatch_chunks(unsent, settings, ctx.credentials, hooks=LedgerHooks(ledger, run_id),
                                           plan=tally.describe(settings.concurrency, parse_rate(settings.rate)),
                                           total=tally.rows, progress=ctx.progress, stop=ctx.stop,
                                           uncertain=uncertain, snapshot=_wants_snapshot(settings), limiter=limiter)
    # What a row no request reached says, as the dispatcher says it (before the stop is named below).
    stopped, interrupted = report.aborted, ctx.stop.is_set() and not report.aborted
    report = ctx.stopped(report)
    report.run_id = run_id
    results = LedgerResults(state_dir, run_id, checked.invalid, checked.notes, uncertain, stopped, interrupted,
                            overlay=report.results)
    return report, results


async def org_ids_from_listing(users: dict[int, dict], path: Path, settings: JobSettings, credentials: Any) -> None:
    """A lookup's users with the orgUserId only the account listing gives (the documented usersInfo reply has
    none): read once, when some user lacks it; a refused listing leaves them as they are, said once."""
    missing = [row for row, user in users.items() if not (user.get("userInfo") or {}).get("orgUserId")]
    if not missing or credentials is None or not settings.host:
        return
    from bulkprov.directory.account import AccountDirectory, Budget
    from bulkprov.jobs.names import rate_budget
    from bulkprov.kore import CallFailed, KoreClient
    from bulkprov.kore.listing import list_account, merge_user

    log.info(_("reading the account listing: usersInfo does not give the orgUserIds of %d users"), len(missing))
    with rate_budget(settings, state_dir_for(path, settings)) as limiter:
        async with KoreClient(settings.host, credentials, timeout=settings.timeout) as client:
            pager = AccountDirectory(client, Budget(limiter, settings.max_attempts, settings.rate_wait_cap))
            try:
                listing = await list_account(pager)
            except CallFailed as exc:
                log.warning(_("the account listing could not be read (%s): the lookup's orgUserIds stay blank where "
                              "usersInfo gives none"), exc.message)
                return
    for row in missing:
        listed = listing.user_of(email=str((users[row].get("userInfo") or {}).get("emailId") or ""))
        if listed is not None:
            users[row] = merge_user(listed, users[row])


def _wants_snapshot(settings: JobSettings) -> bool:
    """Fetch users before changing or removing them, so the undo file can restore them."""
    return settings.command in ("update", "remove", "apply")


def _internal_error(path: Path, settings: JobSettings, exc: Exception) -> Any:
    from bulkprov.send.dispatcher import DispatchReport

    log.error(_("internal error during the run: %s"), type(exc).__name__)
    error = internal_error(state_dir_for(path, settings), exc)
    return DispatchReport(results={}, aborted=error.message, stop_error=error)
