"""``plan`` and ``sync`` as a strategy of the runner: read the account, diff, guard, then send.

``plan`` writes the plan workbook and changes nothing (``sync --dry-run`` is a plan too); ``sync``
executes exactly that plan through the same dispatcher as every other command, under the same
state-directory lock and ledger.  A guard stops the whole sync before anything changes (exit 3);
the front end's ``confirm`` callback may lift the Builder guard (the CLI asks on a terminal).
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Any

from bulkprov.approvals.flow import gate
from bulkprov.errors import OUTCOME_CODES, GuardStopped, RunStopped
from bulkprov.i18n import gettext as _
from bulkprov.jobs.ledger import Ledger, LedgerHooks
from bulkprov.jobs.ledgered import held_state, shared_budget
from bulkprov.jobs.runner import Context, Job, begin, end
from bulkprov.jobs.settings import (
    EXIT_OK,
    EXIT_ROWS_FAILED,
    ConfirmFn,
    JobOutcome,
    JobSettings,
    state_dir_for,
)
from bulkprov.logs import set_run_id
from bulkprov.model import SYNTHETIC_ROW_BASE, CheckedRow, RowResult, Status
from bulkprov.send.batches import estimate_seconds, plan_batches
from bulkprov.send.limiter import parse_rate
from bulkprov.sync import listing as sync_listing
from bulkprov.sync import plan as planning
from bulkprov.sync import strays
from bulkprov.sync.workbook import describe, read_plan_fingerprint, write_plan

log = logging.getLogger("bulkprov.sync")


async def run_sync(path: Path, settings: JobSettings, ctx: Context) -> JobOutcome:
    """``plan`` writes the plan workbook; ``sync`` executes it."""
    from bulkprov.send.dispatcher import dispatch_rows

    job = begin(path, settings, "xlsx" if settings.command == "plan" or settings.dry_run else settings.results_format)
    checked, summary = job.checked, job.summary
    managed = {c.name for c in job.table.columns if c is not None}
    host = settings.host or ""
    state_dir = state_dir_for(path, settings)
    with held_state(path, settings, len(checked.rows), job.out_path), \
            contextlib.closing(Ledger(state_dir)) as ledger, shared_budget(ledger, settings) as limiter:
        previous_run, previous = ledger.applied_roster(host)
        try:
            current, lookups = await _current_state(checked.valid, previous, settings, ctx.credentials, limiter)
            account = await strays.read_account(settings, ctx.credentials, limiter)
        except RunStopped as exc:  # nothing was changed; still a result for every row
            return await _nothing_changed(job, exc)
        remembered = ledger.applied_fields(host)
        listing = account.listing if account is not None else None
        if listing is None and sync_listing.needs_org_ids(checked.valid, managed, current, remembered):
            listing = await sync_listing.read_listing(settings, ctx.credentials, limiter)
            lookups += listing.requests if listing is not None else 0
        if listing is not None:
            current = sync_listing.with_listing(current, listing)
        plan = planning.build_plan(checked.rows, managed, current, previous, previous_run, settings,
                                   remembered=remembered)
        strays.add_to_plan(plan, checked.rows, account, settings)
        lookups += (account.requests if account else 0) + await strays.fetch_details(plan, settings, ctx.credentials,
                                                                                    limiter)
        changes = [i.row for i in plan.items if i.action in ("add", "update", "remove")]
        plan.requests = lookups + len(plan_batches(changes, settings.batch_size, settings.send_email))
        plan.eta = estimate_seconds(plan.requests, parse_rate(settings.rate))
        for line in describe(plan, guards=False):  # a guard is said once, when the run stops for it
            log.info(_("plan: %s"), line)
        if settings.command == "plan" or settings.dry_run:  # sync --dry-run is a plan: nothing changes
            return _planned(job, plan, path)
        refusals = await gate(_refusals(plan, settings, ctx.confirm), plan, settings, state_dir, path,
                              summary.input_sha256)  # four eyes: a pending request, or an approved plan
        results = {r.row: RowResult.invalid(r) for r in plan.invalid}
        report = None
        if refusals:
            summary.aborted = " / ".join(r.message for r in refusals)
            job.stop_errors.extend(refusals)
            for row in changes:
                results[row.row] = RowResult.of(row, Status.NOT_ATTEMPTED,
                                                OUTCOME_CODES["guard"].render(stopped=summary.aborted), "guard")
        else:
            summary.run_id = ledger.create_run(
                command="sync", input_path=summary.input_path, input_sha256=summary.input_sha256, host=host,
                settings=summary.settings, done=list(results.values()),
                rows=[(r.row, r.action, r.email, r.org_user_id, r.key.id, "") for r in changes],
                payloads={r.row: r.user for r in changes if r.action == "update"})
            for item in plan.items:  # the undo file restores users as the plan found them, after any crash
                if item.action in ("update", "remove") and item.row.key.id in plan.current:
                    ledger.keep_before_image(summary.run_id, item.row.row, plan.current[item.row.key.id])
            set_run_id(summary.run_id)
            report = await dispatch_rows(changes, settings, ctx.credentials, ctx.progress, ctx.stop,
                                         hooks=LedgerHooks(ledger, summary.run_id), limiter=limiter)
            report = ctx.stopped(report)
            if report.stop_error is not None:
                job.stop_errors.append(report.stop_error)
            # The undo file restores users as the plan found them: no second usersInfo needed.
            report.before = {i.row.row: plan.current[i.row.key.id] for i in plan.items
                             if i.action in ("update", "remove") and i.row.key.id in plan.current}
            summary.aborted = report.aborted
            summary.warnings.extend(report.notes)
            results.update(report.results)
        results = planning.sync_results(plan, results)
        if report is not None:
            ledger.set_applied_roster(host, summary.run_id, _applied(plan, results),
                                      planning.applied_fields(plan, results, ledger.applied_fields(host)))
    strays_sheet = [("Strays", *strays.strays_sheet(plan))] if plan.strays is not None else None
    return await end(job, results, report, [i.row for i in plan.items], extra=strays_sheet)


def _refusals(plan: planning.Plan, settings: JobSettings, confirm: ConfirmFn | None) -> list[GuardStopped]:
    """Why the sync must not run (a changed approved plan, the guards); empty to go ahead."""
    if settings.plan_file and read_plan_fingerprint(settings.plan_file) != plan.fingerprint:
        return [GuardStopped("plan-changed", plan=str(settings.plan_file))]
    builder = [g for g in plan.guards if g.variant == "builder"]
    if builder and confirm is not None and confirm("builder", builder[0].params["count"]):
        settings.allow_builder = builder[0].params["count"]
        plan.guards = [g for g in plan.guards if g.variant != "builder"]
    return list(plan.guards)


def _planned(job: Job, plan: planning.Plan, path: Path) -> JobOutcome:
    summary = job.summary
    for item in plan.items:
        summary.counts[(item.action, Status.PLANNED.value)] += 1
    if plan.invalid:
        summary.counts[("", Status.INVALID.value)] += len(plan.invalid)
    written = write_plan(job.out_path, plan, path, summary.input_sha256)
    summary.plan.extend(describe(plan))
    results = {r.row: RowResult.invalid(r) for r in plan.invalid}
    return JobOutcome(summary, written, EXIT_ROWS_FAILED if plan.invalid else EXIT_OK, None, results)


async def _nothing_changed(job: Job, exc: RunStopped) -> JobOutcome:
    job.summary.aborted = exc.message
    job.stop_errors.append(exc)
    results = {r.row: RowResult.invalid(r) if r.errors else
               RowResult.of(r.as_action("sync"), Status.NOT_ATTEMPTED,
                            OUTCOME_CODES["not-attempted"].render(stopped=exc.message), "not-attempted")
               for r in job.checked.rows}
    return await end(job, results, None, [])


async def _current_state(valid: list[CheckedRow], previous: list[tuple[str, str, str]], settings: JobSettings,
                         credentials: Any, limiter: Any = None) -> tuple[dict[str, dict], int]:
    """usersInfo for the roster's users and the previously applied ones: key → user object."""
    from bulkprov.send.dispatcher import dispatch_rows

    wanted: dict[str, CheckedRow] = {}
    for r in valid:
        wanted.setdefault(r.key.id, CheckedRow.make(r.row, "lookup", r.email, r.org_user_id))
    for i, (key, email, org) in enumerate(previous, start=1):
        wanted.setdefault(key, CheckedRow.make(SYNTHETIC_ROW_BASE + i, "lookup", email, org))
    rows = list(wanted.values())
    if not rows:
        return {}, 0
    report = await dispatch_rows(rows, settings, credentials, limiter=limiter, announce=False)
    if report.aborted:
        raise GuardStopped("account-unreadable", reason=report.aborted)
    broken = [r for r in report.results.values() if r.status != "success" and r.error_code != "not-found"]
    if broken:
        raise GuardStopped("account-unreadable", reason=f"{len(broken)} users: {broken[0].reason}")
    by_row = {r.row: r for r in rows}
    return {by_row[row].key.id: user for row, user in report.users.items()}, report.requests


def _applied(plan: planning.Plan, results: dict[int, RowResult]) -> list[tuple[str, str, str]]:
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
            applied[row.key.id] = (row.key.id, row.email, row.org_user_id)
    return sorted(applied.values())  # earlier users that usersInfo no longer finds are gone: dropped
