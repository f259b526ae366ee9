"""The result writer: text stays text in xlsx (openpyxl reads it back) and in CSV (Excel-safe)."""

from __future__ import annotations

import csv

import openpyxl
import pytest

from bulkprov.model import RowRef, RowResult, UserKey
from bulkprov.outputs.results import ResultWriter, RunSummary, csv_safe

EVIL = ['=HYPERLINK("http://evil.invalid","x")', "@SUM(A1)", "+cmd|' /C calc'!A0", "-2+3+cmd", "\t=1"]


@pytest.mark.parametrize("value", EVIL)
def test_csv_cells_excel_would_evaluate_get_an_apostrophe(value):
    assert csv_safe(value) == "'" + value


@pytest.mark.parametrize("value", ["+1 212 555 0100", "-5", "jane@acme.com", "", "Müller"])
def test_ordinary_values_are_left_alone(value):
    assert csv_safe(value) == value


def _write(tmp_path, fmt):
    writer = ResultWriter(tmp_path / f"r.{fmt}", fmt=fmt, input_headers=["Email", "First Name"])
    for i, value in enumerate(EVIL, start=2):
        writer.add(RowResult(RowRef(i, "add", UserKey(value)), "invalid", f"reason {value}", "invalid-email"), [value, value])
    return writer.close(RunSummary("add", "in.csv", "0" * 64, "2026-11-23T00:00:00"))


def test_xlsx_has_no_formula_anywhere(tmp_path):
    path = _write(tmp_path, "xlsx")
    wb = openpyxl.load_workbook(path)
    seen = []
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", f"{ws.title}!{cell.coordinate}"
                seen.append(cell.value)
    assert all(value in seen for value in EVIL), "the text is kept exactly"
    failures = [[c.value for c in r] for r in wb["Failures"].iter_rows()]
    assert failures[0] == ["Email", "First Name", "status", "reason"] and len(failures) == 1 + len(EVIL)


def test_csv_results_are_excel_safe(tmp_path):
    path = _write(tmp_path, "csv")
    with open(path, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["emailId"] for r in rows] == ["'" + v for v in EVIL]


def test_results_are_written_atomically(tmp_path):
    target = tmp_path / "r.xlsx"
    target.write_bytes(b"previous results")
    writer = ResultWriter(target, input_headers=["Email"])
    writer.add(RowResult(RowRef(2, "add", UserKey("a@acme.com")), "success"), ["a@acme.com"])
    assert target.read_bytes() == b"previous results", "nothing replaces the old file until close()"
    writer.close(RunSummary("add", "in.csv", "0" * 64, "2026-11-23T00:00:00"))
    assert openpyxl.load_workbook(target)["Results"]["C2"].value == "a@acme.com"
    assert [p.name for p in tmp_path.iterdir()] == ["r.xlsx"], "no temporary file left behind"
