"""The result writer: every input row accounted for, in a workbook a user can act on.

One writer for every command.  The ``.xlsx`` workbook (SPEC section 7) has ``Summary``,
``Results`` (every non-blank input row once) and ``Failures`` (the failed and invalid rows with
the input's own columns first, so the sheet is itself an input file to fix and run again).
``lookup`` adds a ``Users`` sheet in the template's columns, so its output is an input file.
``--results-format csv|jsonl`` writes the Results rows for pipelines instead.

XlsxWriter in ``constant_memory`` mode streams rows to disk (about twice openpyxl's speed; see
docs/DESIGN.md).  Every value that came from a user is written with ``write_string``: a name like
``=HYPERLINK(...)`` stays text.  CSV has no cell types, so a CSV cell that Excel would run as a
formula (leading ``=``, ``@``, or ``+``/``-`` not followed by a number) gets a leading apostrophe,
the OWASP recommendation.  Files are written to a temporary name and renamed into place.
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bulkprov.io.xlsx import HEADER_FORMAT, AtomicFile, check_writable, close_workbook, new_workbook
from bulkprov.model import FAILED_STATUSES, STATUSES, SYNTHETIC_ROW_BASE, RowResult
from bulkprov.schema import RESULT_COLUMNS

__all__ = ["FAILED_STATUSES", "STATUSES", "SYNTHETIC_ROW_BASE", "ResultWriter", "RowResult", "RunSummary",
           "check_writable", "csv_safe", "results_path"]

FORMATS = ("xlsx", "csv", "jsonl")


@dataclass
class RunSummary:
    """The Summary sheet: counts, input identity, timing, settings (never secrets), next steps."""

    command: str
    input_path: str
    input_sha256: str
    started: str
    finished: str = ""
    sheet: str | None = None
    settings: dict[str, str] = field(default_factory=dict)
    counts: Counter = field(default_factory=Counter)  # (action, status) -> n
    warnings: list[str] = field(default_factory=list)
    plan: list[str] = field(default_factory=list)      # what a dry run or a plan would do
    aborted: str = ""
    next_steps: list[str] = field(default_factory=list)
    run_id: str = ""

    def status_totals(self) -> Counter:
        totals: Counter = Counter()
        for (_, status), n in self.counts.items():
            totals[status] += n
        return totals

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["counts"] = [{"action": a, "status": s, "rows": n} for (a, s), n in sorted(self.counts.items())]
        data["totals"] = dict(self.status_totals())
        return data


_CSV_FORMULA_RE = re.compile(r"^(?:[=@\t\r]|[+-](?![\d .()]*$))")


def csv_safe(value: str) -> str:
    """Neutralise a cell Excel would evaluate when it opens a CSV."""
    return "'" + value if value and _CSV_FORMULA_RE.match(value) else value


def failures_path(results: Path) -> Path:
    """Where a run's failed rows are written as a workbook of their own (the page offers it)."""
    return results.with_name(results.stem + ".failures.xlsx")


def results_path(path: str | Path, fmt: str) -> Path:
    """The output path with the extension of the chosen format."""
    path = Path(path)
    return path if path.suffix.lower() == f".{fmt}" else path.with_suffix(f".{fmt}")


class ResultWriter:
    """Streams row results into the chosen format; :meth:`close` writes the Summary and commits.

    ``input_headers`` are the input file's own headers, for the Failures sheet.  Rows must be
    added in input order.  ``users_headers``, when given, adds a ``Users`` sheet (lookup output).
    """

    def __init__(self, path: str | Path, *, fmt: str = "xlsx", input_headers: list[str] | None = None,
                 users_headers: list[str] | None = None, failures: Path | None = None) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"unknown results format {fmt!r}")
        self.fmt = fmt
        self.path = results_path(path, fmt)
        self.input_headers = list(input_headers or [])
        self.users_headers = users_headers
        self._file = AtomicFile(self.path)
        self._rows = 0
        self._failures = 0
        self._users = 0
        self._open()
        self._alone = _FailuresWorkbook(failures, self._fail_headers()) if failures is not None else None

    # -- public -----------------------------------------------------------------------------

    def add(self, result: RowResult, input_cells: list[str] | None = None) -> None:
        """Record one row; ``input_cells`` (the row as read) feed the Failures sheet."""
        record = result.as_record()
        if self.fmt == "xlsx":
            self._rows += 1
            self._write_result(self._results, self._rows, result)
            if result.status in FAILED_STATUSES and input_cells is not None:
                self._failures += 1
                cells = list(input_cells) + [""] * (len(self.input_headers) - len(input_cells))
                values = cells[: len(self.input_headers)] + [result.status, result.reason]
                self._write_strings(self._fail_ws, self._failures, values)
                if self._alone is not None:
                    self._alone.add(values)
        elif self.fmt == "csv":
            self._csv.writerow([csv_safe(_text(record[c])) for c in RESULT_COLUMNS])
        else:
            self._fh.write(json.dumps(record, ensure_ascii=False) + "\n")

    def add_user(self, cells: list[str]) -> None:
        """One row of the Users sheet (lookup output)."""
        if self.fmt == "xlsx" and self.users_headers is not None:
            self._users += 1
            self._write_strings(self._users_ws, self._users, cells)

    def close(self, summary: RunSummary) -> Path:
        try:
            if self.fmt == "xlsx":
                self._finish_xlsx(summary)
            else:
                self._fh.close()
            if self._alone is not None:
                self._alone.close()
        except BaseException:
            self._file.discard()
            if self._alone is not None:
                self._alone.abandon()
            raise
        self._file.commit()
        if self._alone is not None:
            self._alone.commit()
        return self.path

    def abandon(self) -> None:
        """Drop the temporary file (used when the run could not produce results at all)."""
        if self._alone is not None:
            self._alone.abandon()
        if self.fmt == "xlsx":
            try:
                self._wb.close()
            except Exception:  # noqa: BLE001 - cleanup of a half-written temp file only
                pass
        else:
            self._fh.close()
        self._file.discard()

    # -- xlsx -----------------------------------------------------------------------------------

    def _open(self) -> None:
        if self.fmt == "xlsx":
            self._wb = new_workbook(self._file.temp, constant_memory=True)
            self._head = self._wb.add_format(HEADER_FORMAT)
            self._summary_ws = self._wb.add_worksheet("Summary")
            if self.users_headers is not None:
                self._users_ws = self._sheet("Users", self.users_headers)
            self._results = self._sheet("Results", list(RESULT_COLUMNS))
            self._fail_ws = self._sheet("Failures", self._fail_headers())
        elif self.fmt == "csv":
            self._fh = open(self._file.temp, "w", newline="", encoding="utf-8-sig")
            self._csv = csv.writer(self._fh)
            self._csv.writerow(RESULT_COLUMNS)
        else:
            self._fh = open(self._file.temp, "w", encoding="utf-8")

    def _fail_headers(self) -> list[str]:
        return self.input_headers + ["status", "reason"]

    def _sheet(self, name: str, headers: list[str]):
        ws = self._wb.add_worksheet(name)
        for col, header in enumerate(headers):
            ws.write_string(0, col, header, self._head)
            ws.set_column(col, col, max(10, min(40, len(header) + 4)))
        ws.freeze_panes(1, 0)
        ws._bulkprov_width = len(headers)
        return ws

    @staticmethod
    def _write_result(ws, row: int, r: RowResult) -> None:
        """Numbers as numbers (sortable), text as text; blanks left out (the hot loop of big files)."""
        if not r.ref.synthetic:
            ws.write_number(row, 0, r.row)
        for col, value in ((1, r.action), (2, r.email), (3, r.org_user_id), (4, r.status), (5, r.reason),
                           (6, r.error_code), (9, r.batch)):
            if value:
                ws.write_string(row, col, value)
        if r.http_status is not None:
            ws.write_number(row, 7, r.http_status)
        if r.attempts:
            ws.write_number(row, 8, r.attempts)

    @staticmethod
    def _write_strings(ws, row: int, values: list[str]) -> None:
        write = ws.write_string
        for col, value in enumerate(values):
            if value:
                write(row, col, value)

    def _finish_xlsx(self, summary: RunSummary) -> None:
        for ws, last in ((self._results, self._rows), (self._fail_ws, self._failures)):
            ws.autofilter(0, 0, max(last, 1), ws._bulkprov_width - 1)
        if self.users_headers is not None:
            self._users_ws.autofilter(0, 0, max(self._users, 1), self._users_ws._bulkprov_width - 1)
        self._write_summary(summary)
        close_workbook(self._wb)

    def _write_summary(self, summary: RunSummary) -> None:
        ws = self._summary_ws
        ws.set_column(0, 0, 28)
        ws.set_column(1, 3, 22)
        bold = self._wb.add_format({"bold": True})
        lines: list[tuple[str, ...]] = [
            ("bulkprov run", summary.command),
            ("run id", summary.run_id),
            ("input file", summary.input_path),
            ("input SHA-256", summary.input_sha256),
            ("sheet", summary.sheet or ""),
            ("started", summary.started),
            ("finished", summary.finished),
        ]
        if summary.aborted:
            lines.append(("ABORTED", summary.aborted))
        lines.append(())
        lines.append(("status", "rows"))
        for status, n in sorted(summary.status_totals().items()):
            lines.append((status, str(n)))
        lines.append(())
        lines.append(("action", "status", "rows"))
        for (action, status), n in sorted(summary.counts.items()):
            lines.append((action or "—", status, str(n)))
        lines.append(())
        lines.append(("setting", "value"))
        lines.extend((k, str(v)) for k, v in summary.settings.items())
        if summary.plan:
            lines.append(())
            lines.append(("plan",))
            lines.extend(("", p) for p in summary.plan)
        if summary.warnings:
            lines.append(())
            lines.append(("warnings",))
            lines.extend(("", w) for w in summary.warnings)
        if summary.next_steps:
            lines.append(())
            lines.append(("next steps",))
            lines.extend(("", s) for s in summary.next_steps)
        for r, line in enumerate(lines):
            for c, value in enumerate(line):
                ws.write_string(r, c, value, bold if c == 0 else None)


def _text(value: Any) -> str:
    return "" if value is None else str(value)


class _FailuresWorkbook:
    """The Failures sheet as a workbook of its own (text cells), to fix and upload again."""

    def __init__(self, path: Path, headers: list[str]) -> None:
        self._file = AtomicFile(path)
        self._wb = new_workbook(self._file.temp, constant_memory=True)
        self._ws = self._wb.add_worksheet("Failures")
        head = self._wb.add_format({**HEADER_FORMAT, "bg_color": "#C00000"})
        self._ws.set_column(0, max(0, len(headers) - 1), 18, self._wb.add_format({"num_format": "@"}))
        self._ws.freeze_panes(1, 0)
        for col, header in enumerate(headers):
            self._ws.write_string(0, col, header, head)
        self._rows = 0

    def add(self, values: list[str]) -> None:
        self._rows += 1
        for col, value in enumerate(values):
            if value:
                self._ws.write_string(self._rows, col, value)

    def close(self) -> None:
        close_workbook(self._wb)

    def commit(self) -> None:
        self._file.commit()

    def abandon(self) -> None:
        try:
            self._wb.close()
        except Exception:  # noqa: BLE001 - cleanup of a half-written temp file only
            pass
        self._file.discard()
