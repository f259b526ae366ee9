"""Input fidelity (issue 15): cells exactly as a spreadsheet application shows them, and no invisible
or garbled text sent to the account.

The display every reader must reproduce is LibreOffice Calc 7.4's: ``tests/fixtures/libreoffice/``
holds a workbook written by XlsxWriter, the same workbook saved by LibreOffice as .ods, .xls and
.xlsx, and LibreOffice's own "as shown" CSV export of it (``make.py`` there regenerates them).  The
tests below read those files, and files made by other writers (openpyxl, xlwt, odfpy), and compare
with that display; where LibreOffice is installed (the ``soffice_path`` fixture), a file made during
the test is also converted by LibreOffice on the spot and compared.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import subprocess
import zipfile
from pathlib import Path

import openpyxl
import pytest
import xlsxwriter
from hypothesis import given, settings
from hypothesis import strategies as st

from bulkprov.cli import main
from bulkprov.errors import InputError
from bulkprov.io import open_table
from bulkprov.jobs import JobSettings, run_job
from tests.conftest import read_sheet, results_by_row

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "libreoffice"
SHOWN = list(csv.reader((FIXTURES / "formats-shown.csv").read_text(encoding="utf-8").splitlines()))


def cells(path: Path, **kw) -> list[list[str]]:
    return [r.cells for r in open_table(path, **kw).rows]


def run_cli(*argv: str) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(list(argv))
    return code, err.getvalue()


# ---------------------------------------------------------------------------------------------
# number formats: zero padding, dates, times, percentages, text, grouping, literals


@pytest.mark.parametrize("name", ["formats.xlsx", "formats-lo.xlsx", "formats.ods", "formats.xls"])
def test_cells_read_as_libreoffice_shows_them(name: str) -> None:
    """XlsxWriter's workbook and LibreOffice's .xlsx/.ods/.xls saves of it read exactly as Calc displays them."""
    table = open_table(FIXTURES / name)
    assert table.headers == SHOWN[0]
    assert [r.cells for r in table.rows] == SHOWN[1:]


FORMATS = [("00000", 2128, "02128"), ("dd/mm/yyyy", dt.datetime(2020, 1, 2), "02/01/2020"),
           ("h:mm AM/PM", dt.time(13, 5), "1:05 PM"), ("0.0%", 0.256, "25.6%"), ("000-00-0000", 78051120, "078-05-1120"),
           ("#,##0.00", 1234.5, "1,234.50"), ("mmm d, yyyy", dt.datetime(1990, 12, 31), "Dec 31, 1990"),
           ("yyyy-mm-dd", dt.datetime(2024, 1, 31, 10, 30), "2024-01-31")]


def _made_by_openpyxl(tmp_path: Path) -> tuple[Path, list[list[str]]]:
    path = tmp_path / "u.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Email"] + [f"c{i}" for i in range(len(FORMATS))] + ["Code"])
    ws.append(["a@example.com"] + [v for _, v, _ in FORMATS] + ["00123"])
    for i, (code, _, _) in enumerate(FORMATS, start=2):
        ws.cell(row=2, column=i).number_format = code
    ws.cell(row=2, column=len(FORMATS) + 2).number_format = "@"
    wb.save(path)
    return path, [["a@example.com"] + [shown for _, _, shown in FORMATS] + ["00123"]]


def _made_by_xlwt(tmp_path: Path) -> tuple[Path, list[list[str]]]:
    import xlwt

    path = tmp_path / "u.xls"
    wb = xlwt.Workbook()
    ws = wb.add_sheet("Users")
    ws.write(0, 0, "Email")
    ws.write(1, 0, "a@example.com")
    for i, (code, value, _) in enumerate(FORMATS, start=1):
        ws.write(0, i, f"c{i}")
        ws.write(1, i, value, xlwt.easyxf(num_format_str=code))
    wb.save(str(path))
    return path, [["a@example.com"] + [shown for _, _, shown in FORMATS]]


def _made_by_odfpy(tmp_path: Path) -> tuple[Path, list[list[str]]]:
    """An .ods made by odfpy with number, date, percentage and embedded-text styles on cells and columns."""
    from odf import number, style, table, text
    from odf.opendocument import OpenDocumentSpreadsheet

    doc = OpenDocumentSpreadsheet()
    zip_style = number.NumberStyle(name="Nzip")
    zip_style.addElement(number.Number(decimalplaces="0", minintegerdigits="5"))
    ssn = number.NumberStyle(name="Nssn")
    digits = number.Number(decimalplaces="0", minintegerdigits="9")
    digits.addElement(number.EmbeddedText(position="6", text="-"))
    digits.addElement(number.EmbeddedText(position="4", text="-"))
    ssn.addElement(digits)
    date = number.DateStyle(name="Ndate")
    for part in (number.Day(style="long"), number.Text(text="/"), number.Month(style="long"), number.Text(text="/"),
                 number.Year(style="long")):
        date.addElement(part)
    pct = number.PercentageStyle(name="Npct")
    pct.addElement(number.Number(decimalplaces="1", minintegerdigits="1"))
    pct.addElement(number.Text(text="%"))
    for s in (zip_style, ssn, date, pct):
        doc.automaticstyles.addElement(s)
    cell_styles = {}
    for key, data in (("zip", "Nzip"), ("ssn", "Nssn"), ("date", "Ndate"), ("pct", "Npct")):
        cell_styles[key] = style.Style(name=f"ce-{key}", family="table-cell", datastylename=data)
        doc.automaticstyles.addElement(cell_styles[key])
    sheet = table.Table(name="Users")
    sheet.addElement(table.TableColumn())
    sheet.addElement(table.TableColumn(defaultcellstylename="ce-zip"))  # the zip column is formatted as a whole
    sheet.addElement(table.TableColumn(numbercolumnsrepeated=3))

    def row(*items):
        tr = table.TableRow()
        for kind, value, shown, style_name in items:
            attrs = {"valuetype": kind}
            if kind == "date":
                attrs["datevalue"] = value
            elif kind != "string":
                attrs["value"] = value
            if style_name:
                attrs["stylename"] = cell_styles[style_name]
            tc = table.TableCell(**attrs)
            tc.addElement(text.P(text=shown))
            tr.addElement(tc)
        sheet.addElement(tr)

    row(*[("string", None, h, None) for h in ("Email", "Zip", "SSN", "Start", "Share")])
    row(("string", None, "a@example.com", None), ("float", 2128, "2128", None), ("float", 78051120, "x", "ssn"),
        ("date", "2020-01-02", "x", "date"), ("percentage", 0.256, "x", "pct"))
    doc.spreadsheet.addElement(sheet)
    path = tmp_path / "u.ods"
    doc.save(str(path))
    return path, [["a@example.com", "02128", "078-05-1120", "02/01/2020", "25.6%"]]


MADE_BY = {"openpyxl": _made_by_openpyxl, "xlwt": _made_by_xlwt, "odfpy": _made_by_odfpy}


@pytest.mark.parametrize("maker", MADE_BY)
def test_formats_of_files_other_tools_make(maker: str, tmp_path: Path) -> None:
    path, shown = MADE_BY[maker](tmp_path)
    assert cells(path) == shown


@pytest.mark.parametrize("maker", MADE_BY)
def test_libreoffice_shows_what_we_read(maker: str, tmp_path: Path, soffice_path: str) -> None:
    """LibreOffice's "as shown" CSV export of the same file equals what we read."""
    path, _ = MADE_BY[maker](tmp_path)
    out = tmp_path / "lo"
    subprocess.run([soffice_path, "--headless", f"-env:UserInstallation=file://{tmp_path}/profile", "--convert-to",
                    "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,true", "--outdir", str(out), str(path)],
                   check=True, capture_output=True, timeout=120)
    shown = list(csv.reader((out / (path.stem + ".csv")).read_text(encoding="utf-8").splitlines()))
    table = open_table(path)
    assert [table.headers] + [r.cells for r in table.rows] == shown


# ---------------------------------------------------------------------------------------------
# formulas


@given(value=st.one_of(st.integers(-10**15, 10**15), st.floats(-1e15, 1e15, allow_nan=False)),
       width=st.integers(1, 12))
@settings(max_examples=300, deadline=None)
def test_zero_padding_shortcut_shows_what_the_general_renderer_shows(value: float, width: int) -> None:
    """``00000`` (zip codes, employee numbers) takes a shortcut on every row; it must show exactly what
    the general renderer of the same format shows (a literal keeps the format off the shortcut)."""
    from bulkprov.io.shared.formats import compile_format

    padded, general = compile_format("0" * width), compile_format("0" * width + '""')
    assert padded(value) == general(value)


def test_formulas_without_a_cached_value_make_the_row_invalid(tmp_path: Path) -> None:
    """openpyxl stores formulas without values: the row says so, never a silent blank (LibreOffice-saved: values)."""
    out = tmp_path / "r.xlsx"
    outcome = run_job(FIXTURES / "formulas.xlsx", JobSettings(command="validate", output=out))
    rows = results_by_row(outcome.results_path)
    assert rows[2]["status"] == "invalid" and rows[2]["error_code"] == "uncalculated-formula"
    assert "=UPPER(C2)" in rows[2]["reason"] and "open the file in Excel and save it" in rows[2]["reason"]
    assert rows[3]["status"] == "invalid" and "missing-email" not in (rows[3]["reason"] or "")
    assert '=LOWER(B3)&"@example.com"' in rows[3]["reason"] and "Department" in rows[3]["reason"]  # the sheet's header
    # The same file after LibreOffice calculated and saved it reads its values.
    assert cells(FIXTURES / "formulas-lo.xlsx") == [["jane@example.com", "Jane", "Doe", "DOE Team"],
                                                    ["john@example.com", "John", "Smith", "DOE Team"]]
    assert run_job(FIXTURES / "formulas-lo.xlsx", JobSettings(command="validate", output=out)).exit_code == 0


def test_xlsxwriter_placeholder_values_are_not_trusted(tmp_path: Path) -> None:
    """XlsxWriter writes 0 for a formula and asks Excel to recalculate on load: the 0 is not what Excel shows."""
    path = tmp_path / "u.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("Users")
    ws.write_row(0, 0, ["Email", "First Name", "Last Name"])
    ws.write_row(1, 0, ["a@example.com", "Ann"])
    ws.write_formula(1, 2, '=UPPER("lee")')
    wb.close()
    with zipfile.ZipFile(path) as z:
        assert b"fullCalcOnLoad" in z.read("xl/workbook.xml")
    table = open_table(path)
    [row] = list(table.rows)
    assert row.cells == ["a@example.com", "Ann", ""] and row.uncalculated == {2: '=UPPER("lee")'}


def test_excel_empty_string_result_is_a_value(tmp_path: Path) -> None:
    """Excel writes a formula whose result is "" as ``t="str"`` with an empty ``<v>``: calculated, not flagged."""
    src = tmp_path / "src.xlsx"
    wb = openpyxl.Workbook()
    wb.active.append(["Email", "Last Name"])
    wb.active.append(["a@example.com", '=IF(1=1,"","x")'])
    wb.save(src)
    with zipfile.ZipFile(src) as z:
        members = {n: z.read(n) for n in z.namelist()}
    sheet = members["xl/worksheets/sheet1.xml"]
    members["xl/worksheets/sheet1.xml"] = sheet.replace(b'<c r="B2">', b'<c r="B2" t="str">').replace(b"<v />", b"<v></v>")
    members["xl/workbook.xml"] = members["xl/workbook.xml"].replace(b'fullCalcOnLoad="1"', b"")
    path = tmp_path / "excel.xlsx"
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    [row] = list(open_table(path).rows)
    assert row.cells == ["a@example.com", ""] and row.uncalculated is None


def test_formula_scan_without_cell_references_matches(tmp_path: Path) -> None:
    """A writer that omits cell references takes the exact (expat) path: same formats and formulas."""
    src = tmp_path / "src.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Email", "Zip", "Last Name"])
    ws.append(["a@example.com", 2128, "=A2"])
    ws["B2"].number_format = "00000"
    wb.save(src)
    with zipfile.ZipFile(src) as z:
        members = {n: z.read(n) for n in z.namelist()}
    import re

    members["xl/worksheets/sheet1.xml"] = re.sub(rb' r="[A-Z]+\d+"', b"", members["xl/worksheets/sheet1.xml"])
    path = tmp_path / "norefs.xlsx"
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    for p in (src, path):
        [row] = list(open_table(p).rows)
        assert row.cells == ["a@example.com", "02128", ""] and row.uncalculated == {2: "=A2"}


def test_ods_formula_without_value(tmp_path: Path) -> None:
    pytest.importorskip("odf")
    from odf import table, text
    from odf.opendocument import OpenDocumentSpreadsheet

    doc = OpenDocumentSpreadsheet()
    sheet = table.Table(name="Users")
    for values in (["Email", "First Name"], ["a@example.com", None]):
        tr = table.TableRow()
        for v in values:
            if v is None:
                tr.addElement(table.TableCell(formula="of:=UPPER([.A2])"))
            else:
                tc = table.TableCell(valuetype="string")
                tc.addElement(text.P(text=v))
                tr.addElement(tc)
        sheet.addElement(tr)
    doc.spreadsheet.addElement(sheet)
    path = tmp_path / "u.ods"
    doc.save(str(path))
    [row] = list(open_table(path).rows)
    assert row.uncalculated == {1: "=UPPER([.A2])"}


# ---------------------------------------------------------------------------------------------
# encodings


MAC_ROMAN = "Email,First Name,Last Name\r\nrenee@example.com,Renée,Köster\r\njose@example.com,José,Müller\r\n"


def test_mac_roman_is_refused_not_guessed_and_can_be_named(tmp_path: Path) -> None:
    path = tmp_path / "u.csv"
    path.write_bytes(MAC_ROMAN.encode("mac-roman"))
    code, err = run_cli("validate", str(path), "-o", str(tmp_path / "r.xlsx"))
    assert code == 2 and "[encoding-error]" in err
    assert "UTF-8, cp949, cp932, GBK, cp1252" in err and "Ren" in err and "--encoding" in err
    code, err = run_cli("validate", str(path), "--encoding", "mac-roman", "-o", str(tmp_path / "r.xlsx"))
    assert code == 0, err
    assert [r["emailId"] for r in read_sheet(tmp_path / "r.xlsx", "Results")] == ["renee@example.com", "jose@example.com"]
    assert cells(path, encoding="mac-roman")[0] == ["renee@example.com", "Renée", "Köster"]


def test_one_mac_roman_name_read_as_cp932_is_implausible(tmp_path: Path) -> None:
    path = tmp_path / "u.csv"
    path.write_bytes("Email,First Name,Last Name\r\nrenee@example.com,Renée,Köster\r\n".encode("mac-roman"))
    with pytest.raises(InputError) as info:
        list(open_table(path).rows)
    assert info.value.code == "encoding-error"


def test_named_encoding_errors(tmp_path: Path) -> None:
    path = tmp_path / "u.csv"
    path.write_bytes("Email,Name\na@example.com,José\n".encode())
    with pytest.raises(InputError) as info:
        open_table(path, encoding="klingon")
    assert "'klingon' is not an encoding" in info.value.message
    with pytest.raises(InputError) as info:
        list(open_table(path, encoding="ascii").rows)
    assert "cannot be read as ascii (line 2)" in info.value.message


NAMES = "Email,First Name,Last Name\r\nkim@example.kr,민준,김\r\nsato@example.jp,花子,佐藤\r\nrenee@example.com,Renée,Köster\r\n"


@pytest.mark.parametrize("codec", ["utf-32", "utf-32-le", "utf-32-be", "utf-16-le", "utf-16-be", "utf-16"])
def test_utf16_and_utf32_with_and_without_bom(tmp_path: Path, codec: str) -> None:
    path = tmp_path / "u.csv"
    path.write_bytes(NAMES.encode(codec))
    table = open_table(path)
    assert table.headers == ["Email", "First Name", "Last Name"]
    assert [r.cells[1] for r in table.rows] == ["민준", "花子", "Renée"]


def test_decode_error_in_utf16_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "u.csv"
    path.write_bytes(b"\xff\xfe" + "Email,Name\r\na@example.com,Ann\r\nb@example.com,".encode("utf-16-le")
                     + b"\x00\xd8" + ",x\r\n".encode("utf-16-le"))  # a lone high surrogate on line 3
    with pytest.raises(InputError) as info:
        list(open_table(path).rows)
    assert "line 3 cannot be read as UTF-16" in info.value.message


# ---------------------------------------------------------------------------------------------
# invisible characters


def _roster(tmp_path: Path, rows: list[list[str]], header: list[str] | None = None) -> Path:
    """An xlsx (XlsxWriter: text pasted into Excel keeps such characters; a CSV with a NUL is refused as binary)."""
    path = tmp_path / "u.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("Users")
    for r, row in enumerate([header or ["Email", "Employee ID", "First Name", "Last Name"]] + rows):
        for c, value in enumerate(row):
            ws.write_string(r, c, value)
    wb.close()
    return path


def test_invisible_characters_in_keys_are_row_errors_and_in_names_removed(tmp_path: Path) -> None:
    path = _roster(tmp_path, [
        ["john@exa\u202emple.com", "E1", "John", "Doe"],
        ["nul@exam\x00ple.com", "E2", "Nul", "Byte"],
        ["\u200fann@example.com\u200f", "E3", "Ann", "Lee"],
        ["bo@example.com", "E\u200b4", "Bo", "Kim"],
        ["eve@example.com", "E5", "\u200fEve\x00", "Ng\u202e"],
        ["sara@example.com", "E6", "\u0633\u0627\u0631\u0627\u200c\u0647", "Rahimi"],
    ])
    outcome = run_job(path, JobSettings(command="validate", output=tmp_path / "r.xlsx"))
    rows = results_by_row(outcome.results_path)
    assert rows[2]["error_code"] == "invisible-character"
    assert "U+202E RIGHT-TO-LEFT OVERRIDE at position 9" in rows[2]["reason"]
    assert "U+0000 NULL at position 9" in rows[3]["reason"]
    assert "U+200F RIGHT-TO-LEFT MARK at position 1" in rows[4]["reason"]
    assert "Employee ID" in rows[5]["reason"] and "U+200B ZERO WIDTH SPACE at position 2" in rows[5]["reason"]
    assert rows[6]["status"] == "valid"
    assert "First Name: removed U+200F RIGHT-TO-LEFT MARK, U+0000 NULL" in rows[6]["reason"]  # the sheet's headers
    assert "Last Name: removed U+202E RIGHT-TO-LEFT OVERRIDE" in rows[6]["reason"]
    assert rows[7]["status"] == "valid" and not rows[7]["reason"]  # a Persian zero-width non-joiner is spelling


def test_invisible_characters_are_never_sent(make_emulator, creds, tmp_path: Path) -> None:
    emu = make_emulator()
    path = _roster(tmp_path, [["john@exa\u202emple.com", "E1", "John", "Doe"],
                              ["nul@exam\x00ple.com", "E2", "Nul", "Byte"],
                              ["eve@example.com", "E5", "\u200fEve", "Ng"]])
    settings = JobSettings(command="add", host=emu.url, output=tmp_path / "r.xlsx", rate="none", timeout=5.0,
                           state_dir=tmp_path / "state")
    outcome = run_job(path, settings, credentials=creds)
    assert outcome.exit_code == 1
    users = emu.state()["users"]
    assert [(u["userInfo"]["emailId"], u["userInfo"]["firstName"]) for u in users] == [("eve@example.com", "Eve")]
    rows = results_by_row(outcome.results_path)
    assert rows[4]["status"] == "success" and "removed U+200F RIGHT-TO-LEFT MARK" in rows[4]["reason"]


def test_headers_with_invisible_characters(tmp_path: Path) -> None:
    path = _roster(tmp_path, [["a@example.com", "Ann"]], header=["\u200femailId", "Nick\u200bname"])
    table = open_table(path)
    assert table.column_index("emailId") == 0
    messages = [w.message for w in table.warnings]
    assert any("'<U+200F>emailId'" in m and "U+200F RIGHT-TO-LEFT MARK" in m for m in messages)
    assert any("'Nick<U+200B>name'" in m for m in messages)
    lonely = _roster(tmp_path, [["a@example.com"]], header=["E\u202email"])
    assert open_table(lonely).column_index("emailId") == 0


# ---------------------------------------------------------------------------------------------
# the misleading messages of issue 15


def test_a_damaged_lookup_sheet_is_named_with_what_to_do(tmp_path: Path) -> None:
    """Was "the workbook cannot be read (Roles)": which sheet, what is wrong, what to do."""
    src = tmp_path / "src.xlsx"
    wb = xlsxwriter.Workbook(str(src))
    wb.add_worksheet("Users").write_column(0, 0, ["Email", "a@example.com"])
    wb.add_worksheet("Roles").write_row(0, 0, ["name", "roleId"])
    wb.close()
    with zipfile.ZipFile(src) as z:
        members = {n: z.read(n) for n in z.namelist()}
    missing = tmp_path / "missing.xlsx"
    with zipfile.ZipFile(missing, "w") as z:
        for name, data in members.items():
            if name != "xl/worksheets/sheet2.xml":
                z.writestr(name, data)
    code, err = run_cli("validate", str(missing), "-o", str(tmp_path / "r.xlsx"))
    assert code == 2 and "sheet 'Roles' is listed in the workbook but its data" in err and "save it again" in err
    members["xl/worksheets/sheet2.xml"] = (b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
                                           b'<sheetData><row r="1"><c r="A1" t="s"><v>99</v></c></row></sheetData>'
                                           b"</worksheet>")
    broken = tmp_path / "broken.xlsx"
    with zipfile.ZipFile(broken, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    code, err = run_cli("validate", str(broken), "-o", str(tmp_path / "r.xlsx"))
    assert code == 2 and "sheet 'Roles' of the workbook cannot be read (" in err and "save it again" in err


def test_utf32_is_not_a_missing_column(tmp_path: Path) -> None:
    """Was "missing-column" with spaced-out headers."""
    path = tmp_path / "u.csv"
    path.write_bytes("Email,First Name\r\na@example.com,Ann\r\n".encode("utf-32"))
    code, err = run_cli("validate", str(path), "-o", str(tmp_path / "r.xlsx"))
    assert code == 0, err
