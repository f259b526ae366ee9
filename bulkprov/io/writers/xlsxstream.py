"""A minimal streaming xlsx writer: whole rows as sheet XML, deflated while the next rows are made.

Why our own (the measurement is in docs/DESIGN.md): a result workbook is a few plain sheets of text
and whole numbers, and the libraries spend their time per *cell* in Python.  Here a row is one
f-string; the biggest sheet (``primary``) goes straight into its zip member through a background
thread, so zlib's deflate and the disk (both release the GIL) overlap the making of the next rows;
the other sheets are spooled to temporary files and copied in at :meth:`StreamingWorkbook.close`.
The zip itself is stdlib ``zipfile`` (Zip64 when needed).

What it guarantees, like :func:`bulkprov.io.writers.xlsx.new_workbook`: every ``str`` is an inline string
(``t="inlineStr"``): never a formula, number or link; text is XML-escaped, control characters
become Excel's ``_xHHHH_`` escapes, and a string longer than Excel's 32,767 UTF-16 units is cut
there (as XlsxWriter does).  ``int`` values are numbers.  Styles: a fixed table (:data:`HEADER`,
:data:`BOLD`, :data:`ALERT_HEADER`, :data:`TEXT`).  The caller gives a temporary path (see
:class:`bulkprov.io.writers.xlsx.AtomicFile`); this module never renames anything.
"""

from __future__ import annotations

import queue
import re
import shutil
import tempfile
import threading
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING

from bulkprov.io.writers.sheetxml import MAX_CELL, XML, attr, escape_xml, fit, quoted_sheet

if TYPE_CHECKING:
    from bulkprov.io.writers.xlsxcharts import Chart

# Cell styles (indexes into styles.xml's cellXfs below).
PLAIN, HEADER, BOLD, ALERT_HEADER, TEXT = 0, 1, 2, 3, 4

FLUSH_CHARS = 1 << 20  # rows are joined, encoded and handed to the zip in pieces of about this size

_SPECIAL = re.compile(r"[&<>\x00-\x08\x0b-\x1f\ufffe\uffff]|_x[0-9a-fA-F]{4}_")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f]")
_ESCAPED = re.compile(r"(_x[0-9a-fA-F]{4}_)")
_EDGE_SPACE = re.compile(r"^\s|\s$")


def column_letters(count: int) -> list[str]:
    """Excel's column letters A, B, … for the first ``count`` columns."""
    letters: list[str] = []
    for index in range(count):
        text, n = "", index + 1
        while n:
            n, rem = divmod(n - 1, 26)
            text = chr(65 + rem) + text
        letters.append(text)
    return letters


def escape(text: str) -> str:
    """Text as the body of ``<t>``: Excel's own escapes for control characters, then XML's."""
    if not _SPECIAL.search(text):
        return text
    text = _ESCAPED.sub(r"_x005F\1", text)
    text = _CONTROL.sub(lambda m: f"_x{ord(m.group()):04X}_", text)
    text = text.replace("\ufffe", "_xFFFE_").replace("\uffff", "_xFFFF_")
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def text_cell(ref: str, text: str, style: int = PLAIN) -> str:
    """One inline-string cell."""
    text = fit(text)
    space = ' xml:space="preserve"' if _EDGE_SPACE.search(text) else ""
    s = f' s="{style}"' if style else ""
    return f'<c r="{ref}"{s} t="inlineStr"><is><t{space}>{escape(text)}</t></is></c>'


def row_xml(number: int, values: Sequence[str | int | None], letters: Sequence[str], *,
            style: int = PLAIN, first_style: int | None = None, keep_empty: bool = False) -> str:
    """One ``<row>``: ints as numbers, strings as inline strings; None (and "" unless ``keep_empty``) left out."""
    r = str(number)
    if style or first_style is not None or keep_empty or not plain_row(values):
        return _careful_row(r, values, letters, style, first_style, keep_empty)
    # The common row: short text that needs no escaping, no styles.  One pass at C speed.
    return f'<row r="{r}">' + "".join([
        f'<c r="{letter}{r}"><v>{value}</v></c>' if type(value) is int
        else f'<c r="{letter}{r}" t="inlineStr"><is><t>{value}</t></is></c>'
        for letter, value in zip(letters, values, strict=False) if value is not None and value != ""]) + "</row>"


_SPECIAL_CHARS = re.compile(r"[&<>\x00-\x08\x0b-\x1f\ufffe\uffff]")


def plain_row(values: Sequence[str | int | None]) -> bool:
    """True when every string of the row goes into the XML as it is (see :func:`plain_text`)."""
    return plain_text([v if type(v) is str else str(v) for v in values if v is not None and type(v) is not int])


def plain_text(strings: list[str]) -> bool:
    """True when none of ``strings`` needs escaping, cutting or ``xml:space``: checked on the text
    joined (C speed); rows that fail go the careful way, cell by cell."""
    text = "".join(strings)
    return ((len(text) <= MAX_CELL // 2 or max(map(len, strings)) <= MAX_CELL // 2) and "_x" not in text
            and not _SPECIAL_CHARS.search(text) and list(map(str.strip, strings)) == strings)


def _careful_row(r: str, values: Sequence[str | int | None], letters: Sequence[str], style: int,
                 first_style: int | None, keep_empty: bool) -> str:
    out = [f'<row r="{r}">']
    for col, value in enumerate(values):
        if value is None or (value == "" and not keep_empty):
            continue
        cell_style = first_style if first_style is not None and col == 0 else style
        if type(value) is int:
            s = f' s="{cell_style}"' if cell_style else ""
            out.append(f'<c r="{letters[col]}{r}"{s}><v>{value}</v></c>')
        else:
            out.append(text_cell(letters[col] + r, str(value), cell_style))
    out.append("</row>")
    return "".join(out)


@dataclass
class Sheet:
    """A worksheet to write: its header row, column widths and view; rows go in with :meth:`add` or :meth:`add_rows`."""

    name: str
    headers: list[str] = field(default_factory=list)
    widths: list[tuple[int, int, float]] = field(default_factory=list)  # (first col, last col, width), 1-based
    header_style: int = HEADER
    column_style: int = PLAIN  # the style of whole columns (TEXT: cells typed later stay text)
    freeze: bool = True        # the header row stays in view
    autofilter: bool = True
    selected: bool = False
    charts: list[Chart] = field(default_factory=list)  # drawn on the sheet (the Summary's pictures)
    count: int = 0             # data rows written so far
    _sink: _Sink | None = field(default=None, repr=False)
    _letters: list[str] = field(default_factory=list, repr=False)

    def letters(self, width: int) -> list[str]:
        if len(self._letters) < width:
            self._letters = column_letters(max(width, len(self.headers), 16))
        return self._letters

    def add(self, values: Sequence[str | int | None], *, first_style: int | None = None,
            keep_empty: bool = False) -> None:
        """One data row (after the header)."""
        number = self.next_row
        self.count += 1
        if not values:
            return
        self.write_xml(row_xml(number, values, self.letters(len(values)), first_style=first_style,
                               keep_empty=keep_empty))

    def add_rows(self, rows: Sequence[Sequence[str | int | None]]) -> None:
        """Data rows at once (no styles, blanks left out): one check of all their text, then one
        comprehension -- the fast way for many rows."""
        if not rows:
            return
        first = self.next_row
        self.count += len(rows)
        strings = [v if type(v) is str else str(v)
                   for row in rows for v in row if v is not None and type(v) is not int]
        letters = self.letters(max(map(len, rows)))
        if not plain_text(strings):
            self.write_xml("".join([row_xml(n, row, letters) for n, row in enumerate(rows, first)]))
            return
        self.write_xml("".join([
            f'<row r="{n}">' + "".join([
                f'<c r="{letter}{n}"><v>{value}</v></c>' if type(value) is int
                else f'<c r="{letter}{n}" t="inlineStr"><is><t>{value}</t></is></c>'
                for letter, value in zip(letters, row, strict=False) if value is not None and value != ""])
            + "</row>" for n, row in enumerate(rows, first)]))

    @property
    def next_row(self) -> int:
        """The sheet row number (1-based) of the next data row."""
        return self.count + (2 if self.headers else 1)

    def write_xml(self, xml: str) -> None:
        """Rows already made as XML (numbered from :attr:`next_row` on by the caller, who advances ``count``)."""
        assert self._sink is not None, "the sheet belongs to no open workbook"
        self._sink.write(xml)

    # -- the sheet's XML around its rows ------------------------------------------------------

    def head(self) -> str:
        view = ' tabSelected="1"' if self.selected else ""
        pane = ('<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
                '<selection pane="bottomLeft"/>') if self.freeze else ""
        views = f'<sheetViews><sheetView{view} workbookViewId="0">{pane}</sheetView></sheetViews>' if pane \
            else f'<sheetViews><sheetView{view} workbookViewId="0"/></sheetViews>'
        style = f' style="{self.column_style}"' if self.column_style else ""
        # XlsxWriter's width for n characters of Calibri 11 is n + 5 px of padding: n + 0.7109375.
        cols = "".join(f'<col min="{a}" max="{b}" width="{w + 0.7109375}"{style} customWidth="1"/>'
                       for a, b, w in self.widths)
        header = row_xml(1, self.headers, self.letters(len(self.headers)), style=self.header_style,
                         keep_empty=True) if self.headers else ""
        return (XML + '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
                'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
                f'{views}<sheetFormatPr defaultRowHeight="15"/>'
                f'{f"<cols>{cols}</cols>" if cols else ""}<sheetData>{header}')

    def filter_ref(self) -> str | None:
        if not self.autofilter or not self.headers:
            return None
        return f"A1:{self.letters(len(self.headers))[len(self.headers) - 1]}{max(self.count, 1) + 1}"

    def tail(self) -> str:
        ref = self.filter_ref()
        auto = f'<autoFilter ref="{ref}"/>' if ref else ""
        drawing = '<drawing r:id="rId1"/>' if self.charts else ""
        return (f'</sheetData>{auto}<pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75" '
                f'header="0.3" footer="0.3"/>{drawing}</worksheet>')


class _Sink:
    """Where a sheet's rows go: text is gathered, joined and passed on as UTF-8 in ~1 MB pieces."""

    def __init__(self, out: _Member | IO[bytes]) -> None:
        self._out = out
        self._parts: list[str] = []
        self._size = 0

    def write(self, xml: str) -> None:
        self._parts.append(xml)
        self._size += len(xml)
        if self._size >= FLUSH_CHARS:
            self.flush()

    def flush(self) -> None:
        if self._parts:
            self._out.write("".join(self._parts).encode("utf-8", "replace"))
            self._parts, self._size = [], 0


class _Member:
    """One zip member fed by a background thread: deflate and the disk overlap the caller's work."""

    def __init__(self, zf: zipfile.ZipFile, name: str) -> None:
        self._fh = zf.open(name, "w", force_zip64=True)
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=4)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="xlsx-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (data := self._queue.get()) is not None:
            if self._error is None:
                try:
                    self._fh.write(data)
                except BaseException as exc:  # noqa: BLE001 - reported to the caller on its next write
                    self._error = exc

    def write(self, data: bytes) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(data)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()
        self._fh.close()
        if self._error is not None:
            raise self._error


class StreamingWorkbook:
    """A workbook of ``sheets`` (in tab order) written to ``path``; ``primary`` streams, the rest spool."""

    def __init__(self, path: Path, sheets: list[Sheet], primary: str, *, compresslevel: int = 1) -> None:
        self.sheets = sheets
        self._zip = zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=compresslevel)
        self._spools: dict[str, IO[bytes]] = {}
        self._member: _Member | None = None
        self._primary = primary
        try:
            self._zip.writestr("_rels/.rels", _ROOT_RELS)
            for i, sheet in enumerate(sheets, start=1):
                if sheet.name == primary:
                    self._member = _Member(self._zip, f"xl/worksheets/sheet{i}.xml")
                    sheet._sink = _Sink(self._member)
                    sheet._sink.write(sheet.head())  # widths and view are known from the start
                else:
                    spool = tempfile.TemporaryFile(prefix="bulkprov-sheet-")
                    self._spools[sheet.name] = spool
                    sheet._sink = _Sink(spool)
        except BaseException:
            self.abandon()
            raise

    def sheet(self, name: str) -> Sheet:
        return next(s for s in self.sheets if s.name == name)

    def close(self) -> None:
        """Finish every sheet, then the workbook's own parts; the zip is complete when this returns."""
        try:
            self._finish_primary(self.sheet(self._primary))  # its zip member is open until now
            for i, sheet in enumerate(self.sheets, start=1):
                if sheet.name != self._primary:
                    self._copy_spool(sheet, f"xl/worksheets/sheet{i}.xml")
            self._write_charts()
            self._zip.writestr("[Content_Types].xml", self._content_types())
            self._zip.writestr("xl/workbook.xml", self._workbook())
            self._zip.writestr("xl/_rels/workbook.xml.rels", self._workbook_rels())
            self._zip.writestr("xl/styles.xml", _STYLES)
            self._zip.close()
        finally:
            self._close_spools()

    def abandon(self) -> None:
        """Stop writing (the caller discards the file)."""
        if self._member is not None:
            try:
                self._member.close()
            except BaseException:  # noqa: BLE001 - the file is being thrown away
                pass
        try:
            self._zip.close()
        except BaseException:  # noqa: BLE001 - the file is being thrown away
            pass
        self._close_spools()

    # -- internals -------------------------------------------------------------------------

    def _finish_primary(self, sheet: Sheet) -> None:
        assert self._member is not None and sheet._sink is not None
        sheet._sink.write(sheet.tail())  # the filter's range is known only now, and comes after the rows
        sheet._sink.flush()
        self._member.close()
        self._member = None

    def _copy_spool(self, sheet: Sheet, member: str) -> None:
        spool = self._spools[sheet.name]
        assert sheet._sink is not None
        sheet._sink.flush()
        spool.seek(0)
        with self._zip.open(member, "w", force_zip64=True) as out:
            out.write(sheet.head().encode("utf-8"))
            shutil.copyfileobj(spool, out, 1 << 20)
            out.write(sheet.tail().encode("utf-8"))

    def _write_charts(self) -> None:
        """Each sheet with charts gets one drawing holding them (sheet → drawing → charts)."""
        chart_no = 0
        for i, sheet in enumerate(self.sheets, start=1):
            if sheet.charts:
                from bulkprov.io.writers import xlsxcharts  # only result workbooks with a Summary draw

                parts = xlsxcharts.parts(i, sheet.name, sheet.charts, chart_no)
                for name, xml in parts:
                    self._zip.writestr(name, xml)
                chart_no += len(sheet.charts)

    def _close_spools(self) -> None:
        for spool in self._spools.values():
            spool.close()
        self._spools.clear()

    def _content_types(self) -> str:
        sheets = "".join(
            f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>' for i in range(1, len(self.sheets) + 1))
        charts = sum(len(s.charts) for s in self.sheets)
        sheets += "".join(
            f'<Override PartName="/xl/drawings/drawing{i}.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.drawing+xml"/>' for i, s in enumerate(self.sheets, start=1) if s.charts)
        sheets += "".join(
            f'<Override PartName="/xl/charts/chart{n}.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.drawingml.chart+xml"/>' for n in range(1, charts + 1))
        return (XML + '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
                '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
                '<Default Extension="xml" ContentType="application/xml"/>'
                '<Override PartName="/xl/workbook.xml" ContentType="application/'
                'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
                '<Override PartName="/xl/styles.xml" ContentType="application/'
                f'vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>{sheets}</Types>')

    def _workbook(self) -> str:
        sheets = "".join(f'<sheet name="{attr(s.name)}" sheetId="{i}" r:id="rId{i}"/>'
                         for i, s in enumerate(self.sheets, start=1))
        names = "".join(
            f'<definedName name="_xlnm._FilterDatabase" localSheetId="{i}" hidden="1">'
            f'{escape_xml(quoted_sheet(s.name))}!{_absolute(ref)}</definedName>'
            for i, s in enumerate(self.sheets) if (ref := s.filter_ref()))
        defined = f"<definedNames>{names}</definedNames>" if names else ""
        return (XML + '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
                'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
                f'<bookViews><workbookView/></bookViews><sheets>{sheets}</sheets>{defined}'
                '<calcPr calcId="124519"/></workbook>')

    def _workbook_rels(self) -> str:
        n = len(self.sheets)
        rels = "".join(
            f'<Relationship Id="rId{i}" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
            f'relationships/worksheet" Target="worksheets/sheet{i}.xml"/>' for i in range(1, n + 1))
        return (XML + '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
                f'{rels}<Relationship Id="rId{n + 1}" Type="http://schemas.openxmlformats.org/officeDocument/'
                '2006/relationships/styles" Target="styles.xml"/></Relationships>')


def _absolute(ref: str) -> str:
    return ":".join(re.sub(r"([A-Z]+)(\d+)", r"$\1$\2", part) for part in ref.split(":"))


_ROOT_RELS = (XML + '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
              '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
              'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>')

_FONT = '<sz val="11"/><name val="Calibri"/><family val="2"/>'
_THIN = '<{0} style="thin"><color auto="1"/></{0}>'
_STYLES = (
    XML + '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    f'<fonts count="3"><font>{_FONT}</font><font><b/><sz val="11"/><color rgb="FFFFFFFF"/>'
    '<name val="Calibri"/><family val="2"/></font>'
    f'<font><b/>{_FONT}</font></fonts>'
    '<fills count="4"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill>'
    '<fill><patternFill patternType="solid"><fgColor rgb="FF1F4E79"/><bgColor indexed="64"/></patternFill></fill>'
    '<fill><patternFill patternType="solid"><fgColor rgb="FFC00000"/><bgColor indexed="64"/></patternFill></fill>'
    '</fills><borders count="2"><border><left/><right/><top/><bottom/><diagonal/></border>'
    f'<border>{"".join(_THIN.format(s) for s in ("left", "right", "top", "bottom"))}<diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="5"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="0" fontId="1" fillId="2" borderId="1" xfId="0" applyFont="1" applyFill="1" applyBorder="1"/>'
    '<xf numFmtId="0" fontId="2" fillId="0" borderId="0" xfId="0" applyFont="1"/>'
    '<xf numFmtId="0" fontId="1" fillId="3" borderId="1" xfId="0" applyFont="1" applyFill="1" applyBorder="1"/>'
    '<xf numFmtId="49" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    '<dxfs count="0"/><tableStyles count="0"/></styleSheet>')
