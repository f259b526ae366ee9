"""CSV, TSV and TXT files: the encoding found (or named) by :mod:`~bulkprov.io.csv.encoding`, the dialect
and the rows by :mod:`~bulkprov.io.csv.text`."""

from __future__ import annotations

from pathlib import Path

from bulkprov.errors import InputWarning
from bulkprov.io.shared.base import DEFAULT_LIMITS, LoaderLimits, Table


def open(  # noqa: A001 -- each format's reader offers one ``open`` (the loader dispatches to it)
    path: Path, limits: LoaderLimits = DEFAULT_LIMITS, *, encoding: str | None = None,
    required_any: tuple[str, ...] = ("emailId", "orgUserId"), warnings: list[InputWarning] | None = None,
    ignore: tuple[str, ...] = (),
) -> Table:
    """The :class:`Table` of a text file, in the ``encoding`` named, else the one detected."""
    from bulkprov.io.csv.text import open_text

    return open_text(path, limits, required_any, [] if warnings is None else warnings, encoding, ignore=ignore)


def lookups(path: Path, limits: LoaderLimits, warnings: list[InputWarning]) -> dict[str, dict[str, str]]:
    """The one lookup table a text file holds (its id column says which)."""
    from bulkprov.io.csv.text import text_lookups

    return text_lookups(path, limits, warnings)
