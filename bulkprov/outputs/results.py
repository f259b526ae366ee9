"""The result writer: every input row accounted for, in a workbook a user can act on.

One writer for every command.  The ``.xlsx`` workbook (SPEC section 7) has ``Summary``,
``Results`` (every non-blank input row once) and ``Failures`` (the failed and invalid rows with
the input's own columns first, so the sheet is itself an input file to fix and run again).
``lookup`` adds a ``Users`` sheet in the template's columns, so its output is an input file.
``--results-format csv|jsonl`` writes the Results rows for pipelines instead.

Rows are written whole, as they come, by :mod:`bulkprov.io.writers.xlsxstream` (our own streaming
writer; docs/DESIGN.md has the measurement against XlsxWriter, pyexcelerate and rustpy-xlsxwriter):
nothing per row stays in memory, and the Failures sheet fills as rows arrive.  Every value that came
from a user is an inline string: a name like ``=HYPERLINK(...)`` stays text.  CSV has no cell types,
so a CSV cell that Excel would run as a formula (leading ``=``, ``@``, or ``+``/``-`` not followed by
a number) gets a leading apostrophe, the OWASP recommendation.  Files are written to a temporary
name and renamed into place (:class:`~bulkprov.io.writers.xlsx.AtomicFile`).
"""

from __future__ import annotations

import csv
import datetime as dt
import itertools
import json
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bulkprov import i18n, units
from bulkprov.errors import OutputUnwritable
from bulkprov.i18n import gettext as _
from bulkprov.io.writers import xlsxstream
from bulkprov.io.writers.xlsx import AtomicFile, check_writable
from bulkprov.io.writers.xlsxcharts import Chart
from bulkprov.io.writers.xlsxstream import ALERT_HEADER, BOLD, TEXT, Sheet, StreamingWorkbook
from bulkprov.model import (
    FAILED_STATUSES,
    STATUSES,
    SYNTHETIC_ROW_BASE,
    Action,
    RowRef,
    RowResult,
    Status,
    UserKey,
)
from bulkprov.schema import RESULT_COLUMNS

__all__ = ["FAILED_STATUSES", "STATUSES", "SYNTHETIC_ROW_BASE", "ResultWriter", "RowResult", "RunSummary",
           "check_writable", "csv_safe", "read_results", "results_path"]

FORMATS = ("xlsx", "csv", "jsonl")
PENDING_ROWS = 2048  # rows added one by one are written in batches of this many


@dataclass
class RunSummary:
    """The Summary sheet: counts, input identity, timing, settings (never secrets), next steps."""

    command: str
    input_path: str
    input_sha256: str
    started: str
    input_name: str = ""  # the input as its owner knows it (an upload's own name), when not its path
    finished: str = ""
    sheet: str | None = None
    settings: dict[str, str] = field(default_factory=dict)
    counts: Counter = field(default_factory=Counter)  # (action, status) -> n
    warnings: list[str] = field(default_factory=list)
    plan: list[str] = field(default_factory=list)      # what a dry run or a plan would do
    aborted: str = ""
    next_steps: list[str] = field(default_factory=list)
    run_id: str = ""
    reasons: Counter = field(default_factory=Counter)  # error code (or status) -> failed rows

    def status_totals(self) -> Counter:
        totals: Counter = Counter()
        for (_action, status), n in self.counts.items():
            totals[status] += n
        return totals


_CSV_FORMULA_RE = re.compile(r"^(?:[=@\t\r]|[+-](?![\d .()]*$))")


def csv_safe(value: str) -> str:
    """Neutralise a cell Excel would evaluate when it opens a CSV."""
    return "'" + value if value and _CSV_FORMULA_RE.match(value) else value


def failures_path(results: Path) -> Path:
    """Where a run's failed rows are written as a workbook of their own (the page offers it)."""
    return results.with_name(results.stem + ".failures.xlsx")


RESULT_SUFFIXES = (".xlsx", ".csv", ".jsonl")


def results_path(path: str | Path, fmt: str) -> Path:
    """The output path with the extension of the chosen format.  A name that asks for another result
    format (``-o other.csv`` for an xlsx workbook), or an extension that is no result format (``-o other.txt``),
    is refused: writing ``other.xlsx`` instead would be a file the user never named.  A name without an
    extension gets the format's."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == f".{fmt}":
        return path
    if suffix in RESULT_SUFFIXES:
        raise OutputUnwritable("format", target=str(path), suffix=suffix.lstrip("."), fmt=fmt)
    if suffix:  # other.txt, other.xls: not silently other.xlsx either
        raise OutputUnwritable("suffix", target=str(path), suffix=suffix.lstrip("."), fmt=fmt)
    return path.with_suffix(f".{fmt}")  # a name without an extension gets the format's


def read_results(path: Path) -> Iterator[RowResult]:
    """The Results rows of a result file we wrote (xlsx, csv or jsonl), in order, as RowResults.

    For a caller that wants more rows than a :class:`~bulkprov.jobs.JobOutcome` keeps in memory.
    Rows without a number (sync's removals of users missing from the roster) are numbered from
    :data:`SYNTHETIC_ROW_BASE` on, as they were when written."""
    path = Path(path)
    synthetic = itertools.count(SYNTHETIC_ROW_BASE + 1)
    for record in _records(path):
        row = record.get("row")
        number = int(row) if row not in (None, "") else next(synthetic)
        http = record.get("http_status")
        yield RowResult(RowRef(number, Action(_text(record.get("action"))),
                               UserKey(_text(record.get("emailId")), _text(record.get("orgUserId")))),
                        Status(_text(record.get("status"))), _text(record.get("reason")), _text(record.get("error_code")),
                        int(http) if http not in (None, "") else None, int(record.get("attempts") or 0),
                        _text(record.get("batch")))


def is_result_file(path: Path) -> bool:
    """True when ``path`` is a result file bulkprov wrote (its sheet names, or its header line, are
    ours): such a file may be replaced by the next run naming it -- a resumed run, a nightly
    ``latest.xlsx`` -- since the ledger can write it again (``runs show``).  An empty file counts
    (there is nothing in it to lose: a jsonl run without rows writes one).  Anything else, or anything
    unreadable, is not ours."""
    import zipfile

    try:
        if not path.is_file():
            return False
        if path.stat().st_size == 0:
            return True
        suffix = path.suffix.lower()
        if suffix in (".csv", ".jsonl"):
            with open(path, encoding="utf-8-sig", errors="replace") as fh:
                first = fh.readline(4096).strip()
            if suffix == ".csv":
                return first == ",".join(RESULT_COLUMNS)
            record = json.loads(first) if first.startswith("{") else {}
            return isinstance(record, dict) and list(record) == list(RESULT_COLUMNS)
        with zipfile.ZipFile(path) as book:
            names = re.findall(r'<sheet name="([^"]*)"', book.read("xl/workbook.xml")[:65536].decode("utf-8", "replace"))
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, RuntimeError, NotImplementedError):
        return False
    return names[:1] == ["Summary"] and {"Results", "Failures"} <= set(names)


def _records(path: Path) -> Iterator[dict[str, Any]]:
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        with open(path, encoding="utf-8") as fh:
            yield from (json.loads(line) for line in fh if line.strip())
    elif suffix == ".csv":
        with open(path, encoding="utf-8-sig", newline="") as fh:
            for record in csv.DictReader(fh):
                yield {k: _csv_unsafe(v) for k, v in record.items()}
    else:
        from python_calamine import CalamineWorkbook

        book = CalamineWorkbook.from_path(str(path))
        if "Results" not in book.sheet_names:  # a plan workbook has no Results sheet
            return
        rows = iter(book.get_sheet_by_name("Results").iter_rows())
        headers = [str(h) for h in next(rows, [])]
        for values in rows:
            yield {h: (int(v) if isinstance(v, float) else v) for h, v in zip(headers, values, strict=False)}


def _csv_unsafe(value: str) -> str:
    """What :func:`csv_safe` was given (a value that itself began with an apostrophe before a
    formula sign reads back without it: the one ambiguity of the apostrophe)."""
    return value[1:] if value.startswith("'") and csv_safe(value[1:]) == value else value


class ResultWriter:
    """Streams row results into the chosen format; :meth:`close` writes the Summary and commits.

    ``input_headers`` are the input file's own headers, for the Failures sheet.  Rows must be
    added in input order.  ``users_headers``, when given, adds a ``Users`` sheet (lookup output);
    ``extra`` sheets whose rows are known from the start go last (sync's ``Strays``).
    """

    def __init__(self, path: str | Path, *, fmt: str = "xlsx", input_headers: list[str] | None = None,
                 users_headers: list[str] | None = None, failures: Path | None = None,
                 extra: list[tuple[str, list[str], list[list]]] | None = None) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"unknown results format {fmt!r}")
        self.fmt = fmt
        self.path = results_path(path, fmt)
        self.input_headers = list(input_headers or [])
        self.users_headers = users_headers
        self.extra = extra or []  # (sheet, headers, rows) written after Failures (sync's Strays)
        self._file = AtomicFile(self.path)
        self._alone: _FailuresWorkbook | None = None
        self._pending: list[list] = []           # Results rows not yet written (xlsx)
        self._pending_failures: list[list] = []  # their Failures rows
        self.reasons: Counter = Counter()         # why rows failed, for the Summary's second chart
        try:
            self._open()
            if failures is not None:
                self._alone = _FailuresWorkbook(failures, self._fail_headers())
        except BaseException:
            self.abandon()
            raise

    # -- public -----------------------------------------------------------------------------

    def add(self, result: RowResult, input_cells: list[str] | None = None) -> None:
        """Record one row; ``input_cells`` (the row as read) feed the Failures sheet."""
        if result.status in FAILED_STATUSES and result.status != Status.NOT_ATTEMPTED:
            self.reasons[result.error_code or result.status] += 1
        if self.fmt == "xlsx":
            r = result
            self._pending.append([None if r.ref.synthetic else r.row, r.action, r.email, r.org_user_id, r.status,
                                  r.reason, r.error_code, r.http_status, r.attempts or None, r.batch])
            if result.status in FAILED_STATUSES and input_cells is not None:
                cells = list(input_cells) + [""] * (len(self.input_headers) - len(input_cells))
                self._pending_failures.append(cells[: len(self.input_headers)] + [result.status, result.reason])
            if len(self._pending) >= PENDING_ROWS:
                self._flush()
        elif self.fmt == "csv":
            record = result.as_record()
            self._csv.writerow([csv_safe(_text(record[c])) for c in RESULT_COLUMNS])
        else:
            self._fh.write(json.dumps(result.as_record(), ensure_ascii=False) + "\n")

    def add_valid(self, rows: list[int], actions: list[Action], emails: list[str], org_user_ids: list[str],
                  status: Status) -> None:
        """Rows that need no reason, at once (the check-only path's common case): the same cells
        :meth:`add` writes for ``RowResult.of(row, status)``, made a whole chunk at a time."""
        if self.fmt == "xlsx":
            self._flush()  # rows stay in input order
            sheet = self._results
            sheet.write_xml(_plain_results_xml(sheet.next_row, rows, actions, emails, org_user_ids, status))
            sheet.count += len(rows)
        elif self.fmt == "csv":
            self._csv.writerows([[str(r), csv_safe(a), csv_safe(e), csv_safe(o), status, "", "", "", "0", ""]
                                 for r, a, e, o in zip(rows, actions, emails, org_user_ids, strict=True)])
        else:
            dumps = json.dumps
            self._fh.write("".join([dumps({"row": r, "action": a, "emailId": e, "orgUserId": o, "status": status,
                                           "reason": "", "error_code": "", "http_status": None, "attempts": 0,
                                           "batch": ""}, ensure_ascii=False) + "\n"
                                    for r, a, e, o in zip(rows, actions, emails, org_user_ids, strict=True)]))

    def add_user(self, cells: list[str]) -> None:
        """One row of the Users sheet (lookup output)."""
        if self.fmt == "xlsx" and self.users_headers is not None:
            self._users.add(cells)

    def close(self, summary: RunSummary) -> Path:
        summary.reasons = summary.reasons or self.reasons
        try:
            if self.fmt == "xlsx":
                self._flush()
                self._write_summary(summary)
                self._book.close()
            else:
                self._fh.close()
            if self._alone is not None:
                self._alone.close()
        except BaseException:
            self.abandon()
            raise
        self._file.commit()
        if self._alone is not None:
            self._alone.commit()
        return self.path

    def abandon(self) -> None:
        """Drop the temporary file (used when the run could not produce results at all)."""
        if self._alone is not None:
            self._alone.abandon()
        book = getattr(self, "_book", None)
        if book is not None:
            book.abandon()
        fh = getattr(self, "_fh", None)
        if fh is not None:
            fh.close()
        self._file.discard()

    # -- xlsx -----------------------------------------------------------------------------------

    def _flush(self) -> None:
        """Rows added one by one are written a few thousand at a time (one text check, one join)."""
        if self._pending:
            self._results.add_rows(self._pending)
            self._pending = []
        if self._pending_failures:
            self._failures.add_rows(self._pending_failures)
            if self._alone is not None:
                self._alone.add_rows(self._pending_failures)
            self._pending_failures = []

    def _open(self) -> None:
        if self.fmt == "xlsx":
            self._summary = Sheet("Summary", widths=[(1, 1, 28), (2, 4, 22)], freeze=False, autofilter=False,
                                  selected=True)
            self._results = _sheet("Results", list(RESULT_COLUMNS))
            self._failures = _sheet("Failures", self._fail_headers())
            sheets = [self._summary, self._results, self._failures]
            if self.users_headers is not None:
                self._users = _sheet("Users", self.users_headers)
                sheets.insert(1, self._users)
            extra = [(_sheet(name, headers), rows) for name, headers, rows in self.extra]
            self._book = StreamingWorkbook(self._file.temp, sheets + [sheet for sheet, _rows in extra],
                                           primary="Results")
            for sheet, rows in extra:
                sheet.add_rows(rows)
        elif self.fmt == "csv":
            self._fh = open(self._file.temp, "w", newline="", encoding="utf-8-sig")
            self._csv = csv.writer(self._fh)
            self._csv.writerow(RESULT_COLUMNS)
        else:
            self._fh = open(self._file.temp, "w", encoding="utf-8")

    def _fail_headers(self) -> list[str]:
        return self.input_headers + ["status", "reason"]

    def _write_summary(self, summary: RunSummary) -> None:
        """The Summary sheet: who/what/when, counts (as numbers, with a bar chart of statuses and one
        of the top reasons), settings, plan, warnings and next steps."""
        lines: list[tuple[str | int, ...]] = [
            (_("bulkprov run"), summary.command),
            (_("run id"), summary.run_id),
            (_("input file"), summary.input_name or summary.input_path),
            (_("input SHA-256"), summary.input_sha256),
            (_("sheet"), summary.sheet or ""),
            (_("started"), _when(summary.started)),
            (_("finished"), _when(summary.finished)),
        ]
        if summary.aborted:
            lines.append((_("ABORTED"), summary.aborted))
        charts: list[tuple[str, int, list[tuple[str, int]]]] = []  # (title, first line, bars)

        def block(title: str, header: tuple[str, ...], bars: list[tuple[str, int]]) -> None:
            lines.append(())
            lines.append(header)
            charts.append((title, len(lines) + 1, bars))
            lines.extend(bars)

        block(_("Rows by status"), (_("status"), _("rows")), sorted(summary.status_totals().items()))
        reasons = summary.reasons.most_common(TOP_REASONS)
        if reasons:
            block(_("Top reasons rows failed"), (_("top reasons"), _("rows")), reasons)
        lines.append(())
        lines.append((_("action"), _("status"), _("rows")))
        for (action, status), n in sorted(summary.counts.items()):
            lines.append((action or "—", status, n))
        lines.append(())
        lines.append((_("setting"), _("value")))
        lines.extend((k, str(v)) for k, v in summary.settings.items())
        for title, texts in ((_("plan"), summary.plan), (_("warnings"), summary.warnings),
                             (_("next steps"), summary.next_steps)):
            if texts:
                lines.append(())
                lines.append((title,))
                lines.extend(("", t) for t in texts)
        for line in lines:  # every cell, blank ones too; text as text, counts as numbers; the first column bold
            self._summary.add(line, first_style=BOLD, keep_empty=True)
        top = 0
        for title, first, bars in charts:
            if not bars:
                continue
            height = max(8, 2 * len(bars) + 4)
            self._summary.charts.append(Chart(
                title, first, first + len(bars) - 1, [b[0] for b in bars], [b[1] for b in bars],
                anchor=(4, top, 12, top + height)))
            top += height + 1


TOP_REASONS = 10  # the Summary's reasons chart: the commonest ten


def _when(text: str) -> str:
    """A Summary time as people of the reader's language write it; English keeps ISO 8601 (no
    month/day order to misread, and scripts read it)."""
    if not text or i18n.current() == i18n.DEFAULT:
        return text
    try:
        return units.format_datetime(dt.datetime.fromisoformat(text))
    except ValueError:
        return text


def _sheet(name: str, headers: list[str]) -> Sheet:
    """A data sheet: styled header row, widths from the headers, frozen header, filter."""
    widths = [(c, c, max(10, min(40, len(h) + 4))) for c, h in enumerate(headers, start=1)]
    return Sheet(name, headers, widths)


def _plain_results_xml(first: int, rows: list[int], actions: list[Action], emails: list[str],
                       org_user_ids: list[str], status: Status) -> str:
    """Results rows of reason-less results as sheet XML: one f-string a row when every value of the
    chunk is plain text and present (the common case), else row by row the careful way."""
    if xlsxstream.plain_text([*actions, *emails, *org_user_ids, status]) and all(emails) and all(org_user_ids):
        return "".join([
            f'<row r="{n}"><c r="A{n}"><v>{r}</v></c><c r="B{n}" t="inlineStr"><is><t>{a}</t></is></c>'
            f'<c r="C{n}" t="inlineStr"><is><t>{e}</t></is></c><c r="D{n}" t="inlineStr"><is><t>{o}</t></is></c>'
            f'<c r="E{n}" t="inlineStr"><is><t>{status}</t></is></c></row>'
            for n, r, a, e, o in zip(range(first, first + len(rows)), rows, actions, emails, org_user_ids, strict=True)])
    letters = xlsxstream.column_letters(len(RESULT_COLUMNS))
    return "".join([xlsxstream.row_xml(n, [r, a, e, o, status], letters)
                    for n, (r, a, e, o) in enumerate(zip(rows, actions, emails, org_user_ids, strict=True), first)])


def _text(value: Any) -> str:
    return "" if value is None else str(value)


class _FailuresWorkbook:
    """The Failures sheet as a workbook of its own (text cells), to fix and upload again."""

    def __init__(self, path: Path, headers: list[str]) -> None:
        self._file = AtomicFile(path)
        self._sheet = Sheet("Failures", headers, [(1, max(1, len(headers)), 18)], header_style=ALERT_HEADER,
                            column_style=TEXT, autofilter=False, selected=True)
        try:
            self._book = StreamingWorkbook(self._file.temp, [self._sheet], primary="Failures")
        except BaseException:
            self._file.discard()
            raise

    def add_rows(self, rows: list[list]) -> None:
        self._sheet.add_rows(rows)

    def close(self) -> None:
        self._book.close()

    def commit(self) -> None:
        self._file.commit()

    def abandon(self) -> None:
        self._book.abandon()
        self._file.discard()
