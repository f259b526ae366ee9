"""Where a job's row results come from at its end: held in memory, or read from the ledger as they are written.

A sending run of a million rows never holds a million results: every outcome is in the ledger as it
happens (:class:`~bulkprov.state.ledger.LedgerHooks`), so the result workbook is written from a cursor over
the run's rows, in input order (as ``runs show`` does), merged with what the ledger does not keep: an
invalid row's problems with their columns (from the spool of invalid rows) and the notes of a row that
went through with a changed value.  Rows no request reached are worded here as the dispatcher words them.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from bulkprov.i18n import gettext as _
from bulkprov.jobs.runs import in_flight_result
from bulkprov.model import FAILED_STATUSES, CheckedRow, RowResult, Status
from bulkprov.send.outcomes import unreached
from bulkprov.state.ledger import Ledger, RowRecord


class RowResults:
    """A job's results in input order, as often as they are read (the workbook, then its Failures)."""

    def __iter__(self) -> Iterator[RowResult]:
        raise NotImplementedError

    def tally(self, known: Mapping[int, list[str]]) -> tuple[int, int, set[int]]:
        """How many rows, how many need attention, and those of them (from the input) whose cells are not in
        ``known`` (the Failures sheet reads them again from the file)."""
        total, failed, missing = 0, 0, set()
        for r in self:
            total += 1
            if r.status in FAILED_STATUSES:
                failed += 1
                if r.row not in known and not r.ref.synthetic:
                    missing.add(r.row)
        return total, failed, missing


class HeldResults(RowResults):
    """Results in memory (validate's plan, sync, a run without a ledger)."""

    def __init__(self, results: Mapping[int, RowResult]) -> None:
        self.results = results

    def __iter__(self) -> Iterator[RowResult]:
        for row in sorted(self.results):
            yield self.results[row]


class NotSent(RowResults):
    """A run that stopped before anything was sent (the gate, an internal error before the ledger had the run):
    the invalid rows, and every valid row not attempted, for ``reason`` (outcome code ``code``)."""

    def __init__(self, valid: Iterable[CheckedRow], invalid: Iterable[CheckedRow], reason: str, code: str) -> None:
        self.valid, self.invalid, self.reason, self.code = valid, invalid, reason, code

    def __iter__(self) -> Iterator[RowResult]:
        stopped = (RowResult.not_attempted(r, self.reason, self.code) for r in self.valid)
        yield from _merged(stopped, (RowResult.invalid(r) for r in self.invalid))


class LedgerResults(RowResults):
    """A ledgered run's results, read from the ledger.

    ``uncertain``: rows that may have been sent by an earlier process (checked before resending); ``stopped``:
    why the run stopped, if it did (``interrupted``: by a stop request, not an abort) -- what a row still
    pending says."""

    def __init__(self, state_dir: Path, run_id: str, invalid: Iterable[CheckedRow], notes: Mapping[int, str],
                 uncertain: set[int], stopped: str = "", interrupted: bool = False,
                 overlay: Mapping[int, RowResult] | None = None) -> None:
        self.state_dir, self.run_id, self.invalid, self.notes = state_dir, run_id, invalid, notes
        self.uncertain, self.stopped, self.interrupted = uncertain, stopped, interrupted
        self.overlay = overlay or {}  # the last chunk's results as the dispatcher has them (a ledger write failed)

    def __iter__(self) -> Iterator[RowResult]:
        with contextlib.closing(Ledger(self.state_dir)) as ledger:
            recorded = (self._noted(self._result(rec)) for rec in ledger.iter_rows(self.run_id))
            yield from _merged(recorded, (RowResult.invalid(r) for r in self.invalid), prefer_second=True)

    def tally(self, known: Mapping[int, list[str]]) -> tuple[int, int, set[int]]:
        """As :meth:`RowResults.tally`, from the ledger's statuses alone: SQLite counts, and only the rows that
        may need attention come back (no result is made)."""
        total, failed, missing = 0, 0, set()
        with contextlib.closing(Ledger(self.state_dir)) as ledger:
            total, maybe = ledger.rows_needing_attention(self.run_id, FAILED_STATUSES)
            for row, state, status in maybe:
                if row in self.overlay:
                    status = self.overlay[row].status
                elif status is None:  # worded as :meth:`_result` words it
                    status = Status.FAILED if state == "in_flight" or row in self.uncertain else Status.NOT_ATTEMPTED
                if status in FAILED_STATUSES:
                    failed += 1
                    if row not in known:
                        missing.add(row)
        asked = {row for row, _state, _status in maybe}
        for row, result in self.overlay.items():  # what the ledger could not record: a failure it calls a success
            if result.status in FAILED_STATUSES and row not in asked:
                failed += 1
                if row not in known:
                    missing.add(row)
        return total, failed, missing

    def _noted(self, result: RowResult) -> RowResult:
        note = self.notes.get(result.row) if result.status in (Status.SUCCESS, Status.VALID) else None
        if not note:
            return result
        return dataclasses.replace(result, reason=f"{result.reason}; {note}" if result.reason else note)

    def _result(self, rec: RowRecord) -> RowResult:
        if rec.row in self.overlay:
            return self.overlay[rec.row]
        if rec.status is not None:
            return rec.result()
        if rec.state == "in_flight":
            return in_flight_result(rec, self.stopped or _("the run was interrupted"))
        # A row of a chunk never sent says what the dispatcher says of the unsent rows of its last chunk.
        status, reason, code = unreached(rec.row in self.uncertain, self.stopped, self.interrupted)
        return RowResult.of(rec.result().ref, status, reason, code)


class Merged(RowResults):
    """Two streams of results of different rows as one, in row order (sync: what was sent, from the ledger,
    and the plan's unchanged rows)."""

    def __init__(self, first: RowResults, second: Iterable[RowResult]) -> None:
        self.first, self.second = first, second

    def __iter__(self) -> Iterator[RowResult]:
        yield from _merged(iter(self.first), iter(self.second))


def _merged(first: Iterator[RowResult], second: Iterator[RowResult], *,
            prefer_second: bool = False) -> Iterator[RowResult]:
    """Two streams of results in row order as one; a row in both is given once (``second``'s when preferred)."""
    a, b = next(first, None), next(second, None)
    while a is not None or b is not None:
        if b is None or (a is not None and a.row < b.row):
            yield a  # type: ignore[misc]
            a = next(first, None)
        elif a is None or b.row < a.row:
            yield b
            b = next(second, None)
        else:
            yield b if prefer_second else a
            a, b = next(first, None), next(second, None)
