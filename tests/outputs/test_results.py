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


def test_only_files_bulkprov_wrote_count_as_result_files(tmp_path):
    """What a run may replace unasked: its own result files; never a roster, a template, a plan
    workbook or a damaged file."""
    from bulkprov.outputs.results import ResultWriter, RunSummary, is_result_file
    from bulkprov.outputs.template import write_template

    ours = []
    for fmt, users in (("xlsx", None), ("xlsx", ["emailId"]), ("csv", None), ("jsonl", None)):
        writer = ResultWriter(tmp_path / f"r{len(ours)}.{fmt}", fmt=fmt, users_headers=users)
        writer.close(RunSummary("validate", "in.csv", "0" * 64, "2026-12-01T00:00:00"))
        ours.append(writer.path)
    theirs = [write_template(tmp_path / "template.xlsx"), write_template(tmp_path / "template.csv"),
              tmp_path / "damaged.xlsx", tmp_path / "notes.jsonl", tmp_path / "missing.xlsx", tmp_path]
    (tmp_path / "damaged.xlsx").write_bytes(b"PK\x03\x04 not really")
    (tmp_path / "notes.jsonl").write_text('{"row": 1}\n')
    assert [is_result_file(p) for p in ours] == [True] * 4
    assert [is_result_file(p) for p in theirs] == [False] * 6
