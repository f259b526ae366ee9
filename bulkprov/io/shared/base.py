"""What the readers share: the table they produce, their limits, and small helpers.

``Table`` is what :func:`bulkprov.io.open_table` gives the rest of bulkprov: the header row matched
to :mod:`bulkprov.schema` columns, file-level warnings, the workbook's lookup sheets, and a *lazy*
iterator of :class:`RawRow` -- every cell as the text the user sees in Excel, trimmed, with the row
number Excel shows.  ``cells[i]`` is column ``column_letter(i)`` of the sheet (A = 0).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bulkprov.errors import InputWarning
from bulkprov.schema import Column
from bulkprov.units import human_size

__all__ = ["human_size"]  # re-exported for the readers


@dataclass(frozen=True)
class LoaderLimits:
    """Caps that turn hostile or absurd files into an :class:`InputError` instead of a crash."""

    max_bytes: int = 500 * 1024 * 1024
    max_rows: int = 1_048_576
    """Rows after the header row (blank ones included), like Excel's own limit."""
    max_columns: int = 16_384
    """Excel's own limit (A to XFD)."""
    max_cells: int = 32 * 1_048_576
    """Cells of the rectangle a sheet spans (the reader allocates all of them: ~1 GB at this cap)."""
    max_uncompressed_bytes: int = 2 * 1024**3
    max_compression_ratio: float = 200.0


DEFAULT_LIMITS = LoaderLimits()


@dataclass(slots=True)
class RawRow:
    """One non-blank data row: Excel's row number and the cells aligned with ``Table.headers``.

    ``cells[i]`` is the text of column ``column_letter(i)`` — trimmed, "" when blank.
    ``uncalculated`` maps a column index to the formula of a cell whose value was never calculated
    (the cell reads ""): the validator turns it into a row error instead of sending a blank.
    """

    row: int
    cells: list[str]
    uncalculated: dict[int, str] | None = None


class MarkedCells(list):
    """A reader's row of cells carrying its uncalculated formulas (column index -> formula) to RawRow."""

    __slots__ = ("uncalculated",)

    def __init__(self, cells: list[str], uncalculated: dict[int, str]) -> None:
        super().__init__(cells)
        self.uncalculated = uncalculated


@dataclass
class SheetFacts:
    """What a reader's own pass over a sheet found (0-based rows and columns)."""

    styled: dict[int, list[tuple[int, Callable[[object], str | None]]]] = field(default_factory=dict)
    """row -> [(column, renderer)] for cells with a number format."""
    formulas: dict[int, dict[int, str]] = field(default_factory=dict)
    """row -> {column: formula} for formula cells whose value was never calculated."""
    span: tuple[int, int] | None = None
    """(rows, columns) of the rectangle the reader will allocate, when it may be large; else None."""
    narrow: bool = False
    """Every cell is plainly in columns A-Z and rows 1-999,999 (xlsx: what ``is_narrow`` says)."""


class Lookup(dict[str, str]):
    """A lookup sheet (Roles, Bots, Groups): name (trimmed, casefolded) -> id, and ``hosts``: the host a name's
    row says its id belongs to (its ``host`` cell, as ``bulkprov directory`` and ``export`` write it)."""

    def __init__(self, *args, **kw) -> None:
        super().__init__(*args, **kw)
        self.hosts: dict[str, str] = {}


@dataclass
class Table:
    """An opened input file: matched headers, warnings, lookups and the lazily read rows."""

    path: Path
    format: str
    sheet: str | None
    encoding: str | None
    delimiter: str | None
    header_row: int
    headers: list[str]
    columns: list[Column | None]
    warnings: list[InputWarning]
    lookups: dict[str, dict[str, str]]
    rows: Iterator[RawRow]
    about: dict[str, str] = field(default_factory=dict)
    """A workbook's ``About`` sheet (item -> value: ``host``, ``not-carried``...) as bulkprov's export and
    ``directory`` write it; {} otherwise."""

    def column_index(self, name: str) -> int | None:
        """Position of the canonical column ``name`` in :attr:`headers`, or None when absent."""
        for i, col in enumerate(self.columns):
            if col is not None and col.name == name:
                return i
        return None


TEXT_EXTENSIONS = frozenset({".csv", ".txt", ".tsv", ".tab"})
WORKBOOK_EXTENSIONS = {".xlsx": "xlsx", ".xlsm": "xlsx", ".xls": "xls", ".ods": "ods"}
SUPPORTED = ".csv, .txt, .tsv, .xlsx, .xlsm, .xls and .ods"

ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"

# Sheets that are never the data sheet when none is named (lookups, our template, result files).
NOT_DATA_SHEETS = frozenset({"roles", "bots", "groups", "instructions", "summary", "results"})

# Whitespace and invisible characters trimmed from both ends of every cell.
WS = "".join(ch for ch in map(chr, range(0x3001)) if ch.isspace()) + "\u200b\u200c\u200d\u2060\ufeff"


def column_letter(index: int) -> str:
    """Excel's letter for a 0-based column index: 0 -> A, 26 -> AA."""
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def column_number(letters: str) -> int:
    """1-based column number of Excel letters: A -> 1."""
    n = 0
    for ch in letters.upper():
        n = n * 26 + ord(ch) - 64
    return n
