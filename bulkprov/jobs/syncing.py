"""``plan`` and ``sync``, the sync strategy of the runner: read the account, diff, guard, then send.

``plan`` writes the plan workbook and changes nothing (``sync --dry-run`` is a plan too); ``sync``
executes exactly that plan through the same dispatcher as every other command, under the same
state-directory lock and ledger.  A guard stops the whole sync before anything changes (exit 3);
the front end's ``confirm`` callback may lift the Builder guard (the CLI asks on a terminal).

Every night leaves a run in the ledger under the id its log lines carry -- a guard's night
(``stopped-by-guard`` / ``awaiting-approval``) and an unreadable account's (``interrupted``) too --
and the roster sync applied follows the ledger: each add, update and removal updates it in the same
transaction that records the row's outcome, so a killed sync's joiners and leavers are known the next
night.
"""

from __future__ import annotations

import contextlib
import dataclasses
import heapq
import itertools
import logging
import math
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from bulkprov.errors import OUTCOME_CODES, GuardStopped, MaxRuntimeTooShort, RunStopped
from bulkprov.i18n import gettext as _
from bulkprov.jobs.frame import Context, Job, Spooled, begin, end
from bulkprov.jobs.rowresults import LedgerResults, Merged, NotSent, RowResults
from bulkprov.jobs.runs import held_state, shared_budget
from bulkprov.jobs.settings import (
    ATTENTION_KEPT,
    EXIT_OK,
    EXIT_ROWS_FAILED,
    ConfirmFn,
    JobOutcome,
    JobSettings,
    state_dir_for,
)
from bulkprov.model import NOT_ATTEMPTED_CODE, SYNTHETIC_ROW_BASE, Action, CheckedRow, RowResult, Status
from bulkprov.send.batches import PlanTally, estimate_seconds
from bulkprov.send.limiter import parse_rate
from bulkprov.state.ledger import Ledger, LedgerHooks
from bulkprov.sync import listing as sync_listing
from bulkprov.sync import plan as planning
from bulkprov.sync import strays
from bulkprov.sync.workbook import describe, read_plan_fingerprint, write_plan
from bulkprov.units import format_duration

log = logging.getLogger("bulkprov.sync")

Roster = list[tuple[str, str, str]]  # (key, email, orgUserId) of users sync applied


async def sync(path: Path, settings: JobSettings, ctx: Context) -> JobOutcome:
    """``plan`` writes the plan workbook; ``sync`` executes it.  The roster's checked rows wait in a spool
    on disk (as a sending command's do) and the plan reads them back: a first sync of a million users holds
    one byte per add, not the rows (#30)."""

    if settings.resume:
        log.info(_("a sync always starts from the account as it is now: there is no run to resume, nothing is "
                   "done twice"))
    job = await begin(path, settings, "xlsx" if settings.command == "plan" or settings.dry_run else settings.results_format,
                      ctx.credentials, spool=state_dir_for(path, settings))
    try:
        return await _sync(path, settings, ctx, job)
    finally:
        job.checked.close()


async def _sync(path: Path, settings: JobSettings, ctx: Context, job: Job) -> JobOutcome:
    rows, summary = job.checked, job.summary
    assert isinstance(rows, Spooled)  # noqa: S101 - sync always spools (begin above)
    managed = {c.name for c in job.table.columns if c is not None}
    host = settings.host or ""
    state_dir = state_dir_for(path, settings)
    with held_state(path, settings, len(rows.valid) + len(rows.invalid), job.out_path), \
            contextlib.closing(Ledger(state_dir)) as ledger, shared_budget(ledger, settings) as limiter:
        syncing = settings.command == "sync" and not settings.dry_run
        if syncing:
            ledger.mark_dead_runs()  # under the lock: a run still "running" here died
            _record_run(ledger, job)  # listed from now on, whatever stops it
        previous_run, previous = ledger.applied_roster(host)
        previous = _with_maybe_added(previous, ledger.maybe_added_by_sync(host))
        first_sync = not previous
        keys = planning.roster_keys(rows.valid) if previous else None  # nobody to remove on a first sync
        _check_runtime(len(rows.valid), keys, previous, settings, first_sync)
        try:
            current, lookups = await _current_state(rows.valid, previous, keys, settings, ctx.credentials, limiter)
            account = await strays.read_account(settings, ctx.credentials, limiter)
            if first_sync:
                lookups += await _warn_if_state_lost(job, settings, ctx.credentials, limiter, current, account)
        except RunStopped as exc:  # nothing was changed; still a result for every row
            return await _nothing_changed(job, exc, ledger if syncing else None)
        held = planning.hold_ambiguous_rows(rows.valid.fields(), rows.invalid, previous, current)  # what the account says counts
        remembered = ledger.applied_fields(host)
        listing = account.listing if account is not None else None
        if listing is None and sync_listing.needs_org_ids(rows.valid.fields(), managed, current, remembered):
            listing = await sync_listing.read_listing(settings, ctx.credentials, limiter)
            lookups += listing.requests if listing is not None else 0
        if listing is not None:
            current = sync_listing.with_listing(current, listing)
        plan = planning.build_plan(rows.valid, rows.invalid, held, managed, current, previous, previous_run, settings,
                                   remembered=remembered, keys=None if held else keys)
        strays.add_to_plan(plan, itertools.chain(rows.valid.fields(), rows.invalid), account, settings)
        lookups += (account.requests if account else 0) + await strays.fetch_details(plan, settings, ctx.credentials,
                                                                                    limiter)
        tally = _tally(plan, settings)
        plan.requests = lookups + tally.requests
        plan.eta = estimate_seconds(plan.requests, parse_rate(settings.rate))
        for line in describe(plan, guards=False):  # a guard is said once, when the run stops for it
            log.info(_("plan: %s"), line)
        if not syncing:  # plan, and sync --dry-run: nothing changes
            return _planned(job, plan, path)
        job.check_unchanged_before_sending()  # a roster still being written is never applied (exit 2)
        refused, settings = _refusals(plan, settings, ctx.confirm)
        job.settings = settings  # a yes at the terminal is an override: the run's audit record names it
        refusals = await _gate(refused, plan, settings, path, summary.input_sha256,
                               job)  # four eyes: a pending request, or an approved plan
        report = None
        if refusals:
            summary.aborted = " / ".join(r.message for r in refusals)
            job.stop_errors.extend(refusals)
            stopped = NotSent(_Changes(plan), plan.invalid, OUTCOME_CODES["guard"].render(stopped=summary.aborted),
                              "guard")
            ledger.add_rows(summary.run_id, [], iter(stopped))  # a guard's night, with its rows
            results: RowResults = Merged(stopped, planning.unchanged_results(plan))
        else:
            report, results = await _send_plan(plan, tally, job, ctx, ledger, host, limiter)
            job.changed_after_sending()  # exit 3: what was applied is in the ledger, nothing more
    strays_sheet = [("Strays", *strays.strays_sheet(plan))] if plan.strays is not None else None
    return await end(job, results, report, [], extra=strays_sheet)


class _Changes:
    """The plan's changes as rows, in row order, as often as they are read: the adds (from the spool)
    merged with the updates, then the removals."""

    def __init__(self, plan: planning.Plan) -> None:
        self.plan = plan

    def __iter__(self) -> Iterator[CheckedRow]:
        changed = sorted(self.plan.changed_rows(), key=lambda r: r.row)
        return heapq.merge(self.plan.adds, changed, key=lambda r: r.row)


def _tally(plan: planning.Plan, settings: JobSettings) -> PlanTally:
    """The plan's requests, counted (the adds read as plain fields: no objects made)."""
    tally = PlanTally(settings.batch_size, settings.send_email)
    tally.add(plan.adds.fields())
    tally.add(plan.changed_rows())
    return tally


def _change_chunks(plan: planning.Plan, hooks: SyncHooks) -> Iterator[list[CheckedRow]]:
    """What the sync sends: the adds as the spool gives them back (the hooks told of each piece's users, to
    remember once applied), then the updates and removals.  The dispatcher gathers them into chunks of whole
    batches itself (:class:`~bulkprov.send.batches.SendChunks`)."""
    from bulkprov.send.chunked import SEND_CHUNK  # lazy: validate loads no network stack

    for adds in plan.adds.chunks():
        if adds:
            hooks.expect(adds)
            yield adds
    changed = plan.changed_rows()
    for i in range(0, len(changed), SEND_CHUNK):
        yield changed[i:i + SEND_CHUNK]


async def _send_plan(plan: planning.Plan, tally: PlanTally, job: Job, ctx: Context, ledger: Ledger,
                     host: str, limiter: Any) -> tuple[Any, RowResults]:
    """The plan's changes, recorded in the ledger (one transaction) and sent chunk by chunk through one
    dispatcher (:func:`~bulkprov.send.chunked.dispatch_chunks`), the applied roster kept in step as each
    settles (:class:`SyncHooks`).  The results are read back from the ledger, with the plan's unchanged rows."""
    from bulkprov.send.chunked import dispatch_chunks

    summary, settings = job.summary, job.settings
    run_id = summary.run_id
    changed = plan.changed_rows()
    recorded = itertools.chain(((f.row, f.action, f.email, f.org_user_id, f.key.id, "") for f in plan.adds.fields()),
                               ((r.row, r.action, r.email, r.org_user_id, r.key.id, "") for r in changed))
    ledger.add_rows(run_id, recorded, (RowResult.invalid(r) for r in plan.invalid),
                    {r.row: r.user for r in changed if r.action == Action.UPDATE})
    for item in plan.items:  # the undo file restores users as the plan found them, after any crash
        if item.action in ("update", "remove") and item.row.key.id in plan.current:
            ledger.keep_before_image(run_id, item.row.row, plan.current[item.row.key.id])
    ledger.set_applied_roster(host, run_id, _applied(plan, {}),
                              planning.applied_fields(plan, {}, ledger.applied_fields(host)))
    hooks = SyncHooks(ledger, run_id, plan, host)
    report = await dispatch_chunks(_change_chunks(plan, hooks), settings, ctx.credentials, hooks=hooks,
                                   plan=tally.describe(settings.concurrency, parse_rate(settings.rate)),
                                   total=tally.rows, progress=ctx.progress, stop=ctx.stop, limiter=limiter)
    # What a row no request reached says, as the dispatcher says it (before the stop is named below).
    stopped = report.aborted or _("the run was interrupted")
    interrupted = ctx.stop.is_set() and not report.aborted
    report = ctx.stopped(report)
    if report.stop_error is not None:
        job.stop_errors.append(report.stop_error)
    summary.aborted = report.aborted
    summary.warnings.extend(report.notes)
    sent = LedgerResults(state_dir_for(job.path, settings), run_id, plan.invalid, job.checked.notes, set(), stopped,
                         interrupted, overlay=report.results)
    return report, Merged(sent, planning.unchanged_results(plan))


class SyncHooks(LedgerHooks):
    """The ledger's hooks, and the applied roster kept in step: a row's outcome and what it means for
    the roster sync applied are committed in one transaction (see :meth:`Ledger.settle_sync`).  An add's
    user is held from the chunk that sends it until that chunk is done (:meth:`expect`, :meth:`forget`)."""

    def __init__(self, ledger: Ledger, run_id: str, plan: planning.Plan, host: str) -> None:
        super().__init__(ledger, run_id)
        self.host = host
        self.items = {i.row.row: i for i in plan.items}
        self.adds: dict[int, CheckedRow] = {}

    def expect(self, adds: list[CheckedRow]) -> None:
        self.adds.update((r.row, r) for r in adds)

    def forget(self, rows: list[Any]) -> None:
        for r in rows:
            self.adds.pop(r.row, None)

    def settled(self, results: list[RowResult]) -> None:
        applied: list[tuple[str, str, str, dict[str, Any] | None]] = []
        gone: list[str] = []
        for result in results:
            if result.status != Status.SUCCESS:
                continue
            add = self.adds.get(result.row)
            if add is not None:
                applied.append((add.key.id, add.email, add.org_user_id, planning.desired_fields(add.user)))
                continue
            item = self.items.get(result.row)
            if item is None:
                continue
            row = item.row
            if item.action == "remove":
                gone.append(row.key.id)
            elif item.desired is not None:
                applied.append((row.key.id, row.email, row.org_user_id, planning.desired_fields(item.desired)))
        self.ledger.settle_sync(self.run_id, results, self.host, applied, gone)


def _record_run(ledger: Ledger, job: Job) -> None:
    """The night's run in the ledger, under the id its lines already carry (its rows come with the plan)."""
    summary, settings = job.summary, job.settings
    summary.run_id = ledger.create_run(
        command="sync", input_path=summary.input_path, input_sha256=summary.input_sha256,
        host=settings.host or "", settings=summary.settings, done=[], rows=[], run_id=settings.run_id)


def _with_maybe_added(previous: Roster, maybe: Roster) -> Roster:
    """The applied roster plus the users an unfinished sync may have added without learning it (its
    reply was lost, then the process died): the account says tonight whether they exist."""
    known = {key for key, _e, _o in previous}
    return previous + [u for u in maybe if u[0] not in known]


def _check_runtime(valid: int, keys: set[str] | None, previous: Roster, settings: JobSettings,
                   first_sync: bool) -> None:
    """Before any request: a run-time limit shorter than reading the account can never make progress
    (every night would stop before its first change), so it is refused with the time a night needs.
    ``valid`` rows name as many users (a key twice makes a row invalid); ``keys``: theirs, when some user
    was applied before."""
    if not settings.max_runtime:
        return
    users = valid + sum(1 for key, _e, _o in previous if keys is None or key not in keys)
    requests = math.ceil(users / max(1, settings.batch_size)) + (1 if first_sync else 0)
    windows = parse_rate(settings.rate)
    needed = estimate_seconds(requests, windows) if windows else 0.0
    if needed > settings.max_runtime:
        raise MaxRuntimeTooShort(needed=format_duration(needed), requests=requests, rate=settings.rate,
                                 limit=format_duration(settings.max_runtime))


async def _warn_if_state_lost(job: Job, settings: JobSettings, credentials: Any, limiter: Any,
                              current: dict[str, dict], account: strays.Account | None) -> int:
    """No applied roster for this host, yet the account already holds users the roster does not
    mention: if an earlier sync provisioned them, its state directory was lost, and leavers will never be
    removed.  Said loudly (a warning on the console, in the Summary and the webhook).  Returns the
    requests made (one page of the listing, for the account's size)."""
    requests, total = 0, None
    if account is not None and account.listing is not None:
        total = account.listing.total if account.listing.total is not None else len(account.listing.users)
    else:
        requests, total = await strays.account_size(settings, credentials, limiter)
    found = sum(1 for r in job.checked.valid.fields() if r.key.id in current) if current else 0
    unmentioned = None if total is None else max(0, total - found)
    if unmentioned:
        message = _("this is the first sync recorded in {state_dir}, yet the account already holds {count} users "
                    "this roster does not mention: they will never be removed by sync. If an earlier sync "
                    "provisioned them, its state directory was lost (check state_dir)").format(
            state_dir=state_dir_for(job.path, settings), count=unmentioned)
    elif total is None and found and found >= max(10, len(job.checked.valid) // 2):
        message = _("this is the first sync recorded in {state_dir}, yet {count} of the roster's users already "
                    "exist: if an earlier sync provisioned them, its state directory was lost (check state_dir), "
                    "and the users it provisioned who left will never be removed").format(
            state_dir=state_dir_for(job.path, settings), count=found)
    else:
        return requests
    hint = settings.phrasing.hint("strays")
    text = f"{message}; {hint}" if hint else message
    log.warning(text)
    job.summary.warnings.append(text)
    return requests


def _refusals(plan: planning.Plan, settings: JobSettings,
              confirm: ConfirmFn | None) -> tuple[list[GuardStopped], JobSettings]:
    """Why the sync must not run (a changed approved plan, the guards; empty to go ahead), and the run's
    settings with a yes at the terminal as its Builder override (a new object: settings are never edited)."""
    if settings.plan_file and read_plan_fingerprint(settings.plan_file) != plan.fingerprint:
        return [GuardStopped("plan-changed", plan=str(settings.plan_file))], settings
    builder = [g for g in plan.guards if g.variant == "builder"]
    if builder and confirm is not None and confirm("builder", builder[0].params["count"]):
        settings = dataclasses.replace(settings, allow_builder=builder[0].params["count"])
        plan.guards = [g for g in plan.guards if g.variant != "builder"]
    return list(plan.guards), settings


async def _gate(refusals: list[RunStopped], plan: planning.Plan, settings: JobSettings, path: Path,
                input_sha256: str, job: Job) -> list[RunStopped]:
    """sync's plan through the one gate (:mod:`bulkprov.approvals.gate`): its guards judged as every command's are."""
    from bulkprov.approvals.gate import approval_fingerprint, effective_policy, judge

    other = [r for r in refusals if not (isinstance(r, GuardStopped) and r.variant in ("deletes", "roles", "builder"))]
    if other:  # a changed approved plan file, an unreadable account: nothing to approve
        return other
    policy = effective_policy(settings)
    bare = dataclasses.replace(settings, allow_deletes=None, allow_builder=None, allow_role_removals=None,
                               max_deletes=policy.max_deletes, max_delete_percent=policy.max_delete_percent,
                               builder_confirm=policy.builder_confirm)
    guards = planning.guard_violations(plan, bare)
    summary = {"counts": {**{a: plan.count(a) for a in ("add", "update", "remove", "unchanged")}, "emails": plan.emails},
               "removals": [i.row.email or i.row.org_user_id for i in plan.of("remove")][:10_000],
               "builders": plan.builder_keys(10_000),
               "changes": [[i.row.email or i.row.org_user_id, c.field, c.old, c.new]
                           for i in plan.of("update") for c in i.changes][:10_000]}
    verdict = await judge(guards, settings, policy, approval_fingerprint(settings, plan.fingerprint),
                          input_name=settings.input_name or path.name, input_sha256=input_sha256, summary=summary)
    job.approved = verdict.approved  # the approval this run consumed: its audit record names it
    return verdict.stops


def _planned(job: Job, plan: planning.Plan, path: Path) -> JobOutcome:
    summary = job.summary
    for item in plan.items:
        summary.counts[(item.action, Status.PLANNED)] += 1
    if plan.adds:
        summary.counts[("add", Status.PLANNED)] += len(plan.adds)
    if plan.invalid:
        summary.counts[("", Status.INVALID)] += len(plan.invalid)
    written = write_plan(job.out_path, plan, path, summary.input_sha256)
    summary.plan.extend(describe(plan))
    attention = list(itertools.islice((RowResult.invalid(r) for r in plan.invalid), ATTENTION_KEPT))
    return JobOutcome(summary, written, EXIT_ROWS_FAILED if plan.invalid else EXIT_OK, None, attention)


async def _nothing_changed(job: Job, exc: RunStopped, ledger: Ledger | None) -> JobOutcome:
    job.summary.aborted = exc.message
    job.stop_errors.append(exc)
    rows = job.checked
    results = NotSent(_AsSync(rows.valid), rows.invalid, OUTCOME_CODES[NOT_ATTEMPTED_CODE].render(stopped=exc.message),
                      NOT_ATTEMPTED_CODE)
    if ledger is not None:  # listed as interrupted: the next sync finishes it
        ledger.add_rows(job.summary.run_id, [], iter(results))
    return await end(job, results, None, [])


class _AsSync:
    """The valid rows as sync rows (what a night that changed nothing says of them), as often as read."""

    def __init__(self, rows: Iterable[CheckedRow]) -> None:
        self.rows = rows

    def __iter__(self) -> Iterator[CheckedRow]:
        return (r.as_action(Action.SYNC) for r in self.rows)


async def _current_state(valid: Any, previous: Roster, keys: set[str] | None, settings: JobSettings,
                         credentials: Any, limiter: Any = None) -> tuple[dict[str, dict], int]:
    """usersInfo for the roster's users and the previously applied ones: key → user object.

    Sent a chunk at a time through one dispatcher (:func:`~bulkprov.send.chunked.dispatch_chunks`):
    the lookups are made as they are sent and what settles is kept only as far as the plan needs it (the
    users found, the lookups that failed), not a result per user (#30)."""
    from bulkprov.send.chunked import SEND_CHUNK, dispatch_chunks

    rows = _lookup_rows(valid.fields(), previous, keys)
    first = next(rows, None)
    if first is None:
        return {}, 0
    rows = itertools.chain([first], rows)
    lookups = _Lookups()
    chunks = iter(lambda: list(itertools.islice(rows, SEND_CHUNK)), [])
    report = await dispatch_chunks(chunks, settings, credentials, plan=[], total=0, hooks=lookups, limiter=limiter)
    if report.aborted:
        raise GuardStopped("account-unreadable", reason=report.aborted)
    if lookups.broken:
        broken = list(lookups.broken.values())
        raise GuardStopped("account-unreadable", reason=f"{len(broken)} users: {broken[0].reason}")
    return {lookups.found[row]: user for row, user in report.users.items()}, report.requests


def _lookup_rows(valid: Iterable[Any], previous: Roster, keys: set[str] | None) -> Iterator[CheckedRow]:
    """One usersInfo lookup per user: the roster's (each valid row names its own: a key twice makes a row
    invalid), then the earlier applied ones the roster does not name (``keys``: the roster's)."""
    for r in valid:
        yield CheckedRow.make(r.row, Action.LOOKUP, r.email, r.org_user_id)
    for i, (key, email, org) in enumerate(previous, start=1):
        if keys is None or key not in keys:
            yield CheckedRow.make(SYNTHETIC_ROW_BASE + i, Action.LOOKUP, email, org)


class _Lookups:
    """The dispatcher's hooks (:class:`~bulkprov.send.dispatcher.DispatchHooks`) for sync's lookups: what
    sync keeps as they settle -- the key of each user found (by row) and the lookups that failed otherwise
    than "not found" (a later outcome of the same row replaces an earlier one).  Nothing is recorded."""

    def __init__(self) -> None:
        self.found: dict[int, str] = {}
        self.broken: dict[int, RowResult] = {}

    def settled(self, results: list[RowResult]) -> None:
        for r in results:
            if r.status == Status.SUCCESS or r.error_code == "not-found":
                self.broken.pop(r.row, None)
            else:
                self.broken[r.row] = r
            if r.status == Status.SUCCESS:
                self.found[r.row] = r.ref.key.id

    def sending(self, batch_id: str, rows: list[int]) -> None:
        pass

    def before(self, row: int, user: dict[str, Any]) -> None:
        pass

    def forget(self, rows: list[CheckedRow]) -> None:
        pass


def _applied(plan: planning.Plan, results: dict[int, RowResult]) -> Roster:
    """The roster as applied: users that exist as the roster says, and earlier ones not yet removed.
    With no results (before sending), the baseline each settled change then updates."""
    applied: dict[str, tuple[str, str, str]] = {}
    for item in plan.items:
        row = item.row
        result = results.get(row.row)
        gone = item.action == "remove" and result is not None and result.status == Status.SUCCESS
        exists = item.action in ("unchanged", "update") or (result is not None and result.status == Status.SUCCESS)
        if item.action == "remove" and not gone:
            exists = True
        if exists and not gone:
            applied[row.key.id] = (row.key.id, row.email, row.org_user_id)
    return sorted(applied.values())  # earlier users that usersInfo no longer finds are gone: dropped
