"""Tests of bulkprov.io (the readers): every format, every encoding, every bad input.

Fixtures are generated in tmp_path by real writers (XlsxWriter, xlwt, msoffcrypto-tool, Python's
codecs) or built by hand (a minimal .ods zip, a minimal OLE2 compound file); nothing binary is
committed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import os
import re
import struct
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import xlsxwriter

from bulkprov.errors import InputError, file_codes
from bulkprov.io import (
    LoaderLimits,
    RawRow,
    Table,
    column_letter,
    detect_encoding,
    open_table,
    read_lookups,
)
from bulkprov.io.csv import encoding as io_encoding
from bulkprov.io.shared import numfmt
from bulkprov.io.shared.base import OLE_MAGIC
from bulkprov.io.xls import ole
from bulkprov.units import human_size

ROLE_ID = "0123456789abcdef01234567"
BOT_ID = "st-01234567-89ab-cdef-0123-456789abcdef"
GROUP_ID = "e-01234567-89ab-cdef-0123-456789abcdef"


# ---------------------------------------------------------------------------------------------
# helpers


def write_xlsx(path: Path, sheets: dict[str, list[list[object]]], start_row: int = 0) -> Path:
    """A workbook written by XlsxWriter; each sheet's rows start at ``start_row`` (0-based)."""
    wb = xlsxwriter.Workbook(str(path))
    for name, rows in sheets.items():
        ws = wb.add_worksheet(name)
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                if value is not None:
                    ws.write(start_row + r, c, value)
    wb.close()
    return path


def write_text(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def rows_of(table: Table) -> list[RawRow]:
    return list(table.rows)


def cell(table: Table, row: RawRow, name: str) -> str:
    index = table.column_index(name)
    assert index is not None, name
    return row.cells[index]


def expect_error(code: str, path: Path, **kwargs: object) -> InputError:
    """open_table must raise InputError(code) (possibly while iterating) with a one-line message."""
    assert code in file_codes()
    with pytest.raises(InputError) as info:
        table = open_table(path, **kwargs)  # type: ignore[arg-type]
        list(table.rows)
    err = info.value
    assert err.code == code, (err.code, err.message)
    assert err.path == str(path)
    assert "\n" not in err.message and err.message
    return err


SHEET1 = "xl/worksheets/sheet1.xml"


def rewrite_zip(src: Path, dst: Path, edit: dict[str, bytes], extra: dict[str, bytes] | None = None) -> Path:
    """Copy a zip replacing members in ``edit`` and adding ``extra`` members (deflated)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            zout.writestr(info, edit.get(info.filename, zin.read(info.filename)))
        for name, data in (extra or {}).items():
            zout.writestr(name, data)
    return dst


def make_ods(path: Path, sheets: dict[str, list[list[object]]]) -> Path:
    """A minimal but valid OpenDocument spreadsheet (mimetype, content.xml, manifest)."""

    def cell_xml(value: object) -> str:
        if value is None:
            return "<table:table-cell/>"
        if isinstance(value, bool):
            return f'<table:table-cell office:value-type="boolean" office:boolean-value="{str(value).lower()}"/>'
        if isinstance(value, int | float):
            return f'<table:table-cell office:value-type="float" office:value="{value}"><text:p>{value}</text:p></table:table-cell>'
        return f'<table:table-cell office:value-type="string"><text:p>{value}</text:p></table:table-cell>'

    tables = "".join(
        f'<table:table table:name="{name}">'
        + "".join("<table:table-row>" + "".join(cell_xml(v) for v in row) + "</table:table-row>" for row in rows)
        + "</table:table>"
        for name, rows in sheets.items()
    )
    content = (
        '<?xml version="1.0" encoding="UTF-8"?><office:document-content '
        'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">'
        f"<office:body><office:spreadsheet>{tables}</office:spreadsheet></office:body></office:document-content>"
    )
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest '
        'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">'
        '<manifest:file-entry manifest:full-path="/" '
        'manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>'
        '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
        "</manifest:manifest>"
    )
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.spreadsheet")
        z.writestr("content.xml", content, zipfile.ZIP_DEFLATED)
        z.writestr("META-INF/manifest.xml", manifest, zipfile.ZIP_DEFLATED)
    return path


def make_cfb(path: Path, stream_names: list[str]) -> Path:
    """A minimal OLE2 compound file (v3, 512-byte sectors) holding empty streams with these names."""
    end, free, fatsect = 0xFFFFFFFE, 0xFFFFFFFF, 0xFFFFFFFD
    header = bytearray(512)
    header[0:8] = OLE_MAGIC
    struct.pack_into("<HHHHH", header, 0x18, 0x3E, 3, 0xFFFE, 9, 6)
    struct.pack_into("<IIIIIIII", header, 0x2C, 1, 1, 0, 4096, end, 0, end, 0)
    struct.pack_into("<109I", header, 0x4C, 0, *([free] * 108))
    fat = struct.pack("<128I", fatsect, end, *([free] * 126))

    def entry(name: str, kind: int, left: int, right: int, child: int) -> bytes:
        raw = name.encode("utf-16-le") + b"\0\0"
        e = bytearray(128)
        e[: len(raw)] = raw
        struct.pack_into("<HBBIII", e, 64, len(raw), kind, 1, left, right, child)
        struct.pack_into("<IQ", e, 116, end if kind == 2 else end, 0)
        return bytes(e)

    nostream = 0xFFFFFFFF
    entries = [entry("Root Entry", 5, nostream, nostream, 1 if stream_names else nostream)]
    for i, name in enumerate(stream_names, 1):
        right = i + 1 if i < len(stream_names) else nostream
        entries.append(entry(name, 2, nostream, right, nostream))
    directory = b"".join(entries).ljust(512, b"\0")
    path.write_bytes(bytes(header) + fat + directory)
    return path


USERS = [
    ["Email", "First Name", "Last Name"],
    ["jane@example.com", "Jane", "Doe"],
    ["john@example.com", "John", "Smith"],
]


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


@contextlib.contextmanager
def users_sheet(path: Path, headers: list[str]) -> Iterator[tuple[Any, Any, Any]]:
    """(workbook, Users sheet with ``headers`` in row 1, the zero-padding format "00000"); saved on exit."""
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("Users")
    ws.write_row(0, 0, headers)
    yield wb, ws, wb.add_format({"num_format": "00000"})
    wb.close()


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


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (8212334444.0, "8212334444"), (1.5, "1.5"), (0.1 + 0.2, "0.3"), (-2.0, "-2"), (1e-7, "0.0000001"),
        (12345678901234567.0, "12345678901234600"), (True, "TRUE"), (False, "FALSE"), (7, "7"),
        (dt.date(2024, 1, 31), "2024-01-31"), (dt.datetime(2024, 1, 31), "2024-01-31"),
        (dt.datetime(2024, 1, 31, 10, 29, 59, 999_990), "2024-01-31 10:30:00"), (dt.time(8, 5), "08:05:00"),
        (dt.timedelta(hours=26, minutes=3), "26:03:00"), (None, ""),
    ],
)
def test_cell_text(value: object, text: str) -> None:
    assert numfmt.cell_text(value) == text


def test_column_letters() -> None:
    assert [column_letter(i) for i in (0, 25, 26, 51, 701, 702, 16383)] == ["A", "Z", "AA", "AZ", "ZZ", "AAA", "XFD"]


# ---------------------------------------------------------------------------------------------
# other workbook formats


def test_ods(tmp_path: Path) -> None:
    path = make_ods(tmp_path / "users.ods", {
        "Users": [["E-mail", "Work Phone", "Developer"], [None, None, None],
                  ["jane@example.com", 8212334444, True]],
    })
    table = open_table(path)
    assert (table.format, table.sheet) == ("ods", "Users")
    assert [(r.row, r.cells) for r in table.rows] == [(3, ["jane@example.com", "8212334444", "TRUE"])]


def test_xls(tmp_path: Path) -> None:
    xlwt = pytest.importorskip("xlwt", reason="xlwt (test extra) writes real .xls files")
    path = tmp_path / "users.xls"
    wb = xlwt.Workbook()
    ws = wb.add_sheet("Users")
    for c, text in enumerate(["Email Address", "Employee ID", "Can Create Bot", "Date"]):
        ws.write(2, c, text)
    ws.write(3, 0, "jane@example.com")
    ws.write(3, 1, 10442)
    ws.write(3, 2, True)
    ws.write(3, 3, dt.date(2024, 1, 31), xlwt.easyxf(num_format_str="YYYY-MM-DD"))
    wb.save(str(path))
    table = open_table(path)
    assert table.format == "xls"
    assert [c.name if c else None for c in table.columns] == ["emailId", "orgUserId", "canCreateBot", None]
    assert [(r.row, r.cells) for r in table.rows] == [(4, ["jane@example.com", "10442", "TRUE", "2024-01-31"])]


def test_workbook_with_wrong_extension_is_read_by_content(tmp_path: Path) -> None:
    src = write_xlsx(tmp_path / "src.xlsx", {"Users": USERS})
    path = tmp_path / "users.xls"
    path.write_bytes(src.read_bytes())
    table = open_table(path)
    assert table.format == "xlsx"
    assert len(rows_of(table)) == 2


def test_csv_named_xlsx_is_read_as_text_with_a_warning(tmp_path: Path) -> None:
    path = write_text(tmp_path / "users.xlsx", "email,first name\njane@example.com,Jane\n")
    table = open_table(path)
    assert table.format == "csv"
    assert [w.code for w in table.warnings] == ["misnamed-file"]
    assert [r.cells for r in table.rows] == [["jane@example.com", "Jane"]]


def test_html_named_xls_is_explained(tmp_path: Path) -> None:
    path = write_text(tmp_path / "export.xls", "<html><body><table><tr><td>Email</td></tr></table></body></html>")
    err = expect_error("corrupt-file", path)
    assert "web page" in err.message


# ---------------------------------------------------------------------------------------------
# sheets and lookups


def lookup_workbook(path: Path, **extra: list[list[object]]) -> Path:
    sheets: dict[str, list[list[object]]] = {
        "Instructions": [["Fill in the Users sheet"]],
        "Users": [["Email", "Roles"], ["jane@example.com", "Bot Tester@Support Bot"]],
        "Roles": [["name", "roleId"], ["  Bot Tester ", ROLE_ID], ["Broken", "not-an-id"], ["BOT TESTER", "f" * 24]],
        "Bots": [["Bot Name", "Bot ID"], ["Support Bot", BOT_ID]],
        "Groups": [["Name", "group_id"], ["Agents", GROUP_ID], [None, None], ["No Id", None]],
    }
    sheets.update(extra)
    return write_xlsx(path, sheets)


def test_lookup_sheets(tmp_path: Path) -> None:
    table = open_table(lookup_workbook(tmp_path / "book.xlsx"))
    assert table.sheet == "Users"
    assert table.lookups == {
        "Roles": {"bot tester": ROLE_ID},
        "Bots": {"support bot": BOT_ID},
        "Groups": {"agents": GROUP_ID},
    }
    problems = [w.message for w in table.warnings if w.code == "lookup-sheet"]
    assert any("'not-an-id' is not a valid roleId" in m for m in problems)
    assert any("row 4" in m and "first one is used" in m for m in problems)
    assert any("'No Id' has no groupId" in m for m in problems)


def test_read_lookups_from_a_separate_workbook_and_csv(tmp_path: Path) -> None:
    book = lookup_workbook(tmp_path / "lookups.xlsx")
    assert read_lookups(book)["Bots"] == {"support bot": BOT_ID}
    csv_path = write_text(tmp_path / "groups.csv", f"name;groupId\nAgents;{GROUP_ID}\nSupervisors;{GROUP_ID}\n")
    assert read_lookups(csv_path) == {"Roles": {}, "Bots": {}, "Groups": {"agents": GROUP_ID, "supervisors": GROUP_ID}}
    warnings: list = []
    assert read_lookups(book, warnings=warnings)["Roles"] == {"bot tester": ROLE_ID}
    assert warnings


def test_no_lookup_sheets_gives_empty_dicts(tmp_path: Path) -> None:
    table = open_table(write_xlsx(tmp_path / "u.xlsx", {"Sheet1": USERS}))
    assert table.lookups == {"Roles": {}, "Bots": {}, "Groups": {}}


def test_default_sheet_skips_lookup_and_instruction_sheets(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "b.xlsx", {
        "Instructions": [["read me"]], "Roles": [["name", "roleId"]], "People": USERS,
    })
    assert open_table(path).sheet == "People"


def test_default_sheet_prefers_visible_worksheets(tmp_path: Path) -> None:
    path = tmp_path / "b.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    old = wb.add_worksheet("Old")
    old.write_row(0, 0, ["Email"])
    old.write_row(1, 0, ["old@example.com"])
    people = wb.add_worksheet("People")
    people.write_row(0, 0, ["Email"])
    people.write_row(1, 0, ["new@example.com"])
    people.activate()
    old.hide()
    wb.close()
    assert rows_of(open_table(path))[0].cells == ["new@example.com"]
    assert rows_of(open_table(path, sheet="old"))[0].cells == ["old@example.com"]


def test_result_workbook_opens_on_failures_sheet(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "result.xlsx", {
        "Summary": [["total", 3]],
        "Results": [["row", "emailId", "status"], [2, "a@example.com", "created"]],
        "Failures": [["row", "emailId", "status", "reason", "errorCode"],
                     [3, "b@example.com", "failed", "bad", "invalid-email"]],
    })
    table = open_table(path)
    assert table.sheet == "Failures"
    assert [c.name if c else None for c in table.columns] == [None, "emailId", None, None, None]
    assert not table.warnings  # result columns are read back silently


def test_sheet_selection(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "b.xlsx", {"Users": USERS, "Contractors": [["Email"], ["c@example.com"]]})
    assert rows_of(open_table(path, sheet="Contractors"))[0].cells == ["c@example.com"]
    assert open_table(path, sheet="  contractors ").sheet == "Contractors"
    err = expect_error("sheet-not-found", path, sheet="Staff")
    assert "'Staff'" in err.message and "'Users'" in err.message and "'Contractors'" in err.message


def test_workbook_with_only_lookup_sheets_has_no_data_sheet(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "b.xlsx", {"Roles": [["name", "roleId"], ["x", ROLE_ID]]})
    expect_error("sheet-not-found", path)


def test_sheet_option_is_ignored_for_csv(tmp_path: Path) -> None:
    path = write_text(tmp_path / "u.csv", "email\na@example.com\n")
    table = open_table(path, sheet="Users")
    assert [w.code for w in table.warnings] == ["sheet-ignored"]


# ---------------------------------------------------------------------------------------------
# headers


def test_header_after_blank_rows_and_aliases(tmp_path: Path) -> None:
    text = "\n;;\n Employee_ID ;E-MAIL;given-name;Surname;User Status;Status;Reason\n" \
           "E1;a@example.com;Ann;Lee;add;;\n"
    table = open_table(write_text(tmp_path / "u.csv", text))
    assert table.header_row == 3
    assert [c.name if c else None for c in table.columns] == [
        "orgUserId", "emailId", "firstName", "lastName", "action", None, None]
    assert table.warnings == []
    assert [(r.row, r.cells) for r in table.rows] == [(4, ["E1", "a@example.com", "Ann", "Lee", "add", "", ""])]


def test_unknown_columns_warn_with_did_you_mean(tmp_path: Path) -> None:
    table = open_table(write_text(tmp_path / "u.csv", "Email,Nickname,Frist Nmae\na@example.com,Al,Al\n"))
    messages = [w.message for w in table.warnings]
    assert messages == [
        "column 'Nickname' (B) is not a bulkprov column and is ignored",
        "column 'Frist Nmae' (C) is not a bulkprov column and is ignored; did you mean firstName?",
    ]
    assert {w.code for w in table.warnings} == {"unknown-column"}


def test_duplicate_columns(tmp_path: Path) -> None:
    err = expect_error("duplicate-column", write_text(tmp_path / "u.csv", "Email,Name,E-mail\na@example.com,x,y\n"))
    assert "A ('Email')" in err.message and "C ('E-mail')" in err.message


def test_short_and_long_rows_are_aligned_to_the_header(tmp_path: Path) -> None:
    table = open_table(write_text(tmp_path / "u.csv", "email,city\na@example.com\nb@example.com,Oslo,extra\n,,tail\n"))
    assert [r.cells for r in table.rows] == [["a@example.com", ""], ["b@example.com", "Oslo"]]


def test_required_any_is_configurable(tmp_path: Path) -> None:
    path = write_text(tmp_path / "u.csv", "firstName\nAnn\n")
    assert open_table(path, required_any=()).column_index("firstName") == 0
    expect_error("missing-column", path, required_any=("emailId",))


# ---------------------------------------------------------------------------------------------
# CSV: delimiters, quoting, encodings


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_delimiters(tmp_path: Path, delimiter: str) -> None:
    lines = [["Email", "First Name", "Dept"], ["a@example.com", "Ann", "Sales, EMEA"], ["b@example.com", "Bo", "Ops"]]
    text = "\n".join(delimiter.join(f'"{v}"' if "," in v else v for v in line) for line in lines) + "\n"
    table = open_table(write_text(tmp_path / "u.txt", text))
    assert table.delimiter == delimiter
    assert [r.cells for r in table.rows] == [lines[1], lines[2]]


def test_tsv_extension(tmp_path: Path) -> None:
    table = open_table(write_text(tmp_path / "u.tsv", "Email\tNotes\na@example.com\tx, y; z\n"))
    assert table.delimiter == "\t"
    assert rows_of(table)[0].cells == ["a@example.com", "x, y; z"]


def test_excel_sep_line(tmp_path: Path) -> None:
    table = open_table(write_text(tmp_path / "u.csv", "sep=;\nEmail;City\na@example.com;Oslo, Norway\n"))
    assert table.delimiter == ";" and table.header_row == 1
    assert [(r.row, r.cells) for r in table.rows] == [(2, ["a@example.com", "Oslo, Norway"])]


def test_quoted_newlines_count_as_one_row(tmp_path: Path) -> None:
    text = 'email,groups,city\r\na@example.com,"Agents\r\nSupervisors",Oslo\r\n\r\nb@example.com,,Rome\r\n'
    table = open_table(write_text(tmp_path / "u.csv", text))
    assert [(r.row, r.cells) for r in table.rows] == [
        (2, ["a@example.com", "Agents\r\nSupervisors", "Oslo"]), (4, ["b@example.com", "", "Rome"])]


ENCODED_NAMES = {
    "cp1252": [("jose@example.com", "José", "Müller"), ("f@example.com", "François", "Noël")],
    "cp949": [("kim@example.kr", "민준", "김"), ("lee@example.kr", "서연", "이"), ("park@example.kr", "지훈", "박")],
    "cp932": [("sato@example.jp", "花子", "佐藤"), ("suzuki@example.jp", "一郎", "鈴木"),
              ("tanaka@example.jp", "さくら", "田中")],
    "gbk": [("wang@example.cn", "伟", "王"), ("li@example.cn", "娜", "李"), ("zhang@example.cn", "敏", "张")],
}


def users_csv(names: list[tuple[str, str, str]]) -> str:
    return "Email,First Name,Last Name\r\n" + "".join(f"{email},{first},{last}\r\n" for email, first, last in names)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16"])
def test_unicode_encodings(tmp_path: Path, encoding: str) -> None:
    names = [n for group in ENCODED_NAMES.values() for n in group]
    table = open_table(write_text(tmp_path / "u.csv", users_csv(names), encoding))
    assert table.encoding == encoding
    assert table.headers[0] == "Email"
    assert [tuple(r.cells) for r in table.rows] == names


@pytest.mark.parametrize("encoding", sorted(ENCODED_NAMES))
def test_legacy_code_pages(tmp_path: Path, encoding: str) -> None:
    names = ENCODED_NAMES[encoding]
    table = open_table(write_text(tmp_path / "u.csv", users_csv(names), encoding))
    assert table.encoding == encoding
    assert [tuple(r.cells) for r in table.rows] == names


@pytest.mark.parametrize(("encoding", "text"), [("cp949", "김민준,이서연"), ("cp932", "佐藤 花子,鈴木 一郎"), ("gbk", "王伟,李娜")])
def test_legacy_code_pages_from_two_names(tmp_path: Path, encoding: str, text: str) -> None:
    path = write_text(tmp_path / "u.csv", f"Email,Name,Other\r\na@example.com,{text}\r\n", encoding)
    assert detect_encoding(path) == encoding


def test_utf16_without_bom(tmp_path: Path) -> None:
    path = write_text(tmp_path / "u.txt", "Email\tName\r\na@example.com\tJosé\r\n", "utf-16-le")
    table = open_table(path)
    assert (table.encoding, table.delimiter) == ("utf-16-le", "\t")
    assert rows_of(table)[0].cells == ["a@example.com", "José"]


def test_invisible_characters_are_trimmed(tmp_path: Path) -> None:
    table = open_table(write_text(tmp_path / "u.csv", "\ufeffEmail,Name\n a@example.com\u200b,\u00a0\u200bJane \u3000\n"))
    assert table.headers == ["Email", "Name"]
    assert rows_of(table)[0].cells == ["a@example.com", "Jane"]
    plain = open_table(write_text(tmp_path / "v.csv", "Email,Name\n\ta@example.com ,\u00a0Jane\u00a0\n"))
    assert rows_of(plain)[0].cells == ["a@example.com", "Jane"]
    nbsp = open_table(write_text(tmp_path / "w.csv", "Email,Name\na@example.com,\u00a0José\u00a0\n", "cp1252"))
    assert rows_of(nbsp)[0].cells == ["a@example.com", "José"]


def test_late_non_ascii_is_found_by_the_whole_file_scan(tmp_path: Path) -> None:
    lines = ["email,firstName"] + [f"user{i}@example.com,User" for i in range(60_000)] + ["jose@example.com,José"]
    path = write_text(tmp_path / "u.csv", "\n".join(lines) + "\n", "cp1252")
    table = open_table(path)
    assert table.encoding == "cp1252"
    assert rows_of(table)[-1].cells == ["jose@example.com", "José"]


def test_random_bytes_csv_is_an_encoding_error(tmp_path: Path) -> None:
    path = tmp_path / "u.csv"
    path.write_bytes(os.urandom(20_000))
    err = expect_error("encoding-error", path)
    assert "CSV UTF-8" in err.message


def test_ambiguous_legacy_text_is_refused_not_guessed(tmp_path: Path) -> None:
    # Cyrillic cp1251 is none of the supported code pages: refuse, naming what was tried.
    text = users_csv([("ivan@example.ru", "Иван", "Иванов"), ("olga@example.ru", "Ольга", "Петрова")])
    err = expect_error("encoding-error", write_text(tmp_path / "u.csv", text, "cp1251"))
    assert "UTF-8, cp949, cp932, GBK, cp1252" in err.message and "CSV UTF-8" in err.message


def test_utf8_file_with_one_foreign_line_names_the_line(tmp_path: Path) -> None:
    body = "".join(f"u{i}@example.com,Zoë{i}\n" for i in range(30))
    path = tmp_path / "u.csv"
    path.write_bytes(("email,name\n" + body).encode() + "x@example.com,Noël\n".encode("cp1252"))
    err = expect_error("encoding-error", path)
    assert "line 32" in err.message


def test_undecodable_byte_after_the_evidence_cap_is_reported_with_its_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(io_encoding, "EVIDENCE_CAP", 100)
    body = "".join(f"u{i}@example.com,Zoë\n" for i in range(50))
    path = tmp_path / "u.csv"
    path.write_bytes(("email,name\n" + body).encode() + b"bad@example.com,\xff\xfe\n")
    with pytest.raises(InputError) as info:
        list(open_table(path).rows)
    assert info.value.code == "encoding-error"
    assert "line 52" in info.value.message


def test_unclosed_quote_is_reported_not_swallowed(tmp_path: Path) -> None:
    path = write_text(tmp_path / "u.csv", 'email,name\na@example.com,Ann\nb@example.com,"Bo\n' + "c@example.com,x\n" * 10)
    err = expect_error("corrupt-file", path)
    assert "line 3" in err.message and "never closed" in err.message
    bad = write_text(tmp_path / "v.csv", 'email,name\na@example.com,"Ann" Lee\n')
    assert "line 2" in expect_error("corrupt-file", bad).message


def test_quotes_inside_cells(tmp_path: Path) -> None:
    table = open_table(write_text(tmp_path / "u.csv", 'email,name\na@example.com,"Ann ""Lee"", Jr"\nb@example.com,Bo"b\n'))
    assert [r.cells[1] for r in table.rows] == ['Ann "Lee", Jr', 'Bo"b']


# ---------------------------------------------------------------------------------------------
# bad inputs


def test_missing_file(tmp_path: Path) -> None:
    expect_error("file-not-found", tmp_path / "nope.csv")
    expect_error("file-not-found", tmp_path)  # a folder


def test_empty_files(tmp_path: Path) -> None:
    (tmp_path / "zero.csv").write_bytes(b"")
    expect_error("file-empty", tmp_path / "zero.csv")
    expect_error("file-empty", write_text(tmp_path / "blank.csv", "\n\r\n , ,\n\n"))
    expect_error("file-empty", write_xlsx(tmp_path / "blank.xlsx", {"Users": []}))


def test_header_only(tmp_path: Path) -> None:
    err = expect_error("no-data-rows", write_text(tmp_path / "u.csv", "Email,First Name\n,\n\n"))
    assert "row 1" in err.message
    expect_error("no-data-rows", write_xlsx(tmp_path / "u.xlsx", {"Users": [USERS[0]]}))


def test_no_email_or_org_user_id_column(tmp_path: Path) -> None:
    err = expect_error("missing-column", write_text(tmp_path / "u.csv", "Name,Phone\nAnn,123\n"))
    assert "emailId" in err.message and "E-mail Address" in err.message
    assert "orgUserId" in err.message and "Employee ID" in err.message


def test_title_row_above_the_header_is_explained(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "u.xlsx", {"Users": [["New hires, March"], [], *USERS]})
    err = expect_error("missing-column", path)
    assert "row 3 looks like the header" in err.message


def test_data_without_a_header_row(tmp_path: Path) -> None:
    err = expect_error("no-header", write_text(tmp_path / "u.csv", "jane@example.com,Jane\njohn@example.com,John\n"))
    assert "looks like data" in err.message


def test_unsupported_extension(tmp_path: Path) -> None:
    expect_error("unsupported-format", write_text(tmp_path / "u.json", '{"users": []}'))
    expect_error("unsupported-format", write_text(tmp_path / "users", "email\na@example.com\n"))


def test_random_bytes_named_xlsx(tmp_path: Path) -> None:
    path = tmp_path / "u.xlsx"
    path.write_bytes(b"\x00\x01garbage" + os.urandom(5000))
    expect_error("corrupt-file", path)


def test_zip_that_is_not_a_workbook(tmp_path: Path) -> None:
    path = tmp_path / "u.xlsx"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("hello.txt", "hi")
    expect_error("corrupt-file", path)


def test_truncated_xlsx(tmp_path: Path) -> None:
    src = write_xlsx(tmp_path / "src.xlsx", {"Users": USERS})
    path = tmp_path / "u.xlsx"
    path.write_bytes(src.read_bytes()[:1500])
    expect_error("corrupt-file", path)


def test_xlsx_with_broken_sheet_xml(tmp_path: Path) -> None:
    src = write_xlsx(tmp_path / "src.xlsx", {"Users": USERS})
    path = rewrite_zip(src, tmp_path / "u.xlsx", {"xl/worksheets/sheet1.xml": b"<worksheet><sheetData><row"})
    expect_error("corrupt-file", path)


def test_password_protected_xlsx_minimal_cfb(tmp_path: Path) -> None:
    path = make_cfb(tmp_path / "secret.xlsx", ["EncryptionInfo", "EncryptedPackage"])
    assert ole.cfb_stream_names(path) >= {"Root Entry", "EncryptionInfo", "EncryptedPackage"}
    err = expect_error("encrypted-file", path)
    assert "password" in err.message


def test_password_protected_xlsx_real(tmp_path: Path) -> None:
    ooxml = pytest.importorskip("msoffcrypto.format.ooxml", reason="msoffcrypto-tool (test extra) encrypts xlsx")
    src = write_xlsx(tmp_path / "src.xlsx", {"Users": USERS})
    path = tmp_path / "secret.xlsx"
    with open(src, "rb") as fin, open(path, "wb") as fout:
        ooxml.OOXMLFile(fin).encrypt("s3cret", fout)
    expect_error("encrypted-file", path)


def test_size_text() -> None:
    assert [human_size(n) for n in (812, 1536, 5 << 20, 500 << 20, 2 << 30)] == [
        "812 bytes", "1.5 KB", "5.0 MB", "500 MB", "2.0 GB"]


def test_ole_file_that_is_not_a_workbook(tmp_path: Path) -> None:
    expect_error("corrupt-file", make_cfb(tmp_path / "letter.xls", ["WordDocument"]))
    broken = tmp_path / "broken.xls"
    broken.write_bytes(OLE_MAGIC + b"\0" * 100)
    expect_error("corrupt-file", broken)


def test_file_over_max_bytes(tmp_path: Path) -> None:
    path = write_text(tmp_path / "u.csv", "email\n" + "a@example.com\n" * 100)
    err = expect_error("file-too-large", path, limits=LoaderLimits(max_bytes=1000))
    assert "1.4 KB, over the 1000 bytes limit" in err.message and "split" in err.message


def test_too_many_rows_csv(tmp_path: Path) -> None:
    path = write_text(tmp_path / "u.csv", "email\n" + "".join(f"u{i}@example.com\n" for i in range(20)))
    table = open_table(path, limits=LoaderLimits(max_rows=5))  # CSV rows are counted while streaming
    with pytest.raises(InputError) as info:
        list(table.rows)
    assert info.value.code == "too-many-rows"
    assert len(rows_of(open_table(path, limits=LoaderLimits(max_rows=20)))) == 20


def test_too_many_rows_xlsx_is_refused_up_front(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "u.xlsx", {"Users": [["email"]] + [[f"u{i}@example.com"] for i in range(20)]})
    with pytest.raises(InputError) as info:
        open_table(path, limits=LoaderLimits(max_rows=5))
    assert info.value.code == "too-many-rows"


def test_zip_bomb_by_ratio(tmp_path: Path) -> None:
    src = write_xlsx(tmp_path / "src.xlsx", {"Users": USERS})
    path = rewrite_zip(src, tmp_path / "bomb.xlsx", {}, {"xl/media/zeros.bin": b"\0" * (8 << 20)})
    assert path.stat().st_size < 100_000
    err = expect_error("zip-bomb", path)
    assert "zeros.bin" in err.message


def test_zip_bomb_by_total_size(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "u.xlsx", {"Users": USERS})
    expect_error("zip-bomb", path, limits=LoaderLimits(max_uncompressed_bytes=5000))


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


def test_ods_repeated_cells_far_apart_are_refused_before_reading(tmp_path: Path) -> None:
    path = make_ods(tmp_path / "u.ods", {"Users": USERS})
    with zipfile.ZipFile(path) as z:
        content = z.read("content.xml")
    bomb = content.replace(b"</table:table>", b'<table:table-row table:number-rows-repeated="1000000"><table:table-cell '
                           b'table:number-columns-repeated="16384" office:value-type="float" office:value="1"/>'
                           b"</table:table-row></table:table>")
    err = expect_error("sheet-too-wide", rewrite_zip(path, tmp_path / "bomb.ods", {"content.xml": bomb}))
    assert "1,000,003 rows by 16,384 columns" in err.message
    # LibreOffice's own trailing filler (empty repeated rows and cells) costs nothing and is read.
    filler = content.replace(b"</table:table>", b'<table:table-row table:number-rows-repeated="1048570"><table:table-cell '
                             b'table:number-columns-repeated="16384"/></table:table-row></table:table>')
    assert len(rows_of(open_table(rewrite_zip(path, tmp_path / "filler.ods", {"content.xml": filler})))) == 2


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


def test_actual_header_width_is_guarded(tmp_path: Path) -> None:
    header = ",".join(["email"] + [f"extra{i}" for i in range(20)])
    path = write_text(tmp_path / "u.csv", header + "\na@example.com\n")
    expect_error("sheet-too-wide", path, limits=LoaderLimits(max_columns=10))
    xlsx = write_xlsx(tmp_path / "u.xlsx", {"Users": [header.split(","), ["a@example.com"]]})
    expect_error("sheet-too-wide", xlsx, limits=LoaderLimits(max_columns=10))


def test_errors_render_on_one_line_with_path_and_code(tmp_path: Path) -> None:
    path = tmp_path / "missing.xlsx"
    with pytest.raises(InputError) as info:
        open_table(str(path))
    assert str(info.value) == f"{path}: file not found: check the path and the file name [file-not-found]"


# ---------------------------------------------------------------------------------------------
# scale


def test_rows_are_streamed_lazily(tmp_path: Path) -> None:
    path = write_text(tmp_path / "u.csv", "email\n" + "".join(f"u{i}@example.com\n" for i in range(50_000)))
    table = open_table(path)
    first = next(table.rows)
    assert first == RawRow(2, ["u0@example.com"])
    assert sum(1 for _ in table.rows) == 49_999
