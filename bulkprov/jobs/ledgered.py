"""Runs recorded in the ledger: the state-directory lock, resume, skip-done, retry-failed, the shared budget.

The network half of a sending command runs here, under the state-directory lock, with every row's
state committed before and after each call (see :mod:`bulkprov.jobs.ledger`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bulkprov.errors import InterruptedRunPending, NothingToResume, RetryOtherFile
from bulkprov.jobs.ledger import Ledger, LedgerHooks, StateLock, payload_hash
from bulkprov.jobs.settings import JobSettings, ProgressFn, state_dir_for
from bulkprov.jobs.stopping import RuntimeLimit, stop_on_signals
from bulkprov.logs import set_run_id
from bulkprov.model import CheckedRow, RowResult, Status
from bulkprov.outputs.results import RunSummary
from bulkprov.send.limiter import RateLimiter, parse_rate

log = logging.getLogger("bulkprov")


async def send_rows(path: Path, settings: JobSettings, checked: list[CheckedRow], known: dict[int, RowResult],
                    summary: RunSummary, credentials: Any, progress: ProgressFn | None):
    """The network half, under the state-directory lock and recorded in the ledger."""
    from bulkprov.send.dispatcher import (  # lazy: validate needs no network stack
        DispatchReport,
        dispatch_rows,
    )

    valid = [r for r in checked if not r.errors]
    stop = asyncio.Event()
    limit = RuntimeLimit(settings.max_runtime).start(stop)
    if not settings.use_ledger:
        with stop_on_signals(stop):
            report = await dispatch_rows(valid, settings, credentials, progress, stop,
                                         snapshot=_wants_snapshot(settings))
        return limit.stopped(report, stop)

    state_dir = state_dir_for(path, settings)
    with StateLock(state_dir) as lock, contextlib.closing(Ledger(state_dir)) as ledger:
        if lock.took_over:
            log.warning("took over a stale lock of pid %s on %s (started %s): that run died",
                        lock.took_over.get("pid"), lock.took_over.get("host"), lock.took_over.get("started"))
        run_id, done, uncertain = open_run(ledger, settings, summary, valid, known)
        set_run_id(run_id)
        to_send = [r for r in valid if r.row not in done]
        with stop_on_signals(stop), shared_budget(ledger, settings) as limiter:
            report = await dispatch_rows(to_send, settings, credentials, progress, stop,
                                         hooks=LedgerHooks(ledger, run_id), uncertain=uncertain,
                                         snapshot=_wants_snapshot(settings), limiter=limiter)
    report = limit.stopped(report, stop)
    merged = dict(done)
    merged.update(report.results)
    return DispatchReport(results=merged, aborted=report.aborted, stop_error=report.stop_error, run_id=run_id,
                          users=report.users, before=report.before, requests=report.requests, notes=report.notes)


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
        ledger.save_requests(host, limiter.recent())


def _wants_snapshot(settings: JobSettings) -> bool:
    """Fetch users before changing or removing them, so the undo file can restore them."""
    return settings.command in ("update", "remove", "apply")


def open_run(ledger: Ledger, settings: JobSettings, summary: RunSummary, valid: list[CheckedRow],
             known: dict[int, RowResult]) -> tuple[str, dict[int, RowResult], set[int]]:
    """Resume the interrupted run, or start a new one (skipping rows earlier runs already did).

    Returns the run id, the rows whose outcome is already final, and the rows that may have been
    sent by a process that died (to verify before sending).
    """
    host = settings.host or ""
    previous = ledger.unfinished_run(settings.command, summary.input_sha256, host)
    if settings.resume:
        if previous is None:
            raise NothingToResume(ledger=str(ledger.path))
        records = ledger.rows(previous.id)
        done = {r.row: r.result() for r in records if r.state == "done" and r.status != "invalid"}
        uncertain = {r.row for r in records if r.state == "in_flight"}
        log.info("resuming run %s: %d rows already done, %d to verify, %d to send", previous.id, len(done),
                 len(uncertain), len(valid) - len(done))
        return previous.id, done, uncertain
    if previous is not None and not settings.force:
        raise InterruptedRunPending(run_id=previous.id, started=previous.started)
    hashes = {r.row: payload_hash(r.action, r.user) for r in valid}
    done: dict[int, RowResult] = {}
    if settings.retry_failed:
        done.update(_not_retried(ledger, settings, summary, valid))
    if not settings.force and settings.command != "lookup":
        earlier = ledger.earlier_successes(host, [(r.key.id, r.action, hashes[r.row]) for r in valid])
        for r in valid:
            hit = earlier.get((r.key.id, r.action, hashes[r.row]))
            if hit and r.row not in done:
                done[r.row] = RowResult.of(r, Status.SKIPPED, _skipped("", run_id=hit[0], when=hit[1]),
                                           "skipped-done")
    run_id = ledger.create_run(
        command=settings.command, input_path=summary.input_path, input_sha256=summary.input_sha256, host=host,
        settings=summary.settings,
        rows=[(r.row, r.action, r.email, r.org_user_id, r.key.id, hashes[r.row]) for r in valid
              if r.row not in done],
        done=[*known.values(), *done.values()], retry_of=settings.retry_failed)
    if done:
        log.info("%d rows skipped: done by earlier runs", len(done))
    return run_id, done, set()


def _skipped(variant: str, **params: Any) -> str:
    from bulkprov.errors import OUTCOME_CODES

    return OUTCOME_CODES["skipped-done"].render(variant, **params)


def _not_retried(ledger: Ledger, settings: JobSettings, summary: RunSummary,
                 valid: list[CheckedRow]) -> dict[int, RowResult]:
    """For a retry of run RUN's failures: every row that did not fail in RUN is skipped."""
    base = ledger.run(settings.retry_failed or "")
    if base.input_sha256 != summary.input_sha256:
        raise RetryOtherFile(run_id=base.id, input=base.input_path)
    failed = {r.row for r in ledger.rows(base.id) if r.status in ("failed", "not_attempted") or r.state != "done"}
    return {r.row: RowResult.of(r, Status.SKIPPED, _skipped("not-retried", run_id=base.id), "skipped-done")
            for r in valid if r.row not in failed}


def record_finish(settings: JobSettings, path: Path, summary: RunSummary, written: Path) -> None:
    with contextlib.closing(Ledger(state_dir_for(path, settings))) as ledger:
        ledger.finish_run(summary.run_id, state="aborted" if summary.aborted else "finished",
                          counts=dict(summary.status_totals()), results_path=str(written))
