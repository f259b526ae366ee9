"""Reading user spreadsheets (CSV/TXT/TSV, XLSX/XLSM, XLS, ODS) and writing safe workbooks.

:func:`open_table` gives the rest of bulkprov a :class:`Table`: headers matched to schema columns,
warnings, lookup sheets and a lazy iterator of :class:`RawRow` (cells as the user sees them in Excel,
with Excel's row numbers).  Every unusable file becomes a typed :class:`~bulkprov.errors.InputError`
with a one-line message; no traceback ever reaches the user.  A package per format (``csv``, ``xlsx``,
``xls``, ``ods``), each offering one ``open(path, limits) -> Table`` that :func:`open_table` dispatches to by
what the file is (:mod:`~bulkprov.io.shared.sniff`, by content); what they share in ``shared`` (the sniff, the
guards, ``Table``, headers, cells as Excel shows them, calamine); writing in ``writers``.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

from bulkprov.errors import InputWarning, warning
from bulkprov.io.csv.encoding import detect_encoding
from bulkprov.io.shared.base import DEFAULT_LIMITS, LoaderLimits, RawRow, Table, column_letter
from bulkprov.io.shared.sniff import identify, reconcile_extension

__all__ = [
    "DEFAULT_LIMITS",
    "LoaderLimits",
    "RawRow",
    "Table",
    "column_letter",
    "detect_encoding",
    "open_table",
    "read_lookups",
]


def open_table(
    path: str | Path,
    *,
    sheet: str | None = None,
    limits: LoaderLimits = DEFAULT_LIMITS,
    required_any: tuple[str, ...] = ("emailId", "orgUserId"),
    encoding: str | None = None,
    ignore: tuple[str, ...] = (),
) -> Table:
    """Open a user file and return its :class:`Table`; raise :class:`InputError` if unusable.

    The data sheet of a workbook is ``sheet`` when given (exact name, else case-insensitive),
    else a sheet named "Users", else the first worksheet that is not a lookup sheet (Roles, Bots,
    Groups) nor Instructions, Summary or Results — so a bulkprov result workbook (Summary,
    Results, Failures) opens on its Failures sheet, which can be fixed and re-run.
    ``encoding`` names a text file's encoding (any Python codec name) instead of detecting it;
    workbooks ignore it.  ``ignore`` names headers to leave unread (as the user wrote them; case, spaces
    and punctuation do not matter), known or misspelt.  The header row is the first non-empty row.  Rows are read lazily; ``too-many-rows`` and
    ``encoding-error`` may be raised while iterating :attr:`Table.rows`.
    """
    path = Path(path)
    warnings: list[InputWarning] = []
    kind, head = identify(path, limits)
    kind = reconcile_extension(path, kind, head, warnings)
    reader = _reader(path, kind, limits)
    if kind == "text":
        if sheet is not None:
            warnings.append(warning("sheet-ignored", sheet=sheet))
        return reader.open(path, limits, encoding=encoding, required_any=required_any, warnings=warnings,
                           ignore=ignore)
    if encoding:
        warnings.append(warning("encoding-ignored", encoding=encoding))
    return reader.open(path, limits, sheet=sheet, required_any=required_any, warnings=warnings, ignore=ignore)


def _reader(path: Path, kind: str, limits: LoaderLimits) -> ModuleType:
    """The format's package for a file of the sniffed ``kind`` (a zip is xlsx or ods by its members)."""
    from bulkprov.io import csv, ods, xls, xlsx

    if kind == "text":
        return csv
    if kind == "ole":
        return xls  # which reads only an xls workbook; an encrypted xlsx or another Office file it refuses
    from bulkprov.io.shared.calamine import zip_format

    return xlsx if zip_format(path, limits) == "xlsx" else ods


def read_lookups(
    path: str | Path, *, limits: LoaderLimits = DEFAULT_LIMITS,
    warnings: list[InputWarning] | None = None,
) -> dict[str, dict[str, str]]:
    """Lookup tables (Roles, Bots, Groups: name casefolded -> id) from a separate file.

    A workbook contributes its sheets named Roles, Bots and Groups (columns ``name`` and
    ``roleId``/``botId``/``groupId``).  A CSV holds one table; its id column says which.
    Problems in lookup rows are appended to ``warnings`` when a list is given.
    """
    path = Path(path)
    sink: list[InputWarning] = [] if warnings is None else warnings
    kind, head = identify(path, limits)
    kind = reconcile_extension(path, kind, head, sink)
    return _reader(path, kind, limits).lookups(path, limits, sink)
