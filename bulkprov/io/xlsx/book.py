"""An xlsx/xlsm workbook through calamine, with the xlsx guards and our own pass over the sheet XML.

Before calamine opens the file: the shared-string table's claimed count is checked against its size,
and the sheet's ``<dimension ref=...>`` tag is read from the head of the sheet XML so a sheet claiming
16,384 columns is refused before anything allocates for it.  A big narrow sheet goes to calamine in
pieces while our own pass reads on (:mod:`bulkprov.io.xlsx.split`).
"""

from __future__ import annotations

import concurrent.futures
import contextvars
import posixpath
import re
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

from bulkprov.errors import CorruptFile, FileEmpty, SheetTooWide
from bulkprov.i18n import gettext as _
from bulkprov.io.shared.base import LoaderLimits, SheetFacts, column_number, human_size
from bulkprov.io.shared.calamine import CalamineBook
from bulkprov.io.shared.formats import Renderer
from bulkprov.io.shared.guard import damaged
from bulkprov.io.shared.numfmt import local_name
from bulkprov.io.xlsx import split as xlsxsplit
from bulkprov.io.xlsx.scan import is_narrow, recalculated_on_load, scan_sheet, style_formats
from bulkprov.io.xlsx.split import PieceSheet

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


class XlsxBook(CalamineBook):
    """An opened xlsx/xlsm: guards done, calamine workbook ready, the sheets' parts and styles known."""

    format = "xlsx"

    def __init__(self, path: Path, limits: LoaderLimits) -> None:
        self.parts: dict[str, str] = {}
        self.styles: dict[int, Renderer] = {}
        self.recalc = False
        super().__init__(path, limits)

    def _prepare(self) -> None:
        self._open_zip()
        path, zf = self.path, self.zip
        assert zf is not None
        _check_shared_strings(path, zf)
        self.parts, workbook_xml = _xlsx_sheet_parts(path, zf)
        self.recalc = recalculated_on_load(workbook_xml)
        with damaged(path, "xl/styles.xml"):
            self.styles = style_formats(zf)

    def load_sheet(self, name: str) -> tuple[object, SheetFacts]:
        """The calamine sheet and what our own pass found (formats, formulas), guards done first.

        * A big xlsx sheet: our pass hands each part it has found narrow on to calamine, which parses
          the sheet in pieces in a thread while the pass reads on; each piece's rows are then read
          while the next is parsed (:mod:`bulkprov.io.xlsx.split`).
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
        """The zip member of a sheet's XML (None when it is missing)."""
        member = self.parts.get(name)
        if self.zip is None or member is None or member not in self.zip.namelist():
            return None
        return member

    def _narrow_xlsx(self, name: str) -> bool:
        member = self._sheet_member(name)
        if member is None or self.zip is None:
            return False
        self._check_dimension(name)
        with damaged(self.path, member, sheet=name):
            return is_narrow(self.zip, member)

    def _check_dimension(self, name: str) -> None:
        member = self.parts.get(name)
        if self.zip is None or member is None:
            return
        claim = _dimension_columns(self.path, self.zip, member, name)
        if claim and claim[0] > self.limits.max_columns:
            raise SheetTooWide("claims", path=self.path, sheet=name, count=claim[0], ref=claim[1],
                               limit=self.limits.max_columns)

    def _facts(self, name: str, sink: xlsxsplit.PieceCutter | None = None) -> SheetFacts:
        """Our pass over the sheet (its XML going on to ``sink`` part by part)."""
        member = self.parts.get(name)
        if self.zip is None or member is None:
            return SheetFacts()
        if member not in self.zip.namelist():
            raise CorruptFile("missing-sheet", path=self.path, sheet=name, part=member)
        self._check_dimension(name)
        with damaged(self.path, member, sheet=name):
            return scan_sheet(self.zip, member, self.styles, self.recalc, sink=sink)

    def check_sheet_size(self, name: str, sheet: object) -> None:
        if isinstance(sheet, PieceSheet):
            if not getattr(sheet, "start", None):
                raise FileEmpty("sheet", path=self.path, sheet=name)
            return  # a sheet in pieces is narrow (columns A-Z, under limits that allow it); no end before its last piece
        super().check_sheet_size(name, sheet)

    def last_row(self, sheet: object) -> int | None:
        """None for a sheet in pieces: it cannot be too many (it is narrow: its rows are numbered below
        1,000,000, and it is only cut under limits that allow that -- ``xlsxsplit.worth_cutting``)."""
        if isinstance(sheet, PieceSheet):
            return None
        return super().last_row(sheet)

    def abandon(self, sheet: object) -> None:
        if isinstance(sheet, PieceSheet):
            sheet.cancel()  # no row will be read: parse no more pieces


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
