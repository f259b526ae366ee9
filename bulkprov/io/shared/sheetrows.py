"""calamine's rows as a user sees them: trimmed text, number formats rendered, formulas never
calculated marked -- from one calamine sheet, or from the pieces of one
(:class:`bulkprov.io.xlsx.split.PieceSheet`), read in turn as they are parsed.

``iter_rows`` of python-calamine 0.9 yields placeholder rows from row 1 (its issue #177); whether the
leading rows are placeholders is detected, so the row numbers stay Excel's with either behaviour,
and a piece is read with ``to_python``, which starts at its first row.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from bulkprov.errors import CorruptFile
from bulkprov.i18n import gettext as _
from bulkprov.io.shared.base import WS, MarkedCells, SheetFacts
from bulkprov.io.shared.formats import Renderer
from bulkprov.io.shared.numfmt import cell_text
from bulkprov.io.xlsx.split import PieceSheet


@dataclass(frozen=True)
class SheetReading:
    """What reading a sheet's rows needs from its workbook."""

    path: Path
    sheet: str
    corrupt: Callable[[BaseException], CorruptFile]
    """calamine's failure as the error a user reads."""
    whole: Callable[[], object]
    """The sheet parsed whole (when a piece was refused)."""


def sheet_rows(sheet: object, facts: SheetFacts, reading: SheetReading) -> Iterator[tuple[int, list[str]]]:
    """(Excel row number, cells) for every non-blank row; cell i is column i (A = 0)."""
    if isinstance(sheet, PieceSheet):
        return _pieces_rows(sheet, facts, reading)
    return _piece_rows(sheet, facts, 0, reading)


def _pieces_rows(sheet: PieceSheet, facts: SheetFacts, reading: SheetReading) -> Iterator[tuple[int, list[str]]]:
    """The rows of each piece in turn.  A piece calamine refuses hands over to the whole sheet (which
    then says what is wrong, or reads the rest); rows out of order are damage (Excel itself requires
    ascending rows), since the earlier pieces' rows have gone out already."""
    done = 0  # the last Excel row of the pieces read so far
    try:
        for k in range(len(sheet)):
            try:
                piece = sheet.piece(k)
            except BaseException as exc:  # calamine's errors, a Rust panic (PanicException)
                if isinstance(exc, KeyboardInterrupt | SystemExit | GeneratorExit):
                    raise
                yield from _piece_rows(reading.whole(), facts, done, reading)
                return
            start, end = getattr(piece, "start", None), getattr(piece, "end", None)
            if not start or not end:
                continue
            if start[0] < done:
                raise CorruptFile("damaged-sheet", path=reading.path, sheet=reading.sheet,
                                  reason=_("its rows are not in ascending order: row {row} comes after row {last}")
                                  .format(row=start[0] + 1, last=done))
            yield from _formula_rows(facts, done, start[0] + 1)
            try:
                rows = piece.to_python()  # type: ignore[attr-defined]  # from its start: no placeholder rows
            except Exception as exc:
                raise reading.corrupt(exc) from None
            sheet.release(k)
            del piece
            yield from _cells(iter(rows), start[0] + 1, start[1], facts, reading)
            del rows
            done = end[0] + 1
    finally:
        sheet.cancel()


def _piece_rows(sheet: object, facts: SheetFacts, after: int, reading: SheetReading) -> Iterator[tuple[int, list[str]]]:
    """The rows of one calamine sheet after Excel row ``after``."""
    start = getattr(sheet, "start", None)
    if not start:
        return
    row0, col0 = start
    try:
        it = iter(sheet.iter_rows())  # type: ignore[attr-defined]
        first = next(it, None)
        if first is None:
            return
        # python-calamine 0.9 yields placeholder rows from row 1; a fixed version would start at row0.
        number = 1 if row0 and not any(v != "" for v in first) else row0 + 1
        skip = max(row0 if number == 1 else 0, after) - number + 1  # placeholders, earlier rows
        if skip > 0:  # at C speed
            first = next(itertools.islice(it, skip - 1, None), None)
            number += skip
    except Exception as exc:
        raise reading.corrupt(exc) from None
    yield from _formula_rows(facts, after, number)
    if first is not None:
        yield from _cells(itertools.chain([first], it), number, col0, facts, reading)


def _formula_rows(facts: SheetFacts, after: int, before: int) -> Iterator[tuple[int, list[str]]]:
    """Rows between ``after`` and ``before`` that hold only formulas never calculated (calamine has no
    value for them, so its rows may start past them)."""
    if facts.formulas:
        for n in sorted(r + 1 for r in facts.formulas if after < r + 1 < before):
            yield n, _mark([], facts.formulas[n - 1])


def _cells(rows: Iterator[list[object]], number: int, col0: int, facts: SheetFacts,
           reading: SheetReading) -> Iterator[tuple[int, list[str]]]:
    lead = [""] * col0
    ws = WS
    styled, formulas = facts.styled, facts.formulas
    while True:
        try:
            raw = next(rows, None)
        except Exception as exc:  # calamine may fail on a row it reaches late
            raise reading.corrupt(exc) from None
        if raw is None:
            return
        cells = [v.strip(ws) if type(v) is str else cell_text(v) for v in raw]
        if styled and (marks := styled.get(number - 1)):
            _render_into(cells, raw, marks, col0)
        if col0:
            cells = lead + cells
        if formulas and number - 1 in formulas:
            cells = _mark(cells, formulas[number - 1])
        if any(cells) or type(cells) is MarkedCells:
            yield number, cells
        number += 1


def _render_into(cells: list[str], raw: list[object], styled: list[tuple[int, Renderer]], col0: int) -> None:
    """Each formatted cell's text as the spreadsheet application shows it (from the raw value)."""
    for col, render in styled:
        j = col - col0
        if 0 <= j < len(raw) and (value := raw[j]) != "":
            text = render(value)
            if text is not None:
                cells[j] = text.strip(WS)


def _mark(cells: list[str], formulas: dict[int, str]) -> list[str]:
    """Cells of a row with uncalculated formulas: they read "" and carry the formula to the validator."""
    for col in formulas:
        if col >= len(cells):
            cells.extend([""] * (col + 1 - len(cells)))
        cells[col] = ""  # a placeholder value (XlsxWriter's 0) is not what the application shows
    return MarkedCells(cells, dict(formulas))
