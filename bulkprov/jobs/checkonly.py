"""``validate`` and ``--dry-run`` (the check-only strategy) in one streaming pass: read a chunk, check it,
write it, forget it.

Memory does not grow with the file except for the duplicate bookkeeping (a key's hash to its first
row, :class:`bulkprov.check.validator.FirstRows`): rows are read lazily, checked a chunk at a time
(column-wise where equivalent, :mod:`bulkprov.check.columnwise`; row by row where a row needs a message),
and written to the result workbook at once -- the Failures sheet too, from the cells in hand, so the
file is never read twice.  What the caller keeps is the counts (in the summary), the first
:data:`~bulkprov.jobs.settings.ATTENTION_KEPT` rows that need attention, and the plan's group counts.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import logging
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from bulkprov.check.columnwise import Chunk, ColumnChecks
from bulkprov.check.validator import Validator
from bulkprov.i18n import gettext as _
from bulkprov.io import RawRow, Table
from bulkprov.jobs.frame import (
    Context,
    exit_code_for,
    input_hash,
    make_validator,
    next_steps,
    note_names,
    open_job,
)
from bulkprov.jobs.names import AccountNames, account_names
from bulkprov.jobs.settings import ATTENTION_KEPT, JobOutcome, JobSettings, now_text
from bulkprov.model import FAILED_STATUSES, CheckedRow, RowResult, Status
from bulkprov.outputs.results import ResultWriter, RunSummary

log = logging.getLogger("bulkprov")

CHUNK_ROWS = 2048  # rows checked and written together (small enough to stay in the CPU's caches)
VALID = Status.VALID


async def stream_check(table: Table, validator: Validator, writer: ResultWriter, summary: RunSummary,
                       plan: PlanCounts | None = None, names: AccountNames | None = None) -> list[RowResult]:
    """Check every row of ``table`` and write its result; count into ``summary`` (and ``plan``).  A chunk with
    a name the account's directory did not know is checked again after one refresh of it (``names``).

    Returns the first rows that need attention."""
    attention: list[RowResult] = []
    checks = ColumnChecks(validator, table.columns)
    with collector_paused():
        await _stream(table, checks, writer, summary, plan, attention, names)
    return attention


async def _stream(table: Table, checks: ColumnChecks, writer: ResultWriter, summary: RunSummary,
                  plan: PlanCounts | None, attention: list[RowResult], names: AccountNames | None) -> None:
    for rows in chunks(table.rows, CHUNK_ROWS):
        chunk = checks.check(rows)
        if names is not None and checks.validator.refreshable:
            again = await names.check_again(checks.validator, rows)
            chunk.slow.update({p: again[raw.row] for p, raw in enumerate(rows) if raw.row in again})
        if not chunk.slow:
            _write_valid(writer, summary.counts, chunk, 0, len(rows))
        else:
            _write_mixed(writer, summary.counts, chunk, attention)
        if plan is not None:
            plan.add(_valid_rows(chunk))


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cycle collector for the pass: it creates millions of short-lived lists and no
    cycles, so reference counting frees everything, and the collector would only walk the rows in
    hand again and again (about a fifth of the time of a million-row file).  Restored after."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def chunks(rows: Iterator[RawRow], size: int) -> Iterator[list[RawRow]]:
    while batch := list(itertools.islice(rows, size)):
        yield batch


def _write_valid(writer: ResultWriter, counts: Counter, chunk: Chunk, start: int, stop: int) -> None:
    """Rows ``start:stop`` of the chunk, all vouched for by the column-wise checks."""
    actions = chunk.actions[start:stop]
    writer.add_valid(chunk.numbers[start:stop], actions, chunk.emails[start:stop],
                     chunk.org_user_ids[start:stop], VALID)
    if actions and actions[0] == actions[-1] and actions.count(actions[0]) == len(actions):
        counts[(actions[0], VALID)] += len(actions)
    else:
        counts.update(zip(actions, itertools.repeat(VALID)))


def _write_mixed(writer: ResultWriter, counts: Counter, chunk: Chunk, attention: list[RowResult]) -> None:
    """Runs of vouched-for rows at once, the rows checked one by one in between, in input order."""
    start = 0
    for p in sorted(chunk.slow):
        if p > start:
            _write_valid(writer, counts, chunk, start, p)
        row = chunk.slow[p]
        result = RowResult.invalid(row) if row.errors else RowResult.of(row, VALID, "; ".join(row.notes))
        writer.add(result, chunk.rows[p].cells)
        counts[(result.action, result.status)] += 1
        if result.status in FAILED_STATUSES and len(attention) < ATTENTION_KEPT:
            attention.append(result)
        start = p + 1
    if start < len(chunk.rows):
        _write_valid(writer, counts, chunk, start, len(chunk.rows))


def _valid_rows(chunk: Chunk) -> list[CheckedRow]:
    """The chunk's valid rows as the batch planner sees them (``--dry-run`` only)."""
    out = []
    for p in range(len(chunk.rows)):
        row = chunk.slow.get(p)
        if row is None:
            out.append(CheckedRow.make(chunk.numbers[p], chunk.actions[p], chunk.emails[p], chunk.org_user_ids[p],
                                       send_email=chunk.send_email[p]))
        elif not row.errors:
            out.append(row)
    return out


class PlanCounts:
    """The ``--dry-run`` plan, counted a chunk at a time by the real run's own tally
    (:class:`~bulkprov.send.batches.PlanTally`): a million rows cost a few numbers, and the plan said is the
    one a real run says."""

    def __init__(self, settings: JobSettings) -> None:
        from bulkprov.send.batches import PlanTally

        self.settings = settings
        self.tally = PlanTally(settings.batch_size, settings.send_email)

    def add(self, rows: list[CheckedRow]) -> None:
        self.tally.add(rows)

    def lines(self) -> list[str]:
        from bulkprov.send.limiter import parse_rate

        lines = self.tally.describe(self.settings.concurrency, parse_rate(self.settings.rate))
        for line in lines:
            log.info(_("plan (a dry run: nothing is sent): %s"), line)
        return lines


def dry_run_plan(checked: list[CheckedRow], settings: JobSettings) -> list[str]:
    """The plan ``--dry-run`` prints, from rows in memory (the page's preview)."""
    plan = PlanCounts(settings)
    plan.add([r for r in checked if not r.errors])
    return plan.lines()


# -- the strategy ------------------------------------------------------------------------------------------


async def check_only(path: Path, settings: JobSettings, ctx: Context) -> JobOutcome:
    """``validate`` and ``--dry-run``: the same result workbook a real run would write, nothing sent.

    One streaming pass: each chunk of rows is read, checked and written; nothing per row is kept but
    the duplicate bookkeeping and the first rows that need attention (for the outcome)."""
    job = open_job(path, settings, settings.results_format, hash_now=False)
    sha256 = input_hash(path)
    summary = job.summary
    writer = ResultWriter(job.out_path, fmt=settings.results_format, input_headers=job.table.headers,
                          failures=settings.failures_output if settings.results_format == "xlsx" else None)
    try:
        plan = PlanCounts(settings) if settings.dry_run else None
        known = len(job.table.warnings)
        async with account_names(path, settings, ctx.credentials) as names:
            validator = make_validator(job.table, settings, names.directory, deferred=names.deferred)
            attention = await stream_check(job.table, validator, writer, summary, plan, names)
        note_names(summary, names)
        summary.warnings.extend(w.message for w in job.table.warnings[known:])  # found while checking
        if plan is not None:
            summary.plan.extend(plan.lines())
        failures = sum(summary.status_totals()[s] for s in FAILED_STATUSES)
        summary.next_steps = next_steps(settings, summary, job.out_path, job.stop_errors, failures)
        summary.input_sha256 = sha256.result()
        summary.finished = now_text()
    except BaseException:
        writer.abandon()
        raise
    written = writer.close(summary)
    return JobOutcome(summary, written, exit_code_for(summary), None, attention, list(job.stop_errors))
