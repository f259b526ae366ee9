"""The text reader (``bulkprov.io.csv``): delimiters, quoting, encodings detected or refused, never guessed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bulkprov.errors import InputError
from bulkprov.io import (
    LoaderLimits,
    detect_encoding,
    open_table,
)
from bulkprov.io.csv import encoding as io_encoding
from tests.io.loader_files import expect_error, rows_of, write_text

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


def test_too_many_rows_csv(tmp_path: Path) -> None:
    path = write_text(tmp_path / "u.csv", "email\n" + "".join(f"u{i}@example.com\n" for i in range(20)))
    table = open_table(path, limits=LoaderLimits(max_rows=5))  # CSV rows are counted while streaming
    with pytest.raises(InputError) as info:
        list(table.rows)
    assert info.value.code == "too-many-rows"
    assert len(rows_of(open_table(path, limits=LoaderLimits(max_rows=20)))) == 20
