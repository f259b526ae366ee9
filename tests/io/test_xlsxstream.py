"""Our streaming xlsx writer: its files open in openpyxl, calamine and LibreOffice with every value intact.

Text that XML or Excel treats specially (control characters, Excel's own ``_xHHHH_`` escapes,
``& < >``, edge spaces, line breaks, astral characters, formula look-alikes, over-long text) is
written and read back by two libraries and compared with what XlsxWriter -- the writer it replaced
-- makes of the same values.  LibreOffice headless converts every sheet to CSV (the ``soffice_path``
fixture of tests/conftest.py: skipped when LibreOffice is missing, failed when CI requires it).
"""

from __future__ import annotations

import csv
import subprocess
from pathlib import Path

import openpyxl
import pytest
from python_calamine import CalamineWorkbook

from bulkprov.io.writers import xlsxstream
from bulkprov.io.writers.xlsx import new_workbook
from bulkprov.io.writers.xlsxstream import MAX_CELL, Sheet, StreamingWorkbook
from bulkprov.model import RowRef, RowResult, UserKey
from bulkprov.outputs.results import ResultWriter, RunSummary

TRICKY = ["plain", "ctl\x01x\x1f", "_x0041_ stays", "a & b <c> \"q\" 'a'", "  leading", "trailing  ", "tab\tin",
          "line\nbreak\r\nwin", "=HYPERLINK(\"http://evil.invalid\",\"x\")", "@SUM(A1)", "+1 212 555 0100",
          "-2+3", "emoji 😀 astral", "Müller 東京 서울", "\u00a0nbsp\u00a0", "\ufffeX\uffff", "0123", "1e5", "TRUE"]
NUMBERS = [0, -5, 7, 123456789012]
LONG = "x" * (MAX_CELL - 1) + "😀" + "tail"  # the cut falls inside the astral character: it goes whole


def rows() -> list[list]:
    return [TRICKY + NUMBERS, [None, "gap", None, "after a gap", ""], [LONG]]


def write_ours(path: Path) -> Path:
    summary = Sheet("Summary", widths=[(1, 1, 28)], freeze=False, autofilter=False, selected=True)
    data = Sheet("Data", [f"h{i}" for i in range(len(rows()[0]))])
    spooled = Sheet("Spooled", ["a", "b"])
    book = StreamingWorkbook(path, [summary, data, spooled], primary="Data")
    summary.add(["label", ""], keep_empty=True)
    for r in rows():
        data.add(r)
        spooled.add(r[:2])
    book.close()
    return path


def write_xlsxwriter(path: Path) -> Path:
    """The same cells the way the result writer wrote them before (write_string / write_number)."""
    wb = new_workbook(path, constant_memory=True)
    ws = wb.add_worksheet("Data")
    ws.write_row(0, 0, [f"h{i}" for i in range(len(rows()[0]))])
    for r, values in enumerate(rows(), start=1):
        for c, value in enumerate(values):
            if isinstance(value, int):
                ws.write_number(r, c, value)
            elif value:
                ws.write_string(r, c, value)
    wb.close()
    return path


def openpyxl_values(path: Path, sheet: str) -> list[list]:
    ws = openpyxl.load_workbook(path)[sheet]
    return [[c.value for c in row] for row in ws.iter_rows()]


def calamine_values(path: Path, sheet: str) -> list[list]:
    return CalamineWorkbook.from_path(str(path)).get_sheet_by_name(sheet).to_python()


def test_every_value_reads_back_as_xlsxwriter_wrote_it(tmp_path):
    ours, theirs = write_ours(tmp_path / "ours.xlsx"), write_xlsxwriter(tmp_path / "theirs.xlsx")
    assert openpyxl_values(ours, "Data") == openpyxl_values(theirs, "Data")
    assert calamine_values(ours, "Data") == calamine_values(theirs, "Data")
    # calamine decodes Excel's _xHHHH_ escapes of control characters (openpyxl shows them raw, for
    # both writers alike); U+FFFE/U+FFFF are not characters and stay escaped.
    values = calamine_values(ours, "Data")
    as_given = ["_xFFFE_X_xFFFF_" if v == "\ufffeX\uffff" else v for v in TRICKY]
    assert values[1][: len(TRICKY)] == as_given, "text exactly as given, none of it a formula"
    assert values[1][len(TRICKY):] == NUMBERS
    assert len(values[3][0].encode("utf-16-le")) // 2 <= MAX_CELL and values[3][0] == "x" * (MAX_CELL - 1)


def test_no_cell_is_a_formula_and_numbers_are_numbers(tmp_path):
    wb = openpyxl.load_workbook(write_ours(tmp_path / "ours.xlsx"))
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", f"{ws.title}!{cell.coordinate}"
    assert [c.data_type for c in wb["Data"][2]][len(TRICKY):] == ["n"] * len(NUMBERS)


def test_rich_string_lookalike_stays_text(tmp_path):
    """XlsxWriter's constant_memory mode passes "<r>…</r>" through as raw rich-text XML; ours escapes it."""
    path = tmp_path / "r.xlsx"
    sheet = Sheet("Data", ["a"])
    book = StreamingWorkbook(path, [sheet], primary="Data")
    sheet.add(["<r><t>x</t></r>"])
    book.close()
    assert openpyxl_values(path, "Data")[1] == ["<r><t>x</t></r>"]


def test_sheet_order_view_and_filters(tmp_path):
    wb = openpyxl.load_workbook(write_ours(tmp_path / "ours.xlsx"))
    assert wb.sheetnames == ["Summary", "Data", "Spooled"]
    assert wb["Data"].freeze_panes == "A2" and wb["Summary"].freeze_panes is None
    assert wb["Data"].auto_filter.ref == "A1:W4"
    assert wb["Spooled"].auto_filter.ref == "A1:B4"
    assert wb["Data"]["A1"].font.b and wb["Data"]["A1"].fill.fgColor.rgb == "FF1F4E79"
    assert wb["Summary"].column_dimensions["A"].width == pytest.approx(28.7109375)
    assert openpyxl_values(tmp_path / "ours.xlsx", "Summary") == [["label", ""]]


def test_plain_rows_and_careful_rows_agree():
    letters = xlsxstream.column_letters(30)
    values = ["a", 1, None, "b c", ""]
    assert xlsxstream.plain_row(values)
    fast = xlsxstream.row_xml(5, values, letters)
    careful = xlsxstream._careful_row("5", values, letters, 0, None, False)
    assert fast == careful
    assert not xlsxstream.plain_row(["a&b"]) and not xlsxstream.plain_row([" x"]) and not xlsxstream.plain_row(["_x0001_"])


def test_a_failing_disk_surfaces_and_leaves_no_file(tmp_path, monkeypatch):
    """The writer thread's error reaches the run, which removes its temporary file."""
    from bulkprov.jobs import JobSettings, run_job

    source = tmp_path / "in.csv"
    source.write_text("Email\n" + "".join(f"u{i}@acme-corp.com\n" for i in range(30_000)), encoding="utf-8")
    out = tmp_path / "out"

    def full(self, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(xlsxstream.zipfile._ZipWriteFile, "write", full)  # type: ignore[attr-defined]
    with pytest.raises(OSError, match="No space left"):
        run_job(source, JobSettings(command="validate", output=out / "r.xlsx"))
    assert list(out.iterdir()) == [], "neither the result nor a temporary file is left"


def libreoffice_csv(soffice_path: str, path: Path, tmp_path: Path) -> dict[str, list[list[str]]]:
    """Every sheet of ``path`` as LibreOffice headless exports it to CSV (UTF-8, all sheets)."""
    out = tmp_path / "lo"
    filt = "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,false,false,false,-1"
    subprocess.run([soffice_path, f"-env:UserInstallation={(tmp_path / 'lo-profile').as_uri()}", "--headless",
                    "--convert-to", filt, "--outdir", str(out), str(path)], check=True, capture_output=True,
                   timeout=180)
    sheets = {}
    for f in out.glob(f"{path.stem}-*.csv"):
        with open(f, encoding="utf-8", newline="") as fh:
            sheets[f.stem.removeprefix(path.stem + "-")] = [_trim(r) for r in csv.reader(fh)]
    return sheets


def _trim(row: list[str]) -> list[str]:
    while row and row[-1] == "":
        row = row[:-1]
    return row


def _as_text(values: list[list]) -> list[list[str]]:
    """Cells as LibreOffice's CSV export shows them (its line breaks are "\n")."""
    return [_trim(["" if v is None else str(v).replace("\r\n", "\n") for v in row]) for row in values]


def test_libreoffice_opens_our_workbook(tmp_path, soffice_path):
    path = write_ours(tmp_path / "ours.xlsx")
    sheets = libreoffice_csv(soffice_path, path, tmp_path)
    cut = [[v if v != LONG else LONG[: MAX_CELL - 1] for v in r] for r in rows()]
    assert sheets["Data"] == _as_text([[f"h{i}" for i in range(len(rows()[0]))], *cut])
    assert sheets["Spooled"] == _as_text([["a", "b"], *[r[:2] for r in cut]])
    assert sheets["Summary"] == [["label"]]


def test_libreoffice_opens_a_result_workbook(tmp_path, soffice_path):
    """The result writer's own workbook (Summary, Results, Failures) with hostile cells."""
    path = tmp_path / "results.xlsx"
    writer = ResultWriter(path, input_headers=["Email", "First Name"])
    for i, value in enumerate(TRICKY, start=2):
        writer.add(RowResult(RowRef(i, "add", UserKey(value)), "invalid", f"reason {value}", "invalid-email"),
                   [value, value])
    writer.add_valid([100, 101], ["add", "add"], ["a@acme.com", "b&c@acme.com"], ["E1", "E&2"], "valid")
    summary = RunSummary("validate", "in.csv", "0" * 64, "2026-11-23T00:00:00", warnings=["w & <w>"])
    writer.close(summary)
    sheets = libreoffice_csv(soffice_path, path, tmp_path)
    results = [[i, "add", v, "", "invalid", f"reason {v}", "invalid-email"] for i, v in enumerate(TRICKY, start=2)]
    assert sheets["Results"][1:] == _as_text([*results, [100, "add", "a@acme.com", "E1", "valid"],
                                              [101, "add", "b&c@acme.com", "E&2", "valid"]])
    assert sheets["Failures"] == _as_text([["Email", "First Name", "status", "reason"],
                                           *[[v, v, "invalid", f"reason {v}"] for v in TRICKY]])
    assert ["", "w & <w>"] in sheets["Summary"] and sheets["Summary"][0] == ["bulkprov run", "validate"]


def _result_workbook_with_failures(path: Path) -> Path:
    writer = ResultWriter(path, input_headers=["Email"])
    codes = ["invalid-email"] * 3 + ["duplicate-email"] * 2 + ["missing-required"]
    for i, code in enumerate(codes, start=2):
        writer.add(RowResult(RowRef(i, "add", UserKey(f"u{i}@acme.com")), "invalid", "why", code), [f"u{i}"])
    writer.add(RowResult(RowRef(20, "add", UserKey("n@acme.com")), "not_attempted", "stopped", ""), ["n"])
    writer.add_valid([30, 31], ["add", "add"], ["a@acme.com", "b@acme.com"], ["", ""], "valid")
    summary = RunSummary("validate", "in.csv", "0" * 64, "2026-11-23T00:00:00")
    for status, n in (("invalid", 6), ("not_attempted", 1), ("valid", 2)):
        summary.counts[("add", status)] = n
    writer.close(summary)
    return path


def _chart_ranges(chart) -> tuple[str, str]:
    series = chart.series[0]
    return series.cat.strRef.f, series.val.numRef.f


def test_summary_charts_statuses_and_top_reasons(tmp_path):
    """The Summary's counts are numbers, drawn as two bar charts that point at those cells:
    rows by status, and why rows failed (unsent rows are not a reason)."""
    path = _result_workbook_with_failures(tmp_path / "r.xlsx")
    sheet = openpyxl.load_workbook(path)["Summary"]
    cells = {r[0]: r[1] for r in sheet.iter_rows(values_only=True) if r[0]}
    assert (cells["invalid"], cells["valid"], cells["not_attempted"]) == (6, 2, 1)
    assert (cells["invalid-email"], cells["duplicate-email"], cells["missing-required"]) == (3, 2, 1)
    by_status, by_reason = sheet._charts
    for chart, first_label in ((by_status, "invalid"), (by_reason, "invalid-email")):
        cats, vals = _chart_ranges(chart)
        first_row = int(cats.split("$")[2].rstrip(":"))
        assert sheet.cell(first_row, 1).value == first_label
        assert vals == cats.replace("$A$", "$B$")
    assert _chart_ranges(by_reason)[0].endswith("$A$" + str(first_row + 2))  # three reasons, not_attempted left out


def test_libreoffice_keeps_the_summary_charts(tmp_path, soffice_path):
    """LibreOffice reads both charts with their ranges (it writes them back when it saves)."""
    path = _result_workbook_with_failures(tmp_path / "r.xlsx")
    out = tmp_path / "lo"
    subprocess.run([soffice_path, f"-env:UserInstallation={(tmp_path / 'lo-profile').as_uri()}", "--headless",
                    "--convert-to", "xlsx", "--outdir", str(out), str(path)], check=True, capture_output=True,
                   timeout=180)
    ours = [_chart_ranges(c) for c in openpyxl.load_workbook(path)["Summary"]._charts]
    theirs = [_chart_ranges(c) for c in openpyxl.load_workbook(out / "r.xlsx")["Summary"]._charts]
    assert len(ours) == 2 and sorted(theirs) == sorted(ours)
