"""The files the reader tests write: workbooks by XlsxWriter, text in any codec, a minimal .ods zip and a
minimal OLE2 compound file built by hand, and the checks they share."""

from __future__ import annotations

import contextlib
import struct
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import xlsxwriter

from bulkprov.errors import InputError, file_codes
from bulkprov.io import (
    RawRow,
    Table,
    open_table,
)
from bulkprov.io.shared.base import OLE_MAGIC

ROLE_ID = "0123456789abcdef01234567"


BOT_ID = "st-01234567-89ab-cdef-0123-456789abcdef"


GROUP_ID = "e-01234567-89ab-cdef-0123-456789abcdef"


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


@contextlib.contextmanager
def users_sheet(path: Path, headers: list[str]) -> Iterator[tuple[Any, Any, Any]]:
    """(workbook, Users sheet with ``headers`` in row 1, the zero-padding format "00000"); saved on exit."""
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("Users")
    ws.write_row(0, 0, headers)
    yield wb, ws, wb.add_format({"num_format": "00000"})
    wb.close()
