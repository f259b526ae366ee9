"""Workbooks (xlsx/xlsm, xls, ods) through python-calamine, with the guards that run before it.

calamine is a Rust reader of xlsx/xls/ods, many times faster than pure-Python readers (100,000 rows
x 15 columns in ~1.5 s here) with compact memory.  Before it opens a file: a zip's member table is
checked for absurd total size and compression ratio (zip bombs), and the xlsx sheet's ``<dimension
ref=...>`` tag is read from the head of the sheet XML so a sheet claiming 16,384 columns is refused
before anything allocates for it.  A big narrow sheet goes to calamine in pieces while our own
pass reads on (:mod:`bulkprov.io.xlsxsplit`); :mod:`bulkprov.io.sheetrows` turns the rows into text.
"""

from __future__ import annotations

import concurrent.futures
import contextvars
import itertools
import posixpath
import re
import xml.etree.ElementTree as ET
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
from bulkprov.io import xlsxsplit
from bulkprov.io.base import (
    NOT_DATA_SHEETS,
    WORKBOOK_EXTENSIONS,
    LoaderLimits,
    SheetFacts,
    Table,
    column_letter,
    column_number,
    human_size,
)
from bulkprov.io.formats import Renderer
from bulkprov.io.guard import damaged, open_regular, open_zip
from bulkprov.io.headers import build_table, read_lookup_rows
from bulkprov.io.numfmt import local_name
from bulkprov.io.odsscan import scan_content
from bulkprov.io.ole import classify_ole
from bulkprov.io.sheetrows import SheetReading, sheet_rows
from bulkprov.io.sniff import zip_kind
from bulkprov.io.xlsscan import scan_xls
from bulkprov.io.xlsxscan import (
    is_narrow,
    recalculated_on_load,
    scan_sheet,
    style_formats,
)
from bulkprov.io.xlsxsplit import PieceSheet


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



_SST_TAG_RE = re.compile(rb"<(?:\w+:)?sst\b[^>]*>")
_COUNT_RE = re.compile(rb"\buniqueCount\s*=\s*[\"'](\d+)[\"']")  # ``count`` counts uses, not strings


def _check_shared_strings(path: Path, zf: zipfile.ZipFile) -> None:
    """calamine reserves memory for the ``uniqueCount`` the shared-string table claims (24 bytes a
    string): a damaged count of 4 billion in a 5 KB file aborts the process.  Each string takes at least 7 bytes
    of XML (``<si><t/>``...), so a count the part cannot hold is damage."""
    for info in zf.infolist():
        if not info.filename.lower().endswith("sharedstrings.xml"):
            continue
        with damaged(path, info.filename), zf.open(info) as fh:
            head = fh.read(4096)
        tag = _SST_TAG_RE.search(head)
        for count in map(int, _COUNT_RE.findall(tag.group(0) if tag else b"")):
            if count > info.file_size // 7 + 1:
                raise CorruptFile("damaged-part", path=path, part=info.filename,
                                  reason=_("it claims {count} strings in {size}").format(
                                      count=f"{count:,}", size=human_size(info.file_size)))


_DIMENSION_RE = re.compile(rb"<(?:\w+:)?dimension\s+ref=[\"']([A-Za-z]{1,4})(\d+)(?::([A-Za-z]{1,4})(\d+))?")


def _xlsx_sheet_parts(path: Path, zf: zipfile.ZipFile) -> tuple[dict[str, str], bytes]:
    """Sheet name -> zip member of its XML (from xl/workbook.xml and its relationships), and workbook.xml."""
    with damaged(path, "xl/workbook.xml"):
        workbook_xml = zf.read("xl/workbook.xml")
        book = ET.fromstring(workbook_xml)
    with damaged(path, "xl/_rels/workbook.xml.rels"):
        rels = ET.fromstring(zf.read("xl/_rels/workbook.xml.rels"))
    targets = {el.get("Id"): el.get("Target", "") for el in rels.iter() if local_name(el.tag) == "Relationship"}
    parts: dict[str, str] = {}
    for el in book.iter():
        if local_name(el.tag) != "sheet":
            continue
        rid = next((v for k, v in el.attrib.items() if local_name(k) == "id"), None)
        target = targets.get(rid)
        if target:
            member = target.lstrip("/") if target.startswith("/") else posixpath.normpath("xl/" + target)
            parts[el.get("name", "")] = member
    return parts, workbook_xml


def _dimension_columns(path: Path, zf: zipfile.ZipFile, member: str, sheet: str) -> tuple[int, str] | None:
    """(columns claimed, ref) from the ``<dimension>`` tag in the head of a sheet's XML."""
    with damaged(path, member, sheet), zf.open(member) as fh:
        head = fh.read(65536)
    m = _DIMENSION_RE.search(head)
    if not m or not m.group(3):
        return None
    first, last = column_number(m.group(1).decode()), column_number(m.group(3).decode())
    return abs(last - first) + 1, m.group(0).split(b"=", 1)[1][1:].decode()



class WorkbookFile:
    """An opened workbook: guards done, calamine workbook ready, xlsx parts known."""

    def __init__(self, path: Path, kind: str, limits: LoaderLimits) -> None:
        self.path, self.limits = path, limits
        self.zip: zipfile.ZipFile | None = None
        self._fh: BinaryIO | None = None
        self.parts: dict[str, str] = {}
        self.styles: dict[int, Renderer] = {}
        self.recalc = False
        self.book_facts: dict[str, SheetFacts] | None = None  # ods and xls: every sheet's, read once
        try:
            self.format = classify_ole(path) if kind == "ole" else self._open_zip()
            if self.format in ("ods", "xls"):  # calamine reads every sheet of these when it opens them
                for name in self._book_facts():
                    self._check_span(name, self._book_facts()[name])
            self.book = self._open_calamine()
        except BaseException:
            self.close_zip()
            raise

    def _open_zip(self) -> str:
        path = self.path
        self._fh = open_regular(path)
        zf = self.zip = open_zip(path, self._fh)
        with damaged(path, _("zip directory")):
            _check_zip(path, zf, self.limits)
        kind = zip_kind(path, zf)
        if kind == "xlsx":
            _check_shared_strings(path, zf)
            self.parts, workbook_xml = _xlsx_sheet_parts(path, zf)
            self.recalc = recalculated_on_load(workbook_xml)
            with damaged(path, "xl/styles.xml"):
                self.styles = style_formats(zf)
        return kind

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
        """The calamine sheet and what our own pass found (formats, formulas), guards done first.

        * A big xlsx sheet: our pass hands each part it has found narrow on to calamine, which parses
          the sheet in pieces in a thread while the pass reads on; each piece's rows are then read
          while the next is parsed (:mod:`bulkprov.io.xlsxsplit`).
        * Another xlsx sheet: when it is narrow (no cell past column Z, see :func:`is_narrow`),
          nothing our pass could find bounds calamine's grid, so the two overlap: the pass in a
          thread, calamine (which lets go of the GIL while it parses) here.
        * Otherwise our pass first, and its extent of the cells may refuse the sheet before calamine.
        """
        member = self._sheet_member(name)
        if member is not None and xlsxsplit.worth_cutting(self.zip, member, self.limits):  # type: ignore[arg-type]
            cutter = xlsxsplit.PieceCutter(self.zip, member, [m for m in self.parts.values() if m != member],  # type: ignore[arg-type]
                                           name)
            try:
                facts = self._facts(name, sink=cutter)
            except BaseException:
                cutter.abandon()
                raise
            pieces = cutter.finish() if facts.narrow else None
            if pieces is not None and _starts(pieces):
                return pieces, facts
            cutter.abandon()
        elif member is not None and self._narrow_xlsx(name):
            with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="bulkprov-scan") as pool:
                # the reader's language (a context variable) goes along into the thread's messages
                scan = pool.submit(contextvars.copy_context().run, self._facts, name)
                try:
                    sheet = self._calamine_sheet(name)
                finally:
                    concurrent.futures.wait([scan])  # the pass uses our zip handle: never close it under it
                return sheet, scan.result()
        else:
            facts = self._facts(name)
        self._check_span(name, facts)
        return self._calamine_sheet(name), facts

    def _sheet_member(self, name: str) -> str | None:
        """The zip member of an xlsx sheet's XML (None for other formats, or when it is missing)."""
        member = self.parts.get(name)
        if self.format != "xlsx" or self.zip is None or member is None or member not in self.zip.namelist():
            return None
        return member

    def _narrow_xlsx(self, name: str) -> bool:
        member = self._sheet_member(name)
        if member is None or self.zip is None:
            return False
        self._check_dimension(name)
        with damaged(self.path, member, sheet=name):
            return is_narrow(self.zip, member)

    def _calamine_sheet(self, name: str) -> object:
        try:
            return self.book.get_sheet_by_name(name)  # type: ignore[attr-defined]
        except Exception as exc:  # any calamine failure is a damaged sheet
            raise self._corrupt(exc, name) from None
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt | SystemExit | GeneratorExit):
                raise
            raise self._corrupt(exc, name) from None

    def _check_dimension(self, name: str) -> None:
        member = self.parts.get(name)
        if self.zip is None or member is None:
            return
        claim = _dimension_columns(self.path, self.zip, member, name)
        if claim and claim[0] > self.limits.max_columns:
            raise SheetTooWide("claims", path=self.path, sheet=name, count=claim[0], ref=claim[1],
                               limit=self.limits.max_columns)

    def _check_span(self, name: str, facts: SheetFacts) -> None:
        """The reader allocates the sheet's whole rectangle: refuse it before, not abort during."""
        if facts.span and facts.span[0] * facts.span[1] > self.limits.max_cells:
            rows, cols = facts.span
            raise SheetTooWide("grid", path=self.path, sheet=name, rows=rows, columns=cols,
                               cells=rows * cols, limit=self.limits.max_cells)

    def _book_facts(self) -> dict[str, SheetFacts]:
        """Every sheet's facts of an .ods or .xls, read once."""
        if self.book_facts is None:
            if self.format == "ods" and self.zip is not None:
                with damaged(self.path, "content.xml"):
                    self.book_facts = scan_content(self.zip)
            elif self.format == "xls":
                with damaged(self.path, _("Workbook stream")):
                    self.book_facts = scan_xls(self.path, self.limits.max_bytes)
            else:
                self.book_facts = {}
        return self.book_facts

    def _facts(self, name: str, sink: xlsxsplit.PieceCutter | None = None) -> SheetFacts:
        """Our pass over the sheet (its XML going on to ``sink`` part by part)."""
        if self.format in ("ods", "xls"):
            return self._book_facts().get(name) or SheetFacts()
        member = self.parts.get(name)
        if self.zip is None or member is None:
            return SheetFacts()
        if member not in self.zip.namelist():
            raise CorruptFile("missing-sheet", path=self.path, sheet=name, part=member)
        self._check_dimension(name)
        with damaged(self.path, member, sheet=name):
            return scan_sheet(self.zip, member, self.styles, self.recalc, sink=sink)

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


ABOUT_SHEET, ABOUT_ROWS = "About", 100


def _find_name(names: Iterable[str], wanted: str) -> str | None:
    names = list(names)
    if wanted in names:
        return wanted
    key = wanted.strip().casefold()
    return next((n for n in names if n.strip().casefold() == key), None)


def open_workbook(
    path: Path, kind: str, wanted: str | None, limits: LoaderLimits,
    required_any: tuple[str, ...], warnings: list[InputWarning], *, ignore: tuple[str, ...] = (),
) -> Table:
    book = WorkbookFile(path, kind, limits)
    sheet: object = None
    try:
        name = book.choose_sheet(wanted)
        lookups = book.lookups(warnings)
        about = book.about() if name != ABOUT_SHEET else {}
        sheet, facts = book.load_sheet(name)
        _check_sheet_size(path, name, sheet, limits)
        book.close_zip()
        return build_table(
            path, book.rows(sheet, facts), limits, required_any, warnings,
            fmt=book.format, sheet=name, encoding=None, delimiter=None, lookups=lookups,
            last_row=_last_row(sheet, limits), where=f"sheet '{name}'", ignore=ignore, about=about,
        )
    except BaseException:
        book.close_zip()
        if isinstance(sheet, PieceSheet):
            sheet.cancel()  # no row will be read: parse no more pieces
        raise


def _starts(pieces: PieceSheet) -> bool:
    """Whether the first piece with cells parsed (else: cancel them, parse the sheet whole, and
    let that say what is wrong)."""
    try:
        pieces.start  # noqa: B018 -- waits for the first pieces
    except BaseException as exc:  # calamine's errors, a Rust panic (PanicException)
        if isinstance(exc, KeyboardInterrupt | SystemExit | GeneratorExit):
            raise
        pieces.cancel()
        return False
    return True


def _last_row(sheet: object, limits: LoaderLimits) -> int | None:
    """The sheet's last row, for refusing too many rows before reading any; None when it cannot
    be too many (a sheet in pieces is narrow: its rows are numbered below 1,000,000, and it is only
    cut under limits that allow that -- ``xlsxsplit.worth_cutting``)."""
    if isinstance(sheet, PieceSheet):
        return None
    end = getattr(sheet, "end", None)
    return end[0] + 1 if end else None


def _check_sheet_size(path: Path, name: str, sheet: object, limits: LoaderLimits) -> None:
    if not getattr(sheet, "start", None):
        raise FileEmpty("sheet", path=path, sheet=name)
    if isinstance(sheet, PieceSheet):
        return  # a sheet in pieces is narrow (columns A-Z, under limits that allow it); no end before its last piece
    end = getattr(sheet, "end", None)
    if not end:
        raise FileEmpty("sheet", path=path, sheet=name)
    if end[1] + 1 > limits.max_columns:
        raise SheetTooWide("uses", path=path, sheet=name, letter=column_letter(end[1]), count=end[1] + 1,
                           limit=limits.max_columns)
