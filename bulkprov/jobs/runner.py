"""The one runner every command goes through: begin → a strategy per command → end.

Which strategy runs a command is one table (:data:`STRATEGIES`, chosen by :func:`strategy_of`):

* ``check`` -- ``validate`` and ``--dry-run``: one streaming pass, nothing sent (:mod:`bulkprov.jobs.checkonly`);
* ``send`` -- add, update, remove, lookup and apply: the one gate, then the ledgered dispatcher
  (:mod:`bulkprov.jobs.sending`);
* ``sync`` -- plan and sync: read the account, diff, guard, then send (:mod:`bulkprov.jobs.syncing`).

Each strategy runs in the same frame (:mod:`bulkprov.jobs.frame`): *begin* loads and checks the file and
fails early on an unwritable result path; *end* writes the undo file, the result workbook, the ledger's
bookkeeping and the webhook.  Around every strategy the account's policy and audit trail are prepared and a
refused run is recorded.  This is the library API the CLI and the page are thin layers over::

    from bulkprov.jobs import JobSettings, run_job
    outcome = run_job("users.xlsx", JobSettings(command="validate"))
    print(outcome.exit_code, outcome.results_path)
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bulkprov import i18n
from bulkprov.errors import BadConfig, BulkprovError
from bulkprov.jobs.checkonly import check_only
from bulkprov.jobs.frame import Context
from bulkprov.jobs.runs import invocation_run_id, report_refusal
from bulkprov.jobs.sending import send
from bulkprov.jobs.settings import (
    COMMANDS,
    ROSTER_COMMANDS,
    ConfirmFn,
    JobOutcome,
    JobSettings,
    ProgressFn,
    now_text,
)
from bulkprov.jobs.stopping import RuntimeLimit, stop_on_signals
from bulkprov.jobs.syncing import sync
from bulkprov.logs import set_run_id

Strategy = Callable[[Path, JobSettings, Context], Awaitable[JobOutcome]]

STRATEGIES: dict[str, Strategy] = {
    "check": check_only,  # validate, --dry-run: checked and written, nothing sent
    "send": send,         # add, update, remove, lookup, apply
    "sync": sync,         # plan, sync: diffed against the account
}


def strategy_of(settings: JobSettings) -> str:
    """The strategy a command runs: plan and sync diff (a dry run of sync is a plan), validate and every
    other dry run check only, the rest send."""
    if settings.command in ROSTER_COMMANDS:
        return "sync"
    if settings.command == "validate" or settings.dry_run:
        return "check"
    return "send"


def run_job(path: str | Path, settings: JobSettings, *, credentials: Any = None,
            progress: ProgressFn | None = None, confirm: ConfirmFn | None = None) -> JobOutcome:
    """Run one command over one file, synchronously (an event loop is started when needed)."""
    return asyncio.run(run_job_async(path, settings, credentials=credentials, progress=progress, confirm=confirm))


async def run_job_async(path: str | Path, settings: JobSettings, *, credentials: Any = None,
                        progress: ProgressFn | None = None, confirm: ConfirmFn | None = None) -> JobOutcome:
    """The whole job under one stop event: a stop request while the workbook is being written lets
    the write finish (no half-written file, no ``.tmp`` left behind)."""
    if settings.command not in COMMANDS:
        raise BadConfig("unknown-command", command=settings.command)
    path = Path(path)
    started = now_text()
    if not settings.run_id:  # the CLI chose it already, to print its own first lines under it
        settings = dataclasses.replace(settings, run_id=invocation_run_id(path, settings))
    set_run_id(settings.run_id or "")
    ctx = Context(credentials, progress, confirm)
    ctx.limit = RuntimeLimit(settings.max_runtime)
    with i18n.using(settings.lang), stop_on_signals(ctx.stop):
        ctx.limit.start(ctx.stop)
        try:
            from bulkprov.approvals.record import prepare, record_refused, record_run

            try:
                settings = prepare(settings, credentials)  # the account, its current policy, a writable trail
            except BulkprovError as exc:
                await report_refusal(path, settings, exc, started)
                raise
            try:
                outcome = await STRATEGIES[strategy_of(settings)](path, settings, ctx)
            except BulkprovError as exc:
                record_refused(settings, path, exc)
                await report_refusal(path, settings, exc, started)
                raise
            if outcome.audit_head is None:  # a plan, which ends without end(): recorded all the same
                outcome.audit_head = record_run(settings, outcome.summary, outcome.exit_code, outcome.stop_errors)
            return outcome
        finally:
            ctx.limit.cancel()
