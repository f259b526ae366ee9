"""What an .xls (BIFF8) workbook says that calamine does not: the number format of each cell.

Excel 97-2003 keeps formats in the workbook globals (``FORMAT`` records: index -> format code;
``XF`` records: cell style -> format index) and each number cell names its XF.  We read the
``Workbook`` stream of the OLE2 file (:func:`bulkprov.io.xls.ole.read_stream`), walk its records once,
and return, per sheet, the number cells whose format is not General, to be rendered by
:mod:`bulkprov.io.shared.formats`.  Every length and offset is checked against the stream; a damaged stream
raises ``ValueError`` (turned into ``corrupt-file`` by the caller).  Older BIFF versions (Excel 95)
are left to calamine's General rendering.
"""

from __future__ import annotations

import struct
from pathlib import Path

from bulkprov.i18n import gettext as _
from bulkprov.io.shared.base import SheetFacts
from bulkprov.io.shared.formats import BUILTIN, Renderer, compile_format
from bulkprov.io.xls.ole import read_stream

BOF, EOF, FORMAT, XF, BOUNDSHEET, SST, DIMENSIONS = 0x0809, 0x000A, 0x041E, 0x00E0, 0x0085, 0x00FC, 0x0200
NUMBER, RK, MULRK, FORMULA, MULBLANK = 0x0203, 0x027E, 0x00BD, 0x0006, 0x00BE
# Records that place one cell at (row, column) in their first four bytes.
CELLS = frozenset({NUMBER, RK, FORMULA, 0x00FD, 0x0204, 0x0205, 0x0201, 0x00D6})
BIFF8 = 0x0600


def _records(stream: bytes, offset: int):
    """(type, data) of each record from ``offset`` to the substream's EOF."""
    end = len(stream)
    while offset + 4 <= end:
        kind, length = struct.unpack_from("<HH", stream, offset)
        data = stream[offset + 4:offset + 4 + length]
        if len(data) < length:
            raise ValueError("record runs past the stream")
        yield kind, data
        offset += 4 + length
        if kind == EOF:
            return


def _unicode(data: bytes, at: int, count: int) -> str:
    high = data[at] & 1
    raw = data[at + 1:at + 1 + count * (2 if high else 1)]
    return raw.decode("utf-16-le" if high else "latin-1")


class Implausible(ValueError):
    """A size field calamine would allocate for is impossible in a real .xls (a damaged file)."""


def scan_xls(path: Path, limit: int) -> dict[str, SheetFacts]:
    """Sheet name -> the cells with a number format.

    calamine allocates from two size fields before reading any cell: each sheet's DIMENSIONS (rows x
    columns) and the shared-string count of SST.  A damaged field asks for terabytes and aborts the
    process, so both are checked first against what BIFF8 allows (65,536 rows, 256 columns) and
    against the bytes that could hold them; an impossible one raises :class:`Implausible`.
    """
    stream = read_stream(path, {"Workbook", "Book"}, limit)
    if not stream or len(stream) < 8:
        return {}
    kind, data = next(_records(stream, 0))
    if kind != BOF or struct.unpack_from("<H", data, 0)[0] != BIFF8:
        return {}
    codes: dict[int, str] = dict(BUILTIN)
    xf_formats: list[int] = []
    sheets: list[tuple[str, int]] = []
    for kind, data in _records(stream, 0):
        if kind == FORMAT and len(data) >= 5:
            index, count = struct.unpack_from("<HH", data, 0)
            codes[index] = _unicode(data, 4, count)
        elif kind == XF and len(data) >= 4:
            xf_formats.append(struct.unpack_from("<H", data, 2)[0])
        elif kind == BOUNDSHEET and len(data) >= 8:
            position = struct.unpack_from("<I", data, 0)[0]
            sheets.append((_unicode(data, 7, data[6]) if data[5] == 0 else "", position))
        elif kind == SST and len(data) >= 8:
            unique = struct.unpack_from("<I", data, 4)[0]
            if unique * 3 > len(stream):  # each string takes at least 3 bytes
                raise Implausible(_("the shared-string table claims {count} strings").format(count=f"{unique:,}"))
    for _name, position in sheets:
        _check_dimensions(stream, position)
    sheets = [(name, position) for name, position in sheets if name]
    compiled: dict[int, Renderer | None] = {}
    styles: dict[int, Renderer] = {}
    for xf, fmt in enumerate(xf_formats):
        if fmt not in compiled:
            compiled[fmt] = compile_format(codes.get(fmt, "General"))
        if compiled[fmt] is not None:
            styles[xf] = compiled[fmt]  # type: ignore[assignment]
    return {name: _sheet(stream, position, styles) for name, position in sheets}


def _check_dimensions(stream: bytes, position: int) -> None:
    if position >= len(stream):
        raise Implausible(_("a sheet starts past the end of the workbook stream"))
    for kind, data in _records(stream, position):
        if kind == DIMENSIONS and len(data) >= 12:
            first_row, end_row, first_col, end_col = struct.unpack_from("<IIHH", data, 0)
            if end_row > 65536 or end_col > 256 or first_row > end_row or first_col > end_col:
                raise Implausible(_("a sheet claims rows {first} to {end} and columns {first_col} to {end_col} (an "
                                    ".xls has at most 65,536 rows and 256 columns)").format(
                    first=f"{first_row:,}", end=f"{end_row:,}", first_col=first_col, end_col=end_col))
            return


def _sheet(stream: bytes, position: int, styles: dict[int, Renderer]) -> SheetFacts:
    facts = SheetFacts()
    styled = facts.styled

    def add(row: int, col: int, xf: int) -> None:
        renderer = styles.get(xf)
        if renderer is not None:
            styled.setdefault(row, []).append((col, renderer))

    if position >= len(stream):
        raise ValueError("sheet offset past the stream")
    for kind, data in _records(stream, position):
        if kind in CELLS and len(data) >= 6:
            row, col, xf = struct.unpack_from("<HHH", data, 0)
            if col > 255:  # calamine would make a sheet that wide (60 million cells for column 13,060)
                raise Implausible(_("a cell in column {column} (an .xls has 256)").format(column=f"{col + 1:,}"))
            if styles and kind in (NUMBER, RK, FORMULA):
                add(row, col, xf)
        elif kind in (MULRK, MULBLANK) and len(data) >= 6:
            row, first = struct.unpack_from("<HH", data, 0)
            last = struct.unpack_from("<H", data, len(data) - 2)[0]
            if first > 255 or last > 255:
                raise Implausible(_("cells up to column {column} (an .xls has 256)").format(
                    column=f"{max(first, last) + 1:,}"))
            if styles and kind == MULRK:
                for i in range((len(data) - 6) // 6):
                    add(row, first + i, struct.unpack_from("<H", data, 4 + 6 * i)[0])
    return facts
