"""What an xlsx sheet's XML says that calamine does not: formats, formulas never calculated, extents.

One streaming pass over the sheet's XML (4 MB chunks, literal-prefix regexes at C speed) finds:

* the cells whose style has a number format (``styles.xml``'s ``cellXfs``), so values render as
  Excel shows them (:mod:`bulkprov.io.shared.formats`);
* formula cells without a cached value (openpyxl writes ``<f>..</f><v/>``), and every formula cell
  when the workbook asks for a full recalculation on load (XlsxWriter's placeholder ``0``s): their
  cells read as blank, and the validator says so instead of sending a blank;
* the grid the cells span.  calamine allocates the whole rectangle from the first to the last
  cell with a value (32 bytes a cell): two cells at A1 and XFD1048576 in a 5 KB file would ask for
  512 GB and abort the process.  A sheet whose cells stay within columns A-Z and rows below
  1,000,000 is bounded anyway (26 x 999,999 cells, under the cell cap); only when a two- or
  three-letter column or a seven-digit row appears is every reference read.

Writers that omit cell references (allowed, rare) take an exact but slower expat walk.
"""

from __future__ import annotations

import html
import io
import re
import typing
import xml.etree.ElementTree as ET
import xml.parsers.expat
import zipfile

from bulkprov.i18n import gettext as _
from bulkprov.io.shared.base import SheetFacts, column_number
from bulkprov.io.shared.formats import BUILTIN, Renderer, compile_format

CHUNK = 4 << 20
MAX_CARRY = 64 << 20
FORMULA_SHOWN = 60


def local_name(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def style_formats(zf: zipfile.ZipFile) -> dict[int, Renderer]:
    """Cell style (xf) index -> renderer, for the styles whose number format is not General."""
    try:
        data = zf.read("xl/styles.xml")
    except KeyError:
        return {}
    codes: dict[int, str] = dict(BUILTIN)
    styles: dict[int, Renderer] = {}
    compiled: dict[int, Renderer | None] = {}
    in_xfs, xf_index = False, 0
    for event, el in ET.iterparse(io.BytesIO(data), events=("start", "end")):
        tag = local_name(el.tag)
        if event == "end":
            if tag == "cellXfs":
                break
            continue
        if tag == "numFmt":
            codes[int(el.get("numFmtId", "-1"))] = el.get("formatCode", "")
        elif tag == "cellXfs":
            in_xfs = True
        elif tag == "xf" and in_xfs:
            fmt_id = int(el.get("numFmtId", "0") or 0)
            if fmt_id not in compiled:
                compiled[fmt_id] = compile_format(codes.get(fmt_id, "General"))
            renderer = compiled[fmt_id]
            if renderer is not None:
                styles[xf_index] = renderer
            xf_index += 1
    return styles


_CALC_ON_LOAD_RE = re.compile(rb"<(?:\w+:)?calcPr\b[^>]*\bfullCalcOnLoad=[\"'](?:1|true)[\"']")


def recalculated_on_load(workbook_xml: bytes) -> bool:
    """Whether the workbook's cached formula values are placeholders (``fullCalcOnLoad``)."""
    return bool(_CALC_ON_LOAD_RE.search(workbook_xml))


# The odd-cell search of a sheet without a root prefix (nearly all), in searches that start with a
# literal and so run at C speed: a root-prefix cell not written exactly <c r=", and any prefixed cell.
# A search costs about 60 ns at every hit of its literal (1.5 million ``<c`` in 100k rows), so the
# prefixed-cell search is only made when the part has a colon at all (one memchr) and ``:c`` then.
_ODD_PLAIN_RE = re.compile(rb'<c(?! r=")[\s>/]')
_ODD_PREFIXED_RE = re.compile(rb"<\w+:c[\s>/]")
_COLON_C_RE = re.compile(rb":c[\s>/]")
# Every cell tag that is not exactly <c r="A1"> .. <c r="Z999999">: a cell past column Z, on row
# 1,000,000 or later, or not written plainly -- one search instead of two (0.085 s against 0.14 s).
_NOT_NARROW_RE = re.compile(rb'<c(?! r="[A-Z][0-9]{1,6}")[\s>/]')
NARROW_COLUMNS, NARROW_ROWS = 26, 999_999  # what that search lets through: A-Z, rows 1-999,999
_ODD_STYLE_ATTRS = (b"s='", b'\ts="', b'\ns="', b'\rs="')


def _prefixed_cell(part: bytes) -> re.Match[bytes] | None:
    if b":" not in part or not _COLON_C_RE.search(part):
        return None
    return _ODD_PREFIXED_RE.search(part)


def _odd_unprefixed(part: bytes) -> bool:
    return bool(_ODD_PLAIN_RE.search(part) or _prefixed_cell(part))


def _odd_style_attribute(part: bytes) -> bool:
    """A style attribute written another way than `` s="`` (single quotes, other whitespace); each byte
    is looked for first with one memchr, as it is absent from nearly every sheet."""
    return any(byte in part and odd in part for byte, odd in zip(b"'\t\n\r", _ODD_STYLE_ATTRS, strict=True))


def is_narrow(zf: zipfile.ZipFile, member: str) -> bool:
    """Whether every cell of the sheet is in columns A-Z and rows below 1,000,000, each with its
    reference written plainly: then calamine's grid is bounded, and it may parse the sheet while our own
    pass (:func:`scan_sheet`) reads the same XML in another thread."""
    carry = b""
    with zf.open(member) as fh:
        while True:
            chunk = fh.read(CHUNK)
            part = carry + chunk
            # A match in the last bytes of a chunk may be a tag cut short (``<c `` then `` r="`` in the
            # next chunk): it is decided in the next search, which starts with those bytes.
            edge = len(part) - _EDGE if chunk else len(part)
            for found in (_NOT_NARROW_RE.search(part), _prefixed_cell(part)):
                if found is not None and found.start() < edge:
                    return False
            if not chunk:
                return True
            carry = part[-_EDGE:]


_EDGE = 16


class _NeedsExpat(Exception):
    """The fast path cannot place every cell (no ``r`` attributes, or absurdly long elements)."""


class PartSink(typing.Protocol):
    """Takes the sheet's XML part by part as the pass reads it (:class:`bulkprov.io.xlsx.split.PieceCutter`)."""

    def feed(self, part: bytes, narrow: bool) -> None: ...
    def abandon(self) -> None: ...


def scan_sheet(zf: zipfile.ZipFile, member: str, styles: dict[int, Renderer], all_formulas: bool,
               sink: PartSink | None = None) -> SheetFacts:
    """The sheet's facts (``narrow`` as :func:`is_narrow` says); each part of the XML also goes to
    ``sink``, with whether its cells are narrow."""
    try:
        return _Fast(zf, member, styles, all_formulas, sink).run()
    except _NeedsExpat:
        if sink is not None:
            sink.abandon()
        return _expat_scan(zf, member, styles, all_formulas)


class _Fast:
    def __init__(self, zf: zipfile.ZipFile, member: str, styles: dict[int, Renderer], all_formulas: bool,
                 sink: PartSink | None = None) -> None:
        self.zf, self.member, self.styles, self.all_formulas = zf, member, styles, all_formulas
        self.facts = SheetFacts()
        self.wide = False
        self.sink = sink

    def _patterns(self, head: bytes) -> None:
        m = re.search(rb"<(\w+:)?worksheet\b", head)
        p = m.group(1) if m and m.group(1) else b""
        self.cell, self.close, self.row = b"<" + p + b"c", b"</" + p + b"c>", b"<" + p + b"row"
        e = re.escape(p)
        # Any cell tag that is not exactly <c r="... (no reference, another prefix than the root's, odd
        # spacing: legal XML that real writers do not produce) sends the sheet to the exact walk.
        self.odd_re = re.compile(rb"<(?!" + e + rb'c r=")(?:\w+:)?c[\s>/]')
        self.odd = self.odd_re.search if p else _odd_unprefixed
        self.plain = not p  # no root prefix: the usual cell tag is <c r="
        self.multi_re = re.compile(b"<" + e + rb'c r="(?:[A-Z]{2}|[A-Z][0-9]{7})')
        # Any length of letters and digits: a reference past Excel's last row or column (B999999933, a
        # damaged file) must count in the span, or calamine would allocate its rows and abort the process.
        self.ref_re = re.compile(b"<" + e + rb'c r="([A-Z]+)([0-9]+)"[^>]*?(/?)>')
        self.formula_re = re.compile(b"<" + e + rb"f[\s>/]")
        self.value_re = re.compile(b"<" + e + rb"v(?:\s[^>]*)?>([^<]*)</")
        self.ftext_re = re.compile(b"<" + e + rb"f(?:\s[^>]*)?>([^<]*)</")
        ids = sorted(self.styles)
        pattern = b"|".join(str(s).encode() for s in ids) if 0 < len(ids) <= 200 else rb"\d+"
        # A styled cell in one match (reference and style); every cell tag starts <c r=" here (odd_re),
        # and a styled one whose reference is not plain A1 form is counted by the second pattern.
        style = rb'"[^>]*?\ss=["\'](' + pattern + rb')["\']'
        self.styled_re = re.compile(b"<" + e + rb'c r="([A-Z]{1,3})([0-9]{1,7})' + style)
        self.styled_any_re = re.compile(b"<" + e + rb'c r="[^"]*' + style)
        self.columns: dict[bytes, int] = {}
        # How Excel, LibreOffice and XlsxWriter write a styled cell: the style right after the reference.
        self.usual_styled_re = re.compile(b"<" + e + rb'c r="([A-Z]{1,3})([0-9]{1,7})" s="([0-9]+)"')
        self.style_attr = b" s=\""

    def chunks(self):
        carry, first = b"", True
        with self.zf.open(self.member) as fh:
            while True:
                chunk = fh.read(CHUNK)
                if first:
                    self._patterns(chunk[:4096])
                    first = False
                data = carry + chunk
                if not chunk:
                    yield data
                    return
                end = data.rfind(self.close)
                cut = max(end + len(self.close) if end >= 0 else -1, data.rfind(self.row))
                if cut <= 0:
                    if len(data) > MAX_CARRY:
                        raise _NeedsExpat
                    carry = data
                    continue
                yield data[:cut]
                carry = data[cut:]

    def run(self) -> SheetFacts:
        narrow = True
        for part in self.chunks():
            if self.plain and not _NOT_NARROW_RE.search(part):  # each cell <c r="A1"> .. <c r="Z999999">
                if _prefixed_cell(part):
                    raise _NeedsExpat
                plain = True
            else:
                narrow = plain = False
                if self.odd(part):
                    raise _NeedsExpat  # a cell the fast path cannot place: walk the XML properly
                if not self.wide and self.multi_re.search(part):
                    self.wide = True
            if self.sink is not None:
                self.sink.feed(part, plain)
            if self.styles:
                self._styled(part)
            if self.formula_re.search(part):
                self._formulas(part)
        self.facts.narrow = narrow and self.plain
        if self.wide:
            self.facts.span = self._span()
        return self.facts

    def _styled(self, part: bytes) -> None:
        """Where the cells with a number format are. Usually one literal-led search does it: when it
        accounts for every style attribute of the chunk (no row styles, no other attribute order or
        quoting), nothing was missed; otherwise the chunk takes the exact search."""
        cells = self.usual_styled_re.findall(part)
        if len(cells) != part.count(self.style_attr) or _odd_style_attribute(part):
            return self._styled_exact(part)
        self._record(cells)

    def _styled_exact(self, part: bytes) -> None:
        cells = self.styled_re.findall(part)
        if len(cells) != len(self.styled_any_re.findall(part)):
            raise _NeedsExpat  # a styled cell whose reference the fast path cannot read
        self._record(cells)

    def _record(self, cells: list[tuple[bytes, bytes, bytes]]) -> None:
        """Note each (column letters, row number, style id) whose style has a number format.

        At C speed (``zip``, ``map``, ``dict.update``) when each row has one such cell, as when a
        column is formatted (zip codes, hire dates); one by one otherwise."""
        if not cells:
            return
        letters, numbers, ids = zip(*cells, strict=True)
        kinds = {key: self._mark(*key) for key in set(zip(letters, ids, strict=True))}
        marks = list(map(kinds.__getitem__, zip(letters, ids, strict=True)))
        rows = [int(n) - 1 for n in numbers]
        found = self.facts.styled
        if None not in marks and len(set(rows)) == len(rows) and found.keys().isdisjoint(rows):
            found.update(zip(rows, map(list, zip(marks, strict=True)), strict=True))
            return
        for row, mark in zip(rows, marks, strict=True):
            if mark is not None:
                found.setdefault(row, []).append(mark)

    def _mark(self, letters: bytes, style: bytes) -> tuple[int, Renderer] | None:
        """(column, renderer) of a cell in column ``letters`` with style ``style``, None when the
        style has no number format."""
        renderer = self.styles.get(int(style))
        return None if renderer is None else (column_number(letters.decode()) - 1, renderer)

    def _formulas(self, part: bytes) -> None:
        for m in self.formula_re.finditer(part):
            start = part.rfind(self.cell + b" ", 0, m.start())
            ref = self.ref_re.match(part, start) if start >= 0 else None
            end = part.find(self.close, m.start())
            if ref is None or end < 0:
                raise _NeedsExpat
            inner = part[ref.end():end]
            value = self.value_re.search(inner)
            tag = part[start:ref.end()]
            calculated = value is not None and (value.group(1).strip() != b"" or b't="str"' in tag)
            if calculated and not self.all_formulas:
                continue
            text = self.ftext_re.search(inner)
            formula = html.unescape(text.group(1).decode("utf-8", "replace")) if text else ""
            row0, col0 = int(ref.group(2)) - 1, column_number(ref.group(1).decode()) - 1
            self.facts.formulas.setdefault(row0, {})[col0] = shown_formula(formula)

    def _span(self) -> tuple[int, int] | None:
        """Exact rows x columns of the cells with a value (a second pass, wide sheets only)."""
        rows: list[int] = []
        cols: set[bytes] = set()
        for part in self.chunks():
            for letters, number, empty in self.ref_re.findall(part):
                if not empty:
                    cols.add(letters)
                    rows.append(int(number))
        if not rows:
            return None
        numbers = [column_number(c.decode()) for c in cols]
        return max(rows) - min(rows) + 1, max(numbers) - min(numbers) + 1


def shown_formula(formula: str) -> str:
    text = "=" + formula if formula else _("a shared formula")
    return text if len(text) <= FORMULA_SHOWN else text[:FORMULA_SHOWN - 1] + "…"


def _expat_scan(zf: zipfile.ZipFile, member: str, styles: dict[int, Renderer], all_formulas: bool) -> SheetFacts:
    """The exact walk, for sheets whose cells carry no ``r`` attribute."""
    facts = SheetFacts()
    pos = [-1, -1]  # current row, column (0-based)
    cell: dict[str, object] = {}
    bounds = [None, None, None, None]  # min row, max row, min col, max col of cells with a value

    def start(name: str, attrs: dict[str, str]) -> None:
        local = name.rsplit(":", 1)[-1]
        if local == "row":
            pos[0] = int(attrs["r"]) - 1 if attrs.get("r", "").isdigit() else pos[0] + 1
            pos[1] = -1
        elif local == "c":
            m = re.fullmatch(r"([A-Z]{1,3})([0-9]{1,7})", attrs.get("r", ""))
            if m:
                pos[0], pos[1] = int(m.group(2)) - 1, column_number(m.group(1)) - 1
            else:
                pos[1] += 1
            cell.clear()
            cell.update(t=attrs.get("t", ""), s=attrs.get("s", "0"), f=None, v=None, text=[])
        elif local in ("f", "v", "t") and cell:
            cell[local if local != "t" else "v"] = cell.get(local) or ""
            cell["text"] = []

    def chars(data: str) -> None:
        if cell:
            cell["text"].append(data)  # type: ignore[union-attr]

    def end(name: str) -> None:
        local = name.rsplit(":", 1)[-1]
        if local in ("f", "v") and cell:
            cell[local] = "".join(cell["text"])  # type: ignore[arg-type]
        elif local == "c" and cell:
            _finish(facts, styles, all_formulas, pos, cell, bounds)
            cell.clear()

    parser = xml.parsers.expat.ParserCreate()
    parser.StartElementHandler, parser.EndElementHandler, parser.CharacterDataHandler = start, end, chars
    with zf.open(member) as fh:
        parser.ParseFile(fh)
    if bounds[0] is not None:
        facts.span = (bounds[1] - bounds[0] + 1, bounds[3] - bounds[2] + 1)  # type: ignore[operator]
    return facts


def _finish(facts: SheetFacts, styles: dict[int, Renderer], all_formulas: bool, pos: list[int],
            cell: dict[str, object], bounds: list) -> None:
    row0, col0 = pos
    renderer = styles.get(int(cell["s"])) if str(cell["s"]).isdigit() else None  # type: ignore[arg-type]
    if renderer is not None:
        facts.styled.setdefault(row0, []).append((col0, renderer))
    value = cell.get("v")
    if cell.get("f") is not None and (all_formulas or not (value or cell["t"] == "str" and value is not None)):
        facts.formulas.setdefault(row0, {})[col0] = shown_formula(str(cell["f"]))
    if value is not None:
        for i, v in ((0, row0), (2, col0)):
            bounds[i] = v if bounds[i] is None else min(bounds[i], v)
            bounds[i + 1] = v if bounds[i + 1] is None else max(bounds[i + 1], v)
