"""The xlsx reader (``bulkprov.io.xlsx``): cells as Excel shows them, our pass beside calamine, a damaged or
hostile xlsx refused before calamine allocates for it."""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from pathlib import Path

import pytest
import xlsxwriter

from bulkprov.errors import InputError
from bulkprov.io import (
    LoaderLimits,
    open_table,
)
from tests.io.loader_files import (
    SHEET1,
    USERS,
    cell,
    expect_error,
    rewrite_zip,
    rows_of,
    users_sheet,
    write_xlsx,
)

# ---------------------------------------------------------------------------------------------
# xlsx


def test_xlsx_cells_read_as_the_user_sees_them(tmp_path: Path) -> None:
    path = tmp_path / "users.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("Users")
    zip_fmt = wb.add_format({"num_format": "00000"})
    ssn_fmt = wb.add_format({"num_format": "000-00-0000"})
    date_fmt = wb.add_format({"num_format": "yyyy-mm-dd"})
    headers = ["Email", "Zip", "Work Phone", "isDeveloper", "First Name", "Street", "Suite", "City",
               "State", "Country", "Dept"]
    ws.write_row(0, 0, headers)
    ws.write_string(1, 0, "  jane@example.com ")
    ws.write_number(1, 1, 2128, zip_fmt)
    ws.write_number(1, 2, 8212334444)
    ws.write_boolean(1, 3, True)
    ws.write_string(1, 4, "\u00a0 Jane \u200b")
    ws.write_datetime(1, 5, dt.date(2024, 1, 31), date_fmt)
    ws.write_number(1, 6, 0.1 + 0.2)
    ws.write_number(1, 7, 1.5)
    ws.write_datetime(1, 8, dt.datetime(2024, 1, 31, 10, 30), date_fmt)
    ws.write_datetime(1, 9, dt.time(10, 30), date_fmt)
    ws.write_number(1, 10, 123456789, ssn_fmt)
    ws.write_string(2, 0, "john@example.com")
    ws.write_number(2, 1, 90210.0, zip_fmt)
    ws.write_boolean(2, 3, False)
    ws.write_number(2, 6, 1e20)
    wb.close()

    table = open_table(path)
    assert (table.format, table.sheet, table.header_row) == ("xlsx", "Users", 1)
    assert table.encoding is None and table.delimiter is None
    rows = rows_of(table)
    assert [r.row for r in rows] == [2, 3]
    first = rows[0].cells
    # As Excel shows them: a yyyy-mm-dd format hides the time of day; a time alone keeps its text.
    assert first == ["jane@example.com", "02128", "8212334444", "TRUE", "Jane", "2024-01-31", "0.3",
                     "1.5", "2024-01-31", "10:30:00", "123-45-6789"]
    second = rows[1].cells
    assert second[:4] == ["john@example.com", "90210", "", "FALSE"]
    assert second[6] == "100000000000000000000"
    assert cell(table, rows[0], "zip") == "02128"
    assert cell(table, rows[0], "worknumber") == "8212334444"


def test_xlsm_is_read_like_xlsx(tmp_path: Path) -> None:
    src = write_xlsx(tmp_path / "src.xlsx", {"Users": USERS})
    path = tmp_path / "users.xlsm"
    path.write_bytes(src.read_bytes())
    table = open_table(path)
    assert table.format == "xlsx"
    assert [r.cells for r in table.rows] == [USERS[1], USERS[2]]


def test_excel_row_numbers_survive_leading_and_inner_blank_rows(tmp_path: Path) -> None:
    rows = [USERS[0], USERS[1], [], [None, None], USERS[2]]
    path = write_xlsx(tmp_path / "users.xlsx", {"Users": rows}, start_row=2)
    table = open_table(path)
    assert table.header_row == 3
    assert [(r.row, r.cells[0]) for r in table.rows] == [(4, "jane@example.com"), (7, "john@example.com")]


def test_data_starting_in_column_c_keeps_excel_column_positions(tmp_path: Path) -> None:
    path = tmp_path / "users.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("Users")
    ws.write_row(1, 2, ["Email", "Frist Nmae"])  # two slips: a notice with a did-you-mean (one is an error)
    ws.write_row(2, 2, ["jane@example.com", "Jane"])
    wb.close()
    table = open_table(path)
    assert table.headers == ["", "", "Email", "Frist Nmae"]
    assert table.column_index("emailId") == 2
    assert [(r.row, r.cells) for r in table.rows] == [(3, ["", "", "jane@example.com", "Jane"])]
    assert any("(D)" in w.message and "firstName" in w.message for w in table.warnings)


def test_zero_padding_only_touches_numbers_with_that_style(tmp_path: Path) -> None:
    path = tmp_path / "zips.xlsx"
    with users_sheet(path, ["emailId", "zip", "city"]) as (_, ws, pad):
        for r in range(1, 2001):
            ws.write_string(r, 0, f"u{r}@example.com")
            ws.write_number(r, 1, r, pad)
            ws.write_number(r, 2, r)
        ws.write_string(2001, 0, "text@example.com")
        ws.write_string(2001, 1, "abc", pad)
    rows = rows_of(open_table(path))
    assert rows[0].cells == ["u1@example.com", "00001", "1"]
    assert rows[1999].cells == ["u2000@example.com", "02000", "2000"]
    assert rows[2000].cells == ["text@example.com", "abc", ""]


def test_row_style_does_not_pad_cells_without_it(tmp_path: Path) -> None:
    path = tmp_path / "rowstyle.xlsx"
    with users_sheet(path, ["emailId", "zip"]) as (wb, ws, pad):
        ws.set_row(1, None, pad)
        ws.write_string(1, 0, "a@example.com")
        ws.write_number(1, 1, 2128, wb.add_format({"bold": True}))
    assert rows_of(open_table(path))[0].cells == ["a@example.com", "2128"]


@pytest.mark.parametrize("chunk", [37, 64, 4 << 20])
def test_the_overlapped_scan_reads_what_the_sequential_one_reads(tmp_path: Path, monkeypatch, chunk: int) -> None:
    """A narrow sheet is scanned while calamine parses it; at any chunk size (tags cut anywhere) the
    narrowness check is right and the rows are the same as with the scan done first."""
    from bulkprov.io.xlsx import book as workbook
    from bulkprov.io.xlsx import scan as xlsxscan

    monkeypatch.setattr(xlsxscan, "CHUNK", chunk)
    path = tmp_path / "narrow.xlsx"
    with users_sheet(path, ["emailId", "zip", "city"]) as (_, ws, pad):
        for r in range(1, 300):
            ws.write_string(r, 0, f"u{r}@example.com")
            ws.write_number(r, 1, r, pad)
            ws.write_formula(r, 2, "=1+1", None, "" if r % 50 == 0 else 2)
    assert xlsxscan.is_narrow(zipfile.ZipFile(path), SHEET1)
    overlapped = [(r.row, r.cells, r.uncalculated) for r in open_table(path).rows]
    monkeypatch.setattr(workbook.XlsxBook, "_narrow_xlsx", lambda self, name: False)
    sequential = [(r.row, r.cells, r.uncalculated) for r in open_table(path).rows]
    assert overlapped == sequential and overlapped[0][1][:2] == ["u1@example.com", "00001"]
    assert overlapped[49][1][2] == "" and overlapped[49][2], "an uncalculated formula is still found"


def narrow_at_chunk_sizes(cells: str, chunks: tuple[int, ...] = (37, 64, 4 << 20)) -> list[bool]:
    """``is_narrow`` of a sheet of 3,000 plain rows and then ``cells``, read at each chunk size (tags cut
    anywhere)."""
    from bulkprov.io.xlsx import scan as xlsxscan

    sheet = ('<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
             + '<row r="1"><c r="A1"><v>1</v></c></row>' * 3000 + f'<row r="2">{cells}</row></sheetData></worksheet>')
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("sheet.xml", sheet)
    answers = []
    for chunk in chunks:
        xlsxscan.CHUNK, saved = chunk, xlsxscan.CHUNK
        try:
            answers.append(xlsxscan.is_narrow(zipfile.ZipFile(buffer), "sheet.xml"))
        finally:
            xlsxscan.CHUNK = saved
    return answers


@pytest.mark.parametrize("cells", ['<c r="AA2"><v>1</v></c>', "<c><v>1</v></c>", '<c s="1" r="B2"><v>1</v></c>',
                                   '<x:c r="B2"><v>1</v></x:c>', '<c\tr="B2"><v>1</v></c>',
                                   '<c r="A1000000"><v>1</v></c>', '<x:c\tr="B2"/>', '<c r="B2 "><v>1</v></c>'])
def test_a_sheet_calamine_could_make_wide_is_never_overlapped(cells: str) -> None:
    """Past column Z, a cell without a plain reference, or another prefix: the scan runs first, so its
    size guard decides before calamine allocates the grid."""
    assert narrow_at_chunk_sizes(cells) == [False, False, False], cells


def test_a_narrow_sheet_with_colons_in_its_text_is_still_narrow() -> None:
    """The prefixed-cell search runs only where a colon is; text like ``a:c b`` or a URL must not make
    a plain sheet look odd (it would lose the overlap, not correctness)."""
    cells = '<c r="A2" t="inlineStr"><is><t>a:c b http://x:c/ 10:30</t></is></c><c r="Z999999" s="1"><v>1</v></c>'
    assert narrow_at_chunk_sizes(cells) == [True, True, True]


@pytest.mark.parametrize("written", [b"\ts=\"{s}\"", b" s='{s}'", b"\n s=\"{s}\""])
def test_a_style_attribute_written_another_way_still_formats_its_cell(tmp_path: Path, written: bytes) -> None:
    """The usual search finds `` s="1"`` right after the reference; a writer that puts a tab, a newline
    or single quotes there must still get its zero-padded zip code (the exact search takes the part)."""
    path = tmp_path / "padded.xlsx"
    with users_sheet(path, ["emailId", "zip"]) as (_, ws, pad):
        ws.write_string(1, 0, "a@example.com")
        ws.write_number(1, 1, 2129, pad)
    sheet = zipfile.ZipFile(path).read(SHEET1)
    style = re.search(rb'<c r="B2" s="([0-9]+)"', sheet).group(1)
    odd = rewrite_zip(path, tmp_path / "odd.xlsx", {SHEET1: sheet.replace(
        b'<c r="B2" s="' + style + b'"', b'<c r="B2"' + written.replace(b"{s}", style))})
    assert written.replace(b"{s}", style) in zipfile.ZipFile(odd).read(SHEET1)
    [row] = list(open_table(odd).rows)
    assert row.cells[:2] == ["a@example.com", "02129"]


def test_the_overlapped_scan_speaks_the_readers_language(tmp_path: Path) -> None:
    """The scan runs in a thread; what it words (an uncalculated shared formula) is in the run's language."""
    from bulkprov import i18n

    small = write_xlsx(tmp_path / "small.xlsx", {"Users": [["emailId", "firstName"], ["a@example.com", "Ann"]]})
    sheet = zipfile.ZipFile(small).read(SHEET1)  # B2 becomes a shared formula never calculated
    path = rewrite_zip(small, tmp_path / "shared.xlsx", {SHEET1: re.sub(
        rb'<c r="B2"[^>]*>.*?</c>', b'<c r="B2"><f t="shared" si="0"/><v></v></c>', sheet)})
    assert b'<f t="shared"' in zipfile.ZipFile(path).read(SHEET1)
    with i18n.using("ko"):
        [row] = list(open_table(path).rows)
    assert row.uncalculated == {1: i18n.gettext_in("ko", "a shared formula")} != {1: "a shared formula"}


def test_a_far_row_in_a_narrow_sheet_is_refused_before_calamine_allocates(tmp_path: Path, monkeypatch) -> None:
    """Z3000000 and A1 in a 5 KB file: calamine would allocate 78 million cells (2.4 GB measured) before
    the row limit could refuse the sheet. A seven-digit row makes the scan measure the grid first."""
    from bulkprov.errors import SheetTooWide
    from bulkprov.io.xlsx import book as workbook
    from bulkprov.io.xlsx import scan as xlsxscan

    small = write_xlsx(tmp_path / "small.xlsx", {"Users": [["emailId"], ["a@example.com"]]})
    sheet = zipfile.ZipFile(small).read(SHEET1)
    path = rewrite_zip(small, tmp_path / "tall.xlsx", {SHEET1: sheet.replace(
        b"</sheetData>", b'<row r="3000000"><c r="Z3000000"><v>1</v></c></row></sheetData>')})
    assert not xlsxscan.is_narrow(zipfile.ZipFile(path), SHEET1)

    def never(self, name):
        raise AssertionError("calamine was asked for the sheet")

    monkeypatch.setattr(workbook.XlsxBook, "_calamine_sheet", never)
    with pytest.raises(SheetTooWide) as refused:
        open_table(path)
    assert refused.value.variant == "grid" and "3,000,000" in refused.value.message


# ---------------------------------------------------------------------------------------------
# bad inputs


def test_truncated_xlsx(tmp_path: Path) -> None:
    src = write_xlsx(tmp_path / "src.xlsx", {"Users": USERS})
    path = tmp_path / "u.xlsx"
    path.write_bytes(src.read_bytes()[:1500])
    expect_error("corrupt-file", path)


def test_xlsx_with_broken_sheet_xml(tmp_path: Path) -> None:
    src = write_xlsx(tmp_path / "src.xlsx", {"Users": USERS})
    path = rewrite_zip(src, tmp_path / "u.xlsx", {"xl/worksheets/sheet1.xml": b"<worksheet><sheetData><row"})
    expect_error("corrupt-file", path)


def test_too_many_rows_xlsx_is_refused_up_front(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "u.xlsx", {"Users": [["email"]] + [[f"u{i}@example.com"] for i in range(20)]})
    with pytest.raises(InputError) as info:
        open_table(path, limits=LoaderLimits(max_rows=5))
    assert info.value.code == "too-many-rows"


def test_dimension_claims_and_real_extents(tmp_path: Path) -> None:
    src = write_xlsx(tmp_path / "src.xlsx", {"Users": USERS})
    with zipfile.ZipFile(src) as z:
        xml = z.read("xl/worksheets/sheet1.xml")
    assert b'<dimension ref="A1:C3"/>' in xml
    # A claim alone costs nothing (calamine allocates from the real cells): within Excel's grid it is read.
    whole = rewrite_zip(src, tmp_path / "whole.xlsx", {"xl/worksheets/sheet1.xml": xml.replace(b"A1:C3", b"A1:XFD1048576")})
    assert len(rows_of(open_table(whole))) == 2
    beyond = rewrite_zip(src, tmp_path / "beyond.xlsx", {"xl/worksheets/sheet1.xml": xml.replace(b"A1:C3", b"A1:ZZZZ3")})
    assert "475,254 columns" in expect_error("sheet-too-wide", beyond).message
    # Two real cells far apart would make the reader allocate 17 billion cells (and abort the process).
    far = tmp_path / "far.xlsx"
    wb = xlsxwriter.Workbook(str(far))
    ws = wb.add_worksheet("Users")
    for r, row in enumerate(USERS):
        ws.write_row(r, 0, row)
    ws.write(1048575, 16383, "stray")
    wb.close()
    err = expect_error("sheet-too-wide", far)
    assert "1,048,576 rows by 16,384 columns" in err.message and "stray cells" in err.message
    with zipfile.ZipFile(far) as z:
        far_xml = z.read("xl/worksheets/sheet1.xml")
    lying = rewrite_zip(far, tmp_path / "lying.xlsx",
                        {"xl/worksheets/sheet1.xml": far_xml.replace(b"A1:XFD1048576", b"A1:C3")})
    expect_error("sheet-too-wide", lying)  # the real cells count, not what the file claims
    # A formatted but empty far cell allocates nothing: it is not refused.
    styled = rewrite_zip(src, tmp_path / "styled.xlsx", {"xl/worksheets/sheet1.xml": xml.replace(
        b"</sheetData>", b'<row r="1048576"><c r="XFD1048576" s="0"/></row></sheetData>')})
    assert len(rows_of(open_table(styled))) == 2


def test_hostile_cell_tags_cannot_hide_a_far_cell(tmp_path: Path) -> None:
    """Tags the fast scan does not place (another prefix, a line break before ``r``) take the exact walk."""
    src = write_xlsx(tmp_path / "src.xlsx", {"Users": USERS})
    with zipfile.ZipFile(src) as z:
        xml = z.read("xl/worksheets/sheet1.xml")
    root = xml.index(b"<worksheet ") + len(b"<worksheet ")
    prefixed = xml[:root] + b'xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main" ' + xml[root:]
    far = b'<row r="1048576"><x:c r="XFD1048576" t="n"><x:v>1</x:v></x:c></row></sheetData>'
    for name, sheet in (("prefixed", prefixed.replace(b"</sheetData>", far)),
                        ("newline", xml.replace(b"</sheetData>", b'<row r="1048576"><c\nr="XFD1048576"><v>1</v></c>'
                                                                  b"</row></sheetData>"))):
        path = rewrite_zip(src, tmp_path / f"{name}.xlsx", {"xl/worksheets/sheet1.xml": sheet})
        expect_error("sheet-too-wide", path)


def test_shared_string_counts(tmp_path: Path) -> None:
    """``count`` (uses) may dwarf the table; a ``uniqueCount`` the part cannot hold is damage (calamine
    reserved memory for it and aborted the process)."""
    rows = [["Email", "Dept"]] + [[f"u{i}@example.com", "Sales"] for i in range(3000)]
    path = write_xlsx(tmp_path / "u.xlsx", {"Users": rows})
    with zipfile.ZipFile(path) as z:
        sst = z.read("xl/sharedStrings.xml")
    assert b'count="6002"' in sst
    assert len(rows_of(open_table(path))) == 3000
    bad = rewrite_zip(path, tmp_path / "bad.xlsx", {"xl/sharedStrings.xml": sst.replace(
        b'uniqueCount="3003"', b'uniqueCount="4000000000"')})
    assert "claims 4,000,000,000 strings" in expect_error("corrupt-file", bad).message


def test_16384_real_columns_are_read(tmp_path: Path) -> None:
    path = tmp_path / "wide.xlsx"
    wb = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    ws = wb.add_worksheet("Users")
    ws.write_row(0, 0, ["Email"] + [f"extra{i}" for i in range(1, 16384)])
    ws.write_row(1, 0, ["a@example.com"] + [str(i) for i in range(1, 16384)])
    wb.close()
    table = open_table(path)
    assert len(table.headers) == 16384 and table.headers[-1] == "extra16383"
    assert rows_of(table)[0].cells[-1] == "16383"
