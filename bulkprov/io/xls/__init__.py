"""xls (Excel 97-2003) workbooks: the OLE container (:mod:`~bulkprov.io.xls.ole`), our own pass over
the Workbook stream (:mod:`~bulkprov.io.xls.scan`), the workbook read by :mod:`~bulkprov.io.xls.book`."""

from __future__ import annotations

from pathlib import Path

from bulkprov.errors import InputWarning
from bulkprov.io.shared.base import DEFAULT_LIMITS, LoaderLimits, Table


def open(  # noqa: A001 -- each format's reader offers one ``open`` (the loader dispatches to it)
    path: Path, limits: LoaderLimits = DEFAULT_LIMITS, *, sheet: str | None = None,
    required_any: tuple[str, ...] = ("emailId", "orgUserId"), warnings: list[InputWarning] | None = None,
    ignore: tuple[str, ...] = (),
) -> Table:
    """The :class:`Table` of the workbook's data sheet (``sheet``, else the one the loader's rules choose)."""
    from bulkprov.io.shared.calamine import read_book
    from bulkprov.io.xls.book import XlsBook

    return read_book(XlsBook(path, limits), sheet, required_any, [] if warnings is None else warnings, ignore=ignore)


def lookups(path: Path, limits: LoaderLimits, warnings: list[InputWarning]) -> dict[str, dict[str, str]]:
    """The workbook's lookup sheets (Roles, Bots, Groups: name casefolded -> id)."""
    from bulkprov.io.shared.calamine import read_book_lookups
    from bulkprov.io.xls.book import XlsBook

    return read_book_lookups(XlsBook(path, limits), warnings)
