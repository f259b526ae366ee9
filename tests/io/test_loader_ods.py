"""The ods reader (``bulkprov.io.ods``): an OpenDocument workbook, and repeated cells that claim a huge sheet."""

from __future__ import annotations

import zipfile
from pathlib import Path

from bulkprov.io import (
    open_table,
)
from tests.io.loader_files import USERS, expect_error, make_ods, rewrite_zip, rows_of

# ---------------------------------------------------------------------------------------------
# ods


def test_ods(tmp_path: Path) -> None:
    path = make_ods(tmp_path / "users.ods", {
        "Users": [["E-mail", "Work Phone", "Developer"], [None, None, None],
                  ["jane@example.com", 8212334444, True]],
    })
    table = open_table(path)
    assert (table.format, table.sheet) == ("ods", "Users")
    assert [(r.row, r.cells) for r in table.rows] == [(3, ["jane@example.com", "8212334444", "TRUE"])]


# ---------------------------------------------------------------------------------------------
# bad inputs


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
