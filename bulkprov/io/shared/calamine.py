"""What xlsx/xlsm, xls and ods share: python-calamine, and the guards that run before it.

calamine is a Rust reader of xlsx/xls/ods, many times faster than pure-Python readers (100,000 rows
x 15 columns in ~1.5 s here) with compact memory.  :class:`CalamineBook` opens a workbook with it and
reads sheets, lookup sheets and the ``About`` sheet; each format's subclass (``io/xlsx/book.py``,
``io/xls/book.py``, ``io/ods/book.py``) adds the checks that format needs before calamine opens it and
its own pass over a sheet.  A zip's member table is checked here for absurd total size and compression
ratio (zip bombs), for xlsx and ods alike.  :mod:`bulkprov.io.shared.sheetrows` turns the rows into text.
"""

from __future__ import annotations

import itertools
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from bulkprov import schema
from bulkprov.errors import (
    CorruptFile,
    EncryptedFile,
    FileEmpty,
    InputWarning,
    SheetNotFound,
    SheetTooWide,
    ZipBomb,
)
from bulkprov.i18n import gettext as _
from bulkprov.io.shared.base import (
    NOT_DATA_SHEETS,
    WORKBOOK_EXTENSIONS,
    LoaderLimits,
    SheetFacts,
    Table,
    column_letter,
    human_size,
)
from bulkprov.io.shared.guard import damaged, open_regular, open_zip
from bulkprov.io.shared.headers import build_table, read_lookup_rows
from bulkprov.io.shared.sheetrows import SheetReading, sheet_rows
from bulkprov.io.shared.sniff import zip_kind


def _check_zip(path: Path, zf: zipfile.ZipFile, limits: LoaderLimits) -> None:
    """Refuse zip bombs from the member table alone, before anything is decompressed."""
    total = 0
    for info in zf.infolist():
        total += info.file_size
        if info.file_size > 1 << 20:
            ratio = info.file_size / max(info.compress_size, 1)
            if ratio > limits.max_compression_ratio:
                raise ZipBomb("ratio", path=path, member=info.filename, ratio=ratio,
                              size=human_size(info.file_size))
    if total > limits.max_uncompressed_bytes:
        raise ZipBomb("total", path=path, size=human_size(total), limit=human_size(limits.max_uncompressed_bytes))


def checked_zip_kind(path: Path, zf: zipfile.ZipFile, limits: LoaderLimits) -> str:
    """``xlsx`` or ``ods``: a zip's member table checked for bombs first, then what its members make it."""
    with damaged(path, _("zip directory")):
        _check_zip(path, zf, limits)
    return zip_kind(path, zf)


def zip_format(path: Path, limits: LoaderLimits) -> str:
    """Which format's reader a zip goes to (``xlsx`` or ``ods``), with the checks that reader starts with."""
    with open_regular(path) as fh, open_zip(path, fh) as zf:
        return checked_zip_kind(path, zf, limits)


class CalamineBook:
    """An opened workbook: the format's guards done (:meth:`_prepare`), calamine's workbook ready."""

    format = ""  # xlsx, xls or ods: what the Table says the file was

    def __init__(self, path: Path, limits: LoaderLimits) -> None:
        self.path, self.limits = path, limits
        self.zip: zipfile.ZipFile | None = None
        self._fh: BinaryIO | None = None
        try:
            self._prepare()
            self.book = self._open_calamine()
        except BaseException:
            self.close_zip()
            raise

    def _prepare(self) -> None:
        """The format's own checks, before calamine opens the file."""

    def _open_zip(self) -> None:
        path = self.path
        self._fh = open_regular(path)
        zf = self.zip = open_zip(path, self._fh)
        checked_zip_kind(path, zf, self.limits)

    def close_zip(self) -> None:
        if self.zip is not None:
            self.zip.close()
            self.zip = None
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def _open_calamine(self) -> object:
        from python_calamine import CalamineWorkbook, PasswordError

        ext_format = WORKBOOK_EXTENSIONS.get(self.path.suffix.lower())
        try:
            if ext_format == self.format:
                return CalamineWorkbook.from_path(str(self.path))
            with open_regular(self.path) as fh:  # misnamed: let calamine detect the format by content
                return CalamineWorkbook.from_filelike(fh)
        except PasswordError:
            raise EncryptedFile(path=self.path) from None
        except Exception as exc:  # calamine raises CalamineError, ZipError, XmlError, ValueError...
            raise self._corrupt(exc) from None
        except BaseException as exc:  # pyo3 turns a Rust panic into PanicException(BaseException)
            if isinstance(exc, KeyboardInterrupt | SystemExit | GeneratorExit):
                raise
            raise self._corrupt(exc) from None

    def _corrupt(self, exc: BaseException, sheet: str | None = None) -> CorruptFile:
        reason = str(exc).splitlines()[0][:120] if str(exc).strip() else type(exc).__name__
        if sheet is not None and reason.strip("'\" ") == sheet:
            reason = _("its data is missing or damaged")  # calamine names only the sheet it could not find
        if sheet is not None:
            return CorruptFile("damaged-sheet", path=self.path, sheet=sheet, reason=reason)
        return CorruptFile("damaged", path=self.path, reason=reason)

    def close(self) -> None:
        self.close_zip()
        try:
            self.book.close()  # type: ignore[attr-defined]
        except Exception:  # already closed is fine
            pass

    # sheets ---------------------------------------------------------------------------------

    def sheet_names(self) -> list[str]:
        return list(self.book.sheet_names)  # type: ignore[attr-defined]

    def worksheet_names(self) -> list[str]:
        """Sheet names that are worksheets (not chart sheets), visible ones first."""
        try:
            meta = list(self.book.sheets_metadata)  # type: ignore[attr-defined]
        except Exception:  # older python-calamine
            return self.sheet_names()
        work = [m for m in meta if str(m.typ).endswith("WorkSheet")]
        visible = [m.name for m in work if str(m.visible).endswith(".Visible")]
        return visible + [m.name for m in work if m.name not in visible]

    def choose_sheet(self, wanted: str | None) -> str:
        names = self.sheet_names()
        if wanted is not None:
            found = _find_name(names, wanted)
            if found is None:
                listed = ", ".join(f"'{n}'" for n in names)
                raise SheetNotFound(path=self.path, sheet=wanted, sheets=listed)
            return found
        users = _find_name(names, "Users")
        if users is not None:
            return users
        for name in self.worksheet_names():
            if name.strip().casefold() not in NOT_DATA_SHEETS:
                return name
        listed = ", ".join(f"'{n}'" for n in names)
        raise SheetNotFound("no-data", path=self.path, sheets=listed)

    def load_sheet(self, name: str) -> tuple[object, SheetFacts]:
        """The calamine sheet and what our own pass found (formats, formulas), its extent checked first."""
        facts = self._facts(name)
        self._check_span(name, facts)
        return self._calamine_sheet(name), facts

    def _calamine_sheet(self, name: str) -> object:
        try:
            return self.book.get_sheet_by_name(name)  # type: ignore[attr-defined]
        except Exception as exc:  # any calamine failure is a damaged sheet
            raise self._corrupt(exc, name) from None
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt | SystemExit | GeneratorExit):
                raise
            raise self._corrupt(exc, name) from None

    def _check_span(self, name: str, facts: SheetFacts) -> None:
        """The reader allocates the sheet's whole rectangle: refuse it before, not abort during."""
        if facts.span and facts.span[0] * facts.span[1] > self.limits.max_cells:
            rows, cols = facts.span
            raise SheetTooWide("grid", path=self.path, sheet=name, rows=rows, columns=cols,
                               cells=rows * cols, limit=self.limits.max_cells)

    def _facts(self, name: str) -> SheetFacts:
        """Our own pass over a sheet (the format's subclass has one)."""
        return SheetFacts()

    def rows(self, sheet: object, facts: SheetFacts) -> Iterator[tuple[int, list[str]]]:
        """(Excel row number, cells) for every non-blank row; cell i is column i (A = 0)."""
        name = getattr(sheet, "name", "")
        return sheet_rows(sheet, facts, SheetReading(self.path, name, self._corrupt,
                                                     lambda: self._calamine_sheet(name)))

    def lookups(self, warnings: list[InputWarning]) -> dict[str, dict[str, str]]:
        names = self.sheet_names()
        result: dict[str, dict[str, str]] = {kind: {} for kind in schema.LOOKUP_SHEETS}
        for kind in schema.LOOKUP_SHEETS:
            found = _find_name(names, kind)
            if found is None:
                continue
            sheet, facts = self.load_sheet(found)
            result[kind] = read_lookup_rows(kind, self.rows(sheet, facts), warnings)
        return result

    def about(self) -> dict[str, str]:
        """The ``About`` sheet bulkprov writes (item -> value), when there is one; {} otherwise."""
        found = _find_name(self.sheet_names(), ABOUT_SHEET)
        if found is None:
            return {}
        sheet, facts = self.load_sheet(found)
        about: dict[str, str] = {}
        for _number, cells in itertools.islice(self.rows(sheet, facts), ABOUT_ROWS):
            if len(cells) >= 2 and cells[0].strip() and cells[0].strip() not in about:
                about[cells[0].strip()] = cells[1].strip()
        return about

    # the data sheet, once loaded --------------------------------------------------------------

    def check_sheet_size(self, name: str, sheet: object) -> None:
        if not getattr(sheet, "start", None):
            raise FileEmpty("sheet", path=self.path, sheet=name)
        end = getattr(sheet, "end", None)
        if not end:
            raise FileEmpty("sheet", path=self.path, sheet=name)
        if end[1] + 1 > self.limits.max_columns:
            raise SheetTooWide("uses", path=self.path, sheet=name, letter=column_letter(end[1]), count=end[1] + 1,
                               limit=self.limits.max_columns)

    def last_row(self, sheet: object) -> int | None:
        """The sheet's last row, for refusing too many rows before reading any."""
        end = getattr(sheet, "end", None)
        return end[0] + 1 if end else None

    def abandon(self, sheet: object) -> None:
        """No row of ``sheet`` will be read (a subclass stops work it started for them)."""


class ScannedBook(CalamineBook):
    """ods and xls: calamine reads every sheet when it opens them, so our pass reads every sheet first and
    a sheet too big for its grid is refused before calamine opens the file."""

    def __init__(self, path: Path, limits: LoaderLimits) -> None:
        self.book_facts: dict[str, SheetFacts] | None = None  # every sheet's, read once
        super().__init__(path, limits)

    def _prepare(self) -> None:
        self._open_format()
        for name in self._book_facts():
            self._check_span(name, self._book_facts()[name])

    def _open_format(self) -> None:
        """The format's checks before its sheets are read."""

    def _scan_book(self) -> dict[str, SheetFacts]:
        """Every sheet's facts (the format's own pass)."""
        return {}

    def _book_facts(self) -> dict[str, SheetFacts]:
        if self.book_facts is None:
            self.book_facts = self._scan_book()
        return self.book_facts

    def _facts(self, name: str) -> SheetFacts:
        return self._book_facts().get(name) or SheetFacts()


ABOUT_SHEET, ABOUT_ROWS = "About", 100


def _find_name(names: Iterable[str], wanted: str) -> str | None:
    names = list(names)
    if wanted in names:
        return wanted
    key = wanted.strip().casefold()
    return next((n for n in names if n.strip().casefold() == key), None)


def read_book(
    book: CalamineBook, wanted: str | None, required_any: tuple[str, ...], warnings: list[InputWarning],
    *, ignore: tuple[str, ...] = (),
) -> Table:
    """The :class:`Table` of an opened workbook's data sheet (``wanted``, or the one :meth:`choose_sheet`
    finds), with its lookup sheets and its ``About`` sheet."""
    path, limits = book.path, book.limits
    sheet: object = None
    try:
        name = book.choose_sheet(wanted)
        lookups = book.lookups(warnings)
        about = book.about() if name != ABOUT_SHEET else {}
        sheet, facts = book.load_sheet(name)
        book.check_sheet_size(name, sheet)
        book.close_zip()
        return build_table(
            path, book.rows(sheet, facts), limits, required_any, warnings,
            fmt=book.format, sheet=name, encoding=None, delimiter=None, lookups=lookups,
            last_row=book.last_row(sheet), where=f"sheet '{name}'", ignore=ignore, about=about,
        )
    except BaseException:
        book.close_zip()
        book.abandon(sheet)
        raise


def read_book_lookups(book: CalamineBook, warnings: list[InputWarning]) -> dict[str, dict[str, str]]:
    """An opened workbook's lookup sheets (name casefolded -> id per kind), the book closed after."""
    try:
        return book.lookups(warnings)
    finally:
        book.close()
