"""The xls reader (``bulkprov.io.xls``): an Excel 97-2003 workbook, and the OLE files that are not one."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from bulkprov.io import (
    open_table,
)
from bulkprov.io.shared.base import OLE_MAGIC
from bulkprov.io.xls import ole
from tests.io.loader_files import USERS, expect_error, make_cfb, write_xlsx

# ---------------------------------------------------------------------------------------------
# xls


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


# ---------------------------------------------------------------------------------------------
# bad inputs


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


def test_ole_file_that_is_not_a_workbook(tmp_path: Path) -> None:
    expect_error("corrupt-file", make_cfb(tmp_path / "letter.xls", ["WordDocument"]))
    broken = tmp_path / "broken.xls"
    broken.write_bytes(OLE_MAGIC + b"\0" * 100)
    expect_error("corrupt-file", broken)
