"""Writing workbooks safely: atomically (temp file + rename, owner-only) and text as text.

Every workbook bulkprov writes (results, Failures, undo, plan, template, export) goes through
:func:`new_workbook`: XlsxWriter with ``strings_to_formulas``/``numbers``/``urls`` off, so a cell a
user typed as ``=HYPERLINK(...)`` stays text, and :class:`AtomicFile`, so a reader never sees half
a file and an interruption leaves no ``.tmp`` behind.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bulkprov.errors import OutputUnwritable

XLSX_OPTIONS = {"strings_to_formulas": False, "strings_to_numbers": False, "strings_to_urls": False}
HEADER_FORMAT = {"bold": True, "font_color": "#FFFFFF", "bg_color": "#1F4E79", "border": 1}


class AtomicFile:
    """A temporary file beside the target (mode 0600), renamed over it on commit."""

    def __init__(self, target: Path) -> None:
        self.target = Path(target)
        try:
            self.target.parent.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(prefix=f".{self.target.name}.", suffix=".tmp", dir=self.target.parent)
        except OSError as exc:
            raise OutputUnwritable(target=str(self.target), reason=exc.strerror or str(exc)) from None
        os.close(fd)
        self.temp = Path(name)

    def commit(self) -> None:
        os.replace(self.temp, self.target)

    def discard(self) -> None:
        self.temp.unlink(missing_ok=True)


def check_new(path: str | Path, *, replace: bool, ours: bool = True) -> None:
    """Refuse to replace a file the user named unless they said so (it may be a filled-in roster).
    ``ours=False``: the caller replaces its own kind of file unasked, so this one is something else."""
    if replace or not Path(path).exists():
        return
    if ours:
        raise OutputUnwritable("exists", target=str(path))
    raise OutputUnwritable("exists-not-results", target=str(path))


def check_writable(path: str | Path) -> None:
    """Fail before any work is done when a file could not be written there."""
    AtomicFile(Path(path)).discard()


def new_workbook(temp: Path, *, constant_memory: bool = False) -> Any:
    """An XlsxWriter workbook that never turns a string into a formula, number or link."""
    import xlsxwriter  # lazy: keeps `bulkprov --help` fast

    options: dict[str, Any] = dict(XLSX_OPTIONS)
    if constant_memory:
        options["constant_memory"] = True
    return xlsxwriter.Workbook(str(temp), options)


def write_sheet(wb: Any, name: str, headers: list[str], rows: Iterable[list[Any]], *, width: int = 22,
                head: Any = None) -> Any:
    """A whole sheet, its rows from a list or a stream: header row, ints as numbers, everything else as text,
    filter, frozen header."""
    ws = wb.add_worksheet(name)
    head = head or wb.add_format(HEADER_FORMAT)
    ws.write_row(0, 0, headers, head)
    ws.set_column(0, max(0, len(headers) - 1), width)
    written = 0
    for r, values in enumerate(rows, start=1):
        written = r
        for c, value in enumerate(values):
            if isinstance(value, int) and not isinstance(value, bool):
                ws.write_number(r, c, value)
            elif value not in (None, ""):
                ws.write_string(r, c, str(value))
    ws.freeze_panes(1, 0)
    ws.autofilter(0, 0, max(1, written), max(0, len(headers) - 1))
    return ws


def close_workbook(wb: Any) -> None:
    """Close (write) an XlsxWriter workbook; a full or failing disk is an ``OSError`` like any other
    (XlsxWriter wraps it in its own ``FileCreateError``)."""
    from xlsxwriter.exceptions import FileCreateError

    try:
        wb.close()
    except FileCreateError as exc:
        cause = exc.__cause__ if isinstance(exc.__cause__, OSError) else None
        raise (cause or OSError(str(exc))) from exc
