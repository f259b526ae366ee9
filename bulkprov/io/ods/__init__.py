"""ods (OpenDocument) workbooks: our own pass over ``content.xml`` (:mod:`~bulkprov.io.ods.scan`), the
workbook read by :mod:`~bulkprov.io.ods.book`."""

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
    from bulkprov.io.ods.book import OdsBook
    from bulkprov.io.shared.calamine import read_book

    return read_book(OdsBook(path, limits), sheet, required_any, [] if warnings is None else warnings, ignore=ignore)


def lookups(path: Path, limits: LoaderLimits, warnings: list[InputWarning]) -> dict[str, dict[str, str]]:
    """The workbook's lookup sheets (Roles, Bots, Groups: name casefolded -> id)."""
    from bulkprov.io.ods.book import OdsBook
    from bulkprov.io.shared.calamine import read_book_lookups

    return read_book_lookups(OdsBook(path, limits), warnings)
