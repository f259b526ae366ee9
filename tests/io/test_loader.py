"""Tests of bulkprov.io's loader: what a file is and which reader it goes to, sheets and lookups, headers, the
cells every format shares, bad inputs of any format, scale.  Each format's own tests are in
``test_loader_csv.py``, ``test_loader_xlsx.py``, ``test_loader_xls.py`` and ``test_loader_ods.py``.

Fixtures are generated in tmp_path by real writers (XlsxWriter, xlwt, msoffcrypto-tool, Python's
codecs) or built by hand (a minimal .ods zip, a minimal OLE2 compound file); nothing binary is
committed.
"""

from __future__ import annotations

import datetime as dt
import os
import zipfile
from pathlib import Path

import pytest
import xlsxwriter

from bulkprov.errors import InputError
from bulkprov.io import (
    LoaderLimits,
    RawRow,
    column_letter,
    open_table,
    read_lookups,
)
from bulkprov.io.shared import numfmt
from bulkprov.units import human_size
from tests.io.loader_files import (
    BOT_ID,
    GROUP_ID,
    ROLE_ID,
    USERS,
    expect_error,
    rewrite_zip,
    rows_of,
    write_text,
    write_xlsx,
)

# ---------------------------------------------------------------------------------------------
# cells as every format shows them


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


def test_size_text() -> None:
    assert [human_size(n) for n in (812, 1536, 5 << 20, 500 << 20, 2 << 30)] == [
        "812 bytes", "1.5 KB", "5.0 MB", "500 MB", "2.0 GB"]


def test_file_over_max_bytes(tmp_path: Path) -> None:
    path = write_text(tmp_path / "u.csv", "email\n" + "a@example.com\n" * 100)
    err = expect_error("file-too-large", path, limits=LoaderLimits(max_bytes=1000))
    assert "1.4 KB, over the 1000 bytes limit" in err.message and "split" in err.message


def test_zip_bomb_by_ratio(tmp_path: Path) -> None:
    src = write_xlsx(tmp_path / "src.xlsx", {"Users": USERS})
    path = rewrite_zip(src, tmp_path / "bomb.xlsx", {}, {"xl/media/zeros.bin": b"\0" * (8 << 20)})
    assert path.stat().st_size < 100_000
    err = expect_error("zip-bomb", path)
    assert "zeros.bin" in err.message


def test_zip_bomb_by_total_size(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "u.xlsx", {"Users": USERS})
    expect_error("zip-bomb", path, limits=LoaderLimits(max_uncompressed_bytes=5000))


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
