"""A big narrow sheet parsed by calamine in pieces reads exactly as the sheet parsed whole.

The pieces are forced onto small sheets here (tiny pieces, small chunks of the pass), so a sheet of
a few hundred rows is cut into many pieces at many places; each test reads the same file both ways
and compares rows (numbers, cells, formulas never calculated) or whole result workbooks.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from pathlib import Path

import pytest
import xlsxwriter
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bulkprov.errors import CorruptFile, InputError
from bulkprov.io import LoaderLimits, open_table
from bulkprov.io.xlsx import scan as xlsxscan
from bulkprov.io.xlsx import split as xlsxsplit
from bulkprov.jobs import JobSettings, run_job
from tests.check.test_columnwise import sheets, write_fixture

SHEET1 = "xl/worksheets/sheet1.xml"
SHEET2 = "xl/worksheets/sheet2.xml"  # the Users sheet of roster()
LIMITS = LoaderLimits()


class Pieces:
    """How many pieces the last read was cut into (0: parsed whole)."""

    def __init__(self) -> None:
        self.count = 0


@pytest.fixture
def small_pieces(monkeypatch) -> Pieces:
    """Cut every sheet, into pieces of a few rows, from parts of the pass of a few KB."""
    seen = Pieces()
    finish = xlsxsplit.PieceCutter.finish

    def counted(self):
        sheet = finish(self)
        seen.count = len(sheet) if sheet is not None else 0
        return sheet

    monkeypatch.setattr(xlsxsplit.PieceCutter, "finish", counted)
    monkeypatch.setattr(xlsxsplit, "CUT_MIN_BYTES", 0)
    monkeypatch.setattr(xlsxsplit, "FIRST_PIECE_BYTES", 600)
    monkeypatch.setattr(xlsxsplit, "MAX_PIECE_BYTES", 3000)
    monkeypatch.setattr(xlsxsplit, "cores", lambda: 2)
    monkeypatch.setattr(xlsxsplit, "STRINGS_SHARE_MAX", 100.0)  # shared strings copied into every piece too
    monkeypatch.setattr(xlsxscan, "CHUNK", 1024)
    return seen


def read(path: Path, *, whole: bool = False) -> list[tuple]:
    if whole:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(xlsxsplit, "worth_cutting", lambda *_: False)
            return read(path)
    return [(r.row, list(r.cells), r.uncalculated) for r in open_table(path).rows]


def both(path: Path, pieces: Pieces) -> tuple[list[tuple], list[tuple]]:
    cut = read(path)
    assert pieces.count >= 3, f"the sheet was cut into {pieces.count} pieces"
    return cut, read(path, whole=True)


def roster(path: Path, rows: int = 400, *, inline: bool = False, first_row: int = 0, first_col: int = 0) -> Path:
    """Headers, then rows of every cell kind: text, zero-padded numbers, dates, booleans, floats,
    formulas with and without a value, blank rows, rows with only a late cell or only a formula;
    a Groups lookup sheet before it (its part is left out of the pieces' workbooks)."""
    wb = xlsxwriter.Workbook(str(path), {"constant_memory": inline})
    groups = wb.add_worksheet("Groups")
    groups.write_row(0, 0, ["name", "groupId"])
    groups.write_row(1, 0, ["Sales", "e-06b41cdd-7678-5394-b958-40ca5662f502"])
    ws = wb.add_worksheet("Users")
    pad, day = wb.add_format({"num_format": "00000"}), wb.add_format({"num_format": "yyyy-mm-dd"})
    r0, c0 = first_row, first_col
    ws.write_row(r0, c0, ["Email", "Zip", "Hired", "canCreateBot", "Score", "Formula", "Department"])
    for i in range(1, rows):
        r = r0 + i
        if i % 37 == 0:
            continue  # a blank row
        if i % 41 == 0:
            ws.write_string(r, c0 + 6, "only the department")
            continue
        if i % 43 == 0:
            ws.write_formula(r, c0 + 5, "=1+1", None, "")  # a row holding only a formula never calculated
            continue
        ws.write_string(r, c0, f"user{i}@example.com")
        ws.write_number(r, c0 + 1, i, pad)
        ws.write_datetime(r, c0 + 2, dt.datetime(2020, 1, 1) + dt.timedelta(days=i), day)
        ws.write_boolean(r, c0 + 3, i % 2 == 0)
        ws.write_number(r, c0 + 4, i / 7)
        ws.write_formula(r, c0 + 5, "=2*3", None, "" if i % 5 == 0 else 6)
        ws.write_string(r, c0 + 6, ["Sales", "HR & Admin", "IT <ops>"][i % 3])
    wb.close()
    return path


@pytest.mark.parametrize("inline", [False, True], ids=["shared-strings", "inline-strings"])
def test_pieces_read_what_the_whole_sheet_reads(tmp_path: Path, small_pieces: Pieces, inline: bool) -> None:
    cut, whole = both(roster(tmp_path / "r.xlsx", inline=inline), small_pieces)
    assert cut == whole
    assert cut[0][1][:3] == ["user1@example.com", "00001", "2020-01-02"]
    assert any(number == 44 and formulas for number, _, formulas in cut), "the formula-only row is read"


def test_pieces_keep_excel_row_and_column_numbers_away_from_a1(tmp_path: Path, small_pieces: Pieces) -> None:
    cut, whole = both(roster(tmp_path / "r.xlsx", first_row=4, first_col=2), small_pieces)
    assert cut == whole
    assert cut[0][0] == 6 and cut[0][1][2:5] == ["user1@example.com", "00001", "2020-01-02"]


def test_pieces_work_without_memfd(tmp_path: Path, small_pieces: Pieces, monkeypatch) -> None:
    """Where memfd_create is missing (not Linux), the pieces are in-memory files calamine copies."""
    def no_memfd(*_a):
        raise OSError("not here")

    monkeypatch.setattr(xlsxsplit.os, "memfd_create", no_memfd, raising=False)
    cut, whole = both(roster(tmp_path / "r.xlsx"), small_pieces)
    assert cut == whole


def test_pieces_wait_for_calamine_when_too_much_is_waiting(tmp_path: Path, small_pieces: Pieces,
                                                          monkeypatch) -> None:
    monkeypatch.setattr(xlsxsplit, "WAITING_MAX_BYTES", 1)
    cut, whole = both(roster(tmp_path / "r.xlsx"), small_pieces)
    assert cut == whole


@pytest.mark.parametrize("with_action", [True, False], ids=["per-row-action", "all-adds"])
def test_validate_workbook_with_every_error_is_the_same_in_pieces(tmp_path: Path, small_pieces: Pieces,
                                                                  with_action: bool) -> None:
    """The result workbook of a sheet with a row for every error code the validator can raise."""
    source = tmp_path / "fixture.csv"
    write_fixture(source, with_action=with_action)
    path = tmp_path / "fixture.xlsx"
    wb = xlsxwriter.Workbook(str(path), {"strings_to_numbers": False, "strings_to_formulas": False})
    ws = wb.add_worksheet("Users")
    with open(source, newline="", encoding="utf-8") as fh:
        for r, row in enumerate(csv.reader(fh)):
            for c, value in enumerate(row):
                if value:
                    ws.write_string(r, c, value)
    wb.close()
    out_cut, out_whole = tmp_path / "cut.xlsx", tmp_path / "whole.xlsx"
    run_job(path, JobSettings(command="validate", output=out_cut))
    assert small_pieces.count >= 3
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(xlsxsplit, "worth_cutting", lambda *_: False)
        run_job(path, JobSettings(command="validate", output=out_whole))
    cut, whole = sheets(out_cut), sheets(out_whole)
    assert cut == whole
    assert len(cut["Failures"]) > 20


def sheet_xml(rows: list[str]) -> bytes:
    return ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet xmlns="http://schemas.'
            'openxmlformats.org/spreadsheetml/2006/main"><dimension ref="A1:B9"/><sheetData>'
            + "".join(rows) + "</sheetData></worksheet>").encode()


def with_sheet(path: Path, rows: list[str]) -> Path:
    """A workbook (made by XlsxWriter) whose sheet XML is replaced by ``rows``."""
    base = tmp = path.with_suffix(".base.xlsx")
    wb = xlsxwriter.Workbook(str(tmp))
    wb.add_worksheet("Users").write(0, 0, "x")
    wb.close()
    with zipfile.ZipFile(base) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for info in src.infolist():
            out.writestr(info, sheet_xml(rows) if info.filename == SHEET1 else src.read(info))
    return path


def row(n: int, *cells: str) -> str:
    return f'<row r="{n}">' + "".join(cells) + "</row>"


def text(ref: str, value: str) -> str:
    return f'<c r="{ref}" t="inlineStr"><is><t>{value}</t></is></c>'


HEADER = row(1, text("A1", "Email"), text("B1", "Department"))


def plain_rows(first: int, last: int) -> list[str]:
    return [row(n, text(f"A{n}", f"u{n}@example.com"), text(f"B{n}", "Sales")) for n in range(first, last)]


@pytest.mark.parametrize("late", [
    text("AA150", "wide"),                                             # a cell past column Z
    '<c r="B150" t="inlineStr"><is><t><![CDATA[</row><row r="2">]]></t></is></c>',  # CDATA: </row> as text
    '<c r="B150" t="inlineStr"><is><t>a</t></is><!-- </row> --></c>',  # a comment
], ids=["wide", "cdata", "comment"])
def test_a_part_that_cannot_be_cut_sends_the_sheet_whole(tmp_path: Path, small_pieces: Pieces, late: str) -> None:
    """Cutting stops at the first part that is not narrow or could hide ``</row>`` in text; the
    pieces made so far are dropped and calamine parses the sheet whole."""
    rows = [HEADER, *plain_rows(2, 150), row(150, text("A150", "u150@example.com"), late), *plain_rows(151, 300)]
    path = with_sheet(tmp_path / "late.xlsx", rows)
    cut = read(path)
    assert small_pieces.count == 0
    assert cut == read(path, whole=True)
    assert cut[-1][0] == 299 and len(cut) == 298


def test_rows_out_of_order_across_pieces_are_damage(tmp_path: Path, small_pieces: Pieces) -> None:
    """Excel requires ascending rows; once a piece's rows have gone out, a later piece holding an
    earlier row cannot be put back in order, so the file is refused with the row named."""
    rows = [HEADER, *plain_rows(2, 250), row(20, text("A20", "again@example.com")), *plain_rows(251, 300)]
    path = with_sheet(tmp_path / "disorder.xlsx", rows)
    with pytest.raises(CorruptFile) as caught:
        read(path)
    assert "ascending" in str(caught.value) and "row 20" in str(caught.value)


def test_a_piece_calamine_refuses_is_reported_as_the_whole_sheet_would_be(tmp_path: Path, small_pieces: Pieces) -> None:
    rows = [HEADER, *plain_rows(2, 200), row(200, '<c r="A200" t="inlineStr"><is><t>x</t></is></b></c>'),
            *plain_rows(201, 300)]
    path = with_sheet(tmp_path / "broken.xlsx", rows)
    with pytest.raises(CorruptFile) as whole:
        read(path, whole=True)
    with pytest.raises(CorruptFile) as cut:
        read(path)
    assert str(cut.value) == str(whole.value)


def test_small_sheets_one_core_and_big_shared_strings_are_parsed_whole(tmp_path: Path, monkeypatch) -> None:
    path = roster(tmp_path / "r.xlsx")
    with zipfile.ZipFile(path) as zf:
        assert not xlsxsplit.worth_cutting(zf, SHEET2, LIMITS), "a small sheet"
        monkeypatch.setattr(xlsxsplit, "CUT_MIN_BYTES", 0)
        assert xlsxsplit.worth_cutting(zf, SHEET2, LIMITS)
        assert not xlsxsplit.worth_cutting(zf, SHEET2, LoaderLimits(max_rows=500_000)), "a row limit below 999,999"
        monkeypatch.setattr(xlsxsplit, "cores", lambda: 1)
        assert not xlsxsplit.worth_cutting(zf, SHEET2, LIMITS), "one core"
    monkeypatch.setattr(xlsxsplit, "cores", lambda: 2)
    unique = tmp_path / "unique.xlsx"  # every cell a string of its own: the shared strings outweigh the sheet
    wb = xlsxwriter.Workbook(str(unique))
    ws = wb.add_worksheet("Users")
    for r in range(300):
        ws.write_row(r, 0, [f"user{r}@example.com", f"First{r}", f"Last{r}"])
    wb.close()
    with zipfile.ZipFile(unique) as zf:
        assert not xlsxsplit.worth_cutting(zf, SHEET1, LIMITS), "shared strings bigger than a quarter of the sheet"


CELL = st.one_of(st.none(), st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=12),
                 st.integers(-10**6, 10**9), st.booleans())


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.lists(CELL, max_size=6), min_size=1, max_size=120), first=st.integers(1, 9))
def test_any_sheet_reads_the_same_in_pieces(tmp_path_factory, small_pieces: Pieces, rows, first) -> None:
    path = tmp_path_factory.mktemp("h") / "any.xlsx"
    wb = xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_numbers": False,
                                         "strings_to_formulas": False, "strings_to_urls": False})
    ws = wb.add_worksheet("Users")
    ws.write_row(0, 0, ["Email", "a", "b", "c", "d", "e"])
    for r, cells in enumerate(rows, start=first):
        for c, value in enumerate(cells):
            if value is not None:
                ws.write(r, c, value)
    wb.close()
    small_pieces.count = 0
    cut = outcome(path)
    assert cut == outcome(path, whole=True)
    if len(rows) > 80 and not isinstance(cut, str):
        assert small_pieces.count >= 2


def outcome(path: Path, *, whole: bool = False) -> list[tuple] | str:
    """The rows read, or the error a user would see."""
    try:
        return read(path, whole=whole)
    except InputError as exc:
        return str(exc)


def test_a_piece_workbook_holds_the_original_parts_and_its_rows(tmp_path: Path) -> None:
    """What calamine opens for a piece: the small parts as they were, the sheet's head, one range of
    rows and a closing tag."""
    path = roster(tmp_path / "r.xlsx")
    with zipfile.ZipFile(path) as zf:
        others = [(i.filename, zf.read(i)) for i in zf.infolist() if i.filename != SHEET2]
    book = xlsxsplit.piece_workbook(others, SHEET2, (b"<worksheet><sheetData>", b'<row r="7"/>', b"</sheetData></worksheet>"))
    with zipfile.ZipFile(io.BytesIO(book.read())) as piece:
        assert piece.read(SHEET2) == b'<worksheet><sheetData><row r="7"/></sheetData></worksheet>'
        assert {n for n, _ in others} <= set(piece.namelist())
        assert all(i.compress_type == zipfile.ZIP_STORED for i in piece.infolist())
    book.close()


def test_an_error_before_the_rows_stops_the_parse_of_the_pieces(tmp_path: Path, small_pieces: Pieces,
                                                                 monkeypatch) -> None:
    """A sheet refused at its header (no email column) leaves no pieces being parsed behind it: the
    command ends at once instead of waiting for calamine to finish a sheet nobody reads."""
    import concurrent.futures
    import time

    made: list = []
    parse, finish = xlsxsplit._parse, xlsxsplit.PieceCutter.finish

    def slow(book, sheet):
        time.sleep(0.05)
        return parse(book, sheet)

    def kept(self):
        made.append(finish(self))
        return made[-1]

    monkeypatch.setattr(xlsxsplit, "_parse", slow)
    monkeypatch.setattr(xlsxsplit.PieceCutter, "finish", kept)
    rows = [row(1, text("A1", "Nickname"), text("B1", "Department")), *plain_rows(2, 300)]
    path = with_sheet(tmp_path / "noemail.xlsx", rows)
    with pytest.raises(InputError, match="missing-column") as caught:
        read(path)
    assert caught.value  # the error (and so the sheet, through its traceback) is still held here
    futures = made[0].futures
    concurrent.futures.wait(futures, timeout=10)
    assert len(futures) >= 5 and sum(f.cancelled() for f in futures) >= 3


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 3),
                                st.sampled_from([b"<", b">", b"</row>", b'"', b"<c r=\"B7\">", b"\x00", b"AA", b"<!--",
                                                 b"</sheetData>", b"9999999", b""])), min_size=1, max_size=4))
def test_a_damaged_sheet_in_pieces_is_rows_or_one_clear_error(tmp_path_factory, small_pieces: Pieces, edits) -> None:
    """Bytes cut, doubled or replaced anywhere in a sheet's XML: reading it in pieces gives rows or an
    input error (exit 2), never a traceback -- whatever part of the cutting the damage meets."""
    rows = [HEADER, *plain_rows(2, 120)]
    xml = bytearray(sheet_xml(rows))
    for at, drop, insert in edits:
        at %= len(xml)
        xml[at:at + drop] = insert
    path = tmp_path_factory.mktemp("d") / "damaged.xlsx"
    with_sheet(path, [])
    with zipfile.ZipFile(path) as src:
        parts = {i.filename: src.read(i) for i in src.infolist()}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for name, data in parts.items():
            out.writestr(name, bytes(xml) if name == SHEET1 else data)
    outcome(path)  # raises anything but an InputError
