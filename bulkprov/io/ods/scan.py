"""What an .ods file says that calamine does not: number styles, formulas never calculated, extents.

OpenDocument keeps a cell's number format as a *data style* (``<number:number-style>``,
``<number:date-style>``...) in ``styles.xml`` or ``content.xml``, named by the cell's style
(``table:style-name``), else by its row's or column's default cell style.  Each data style is turned
into the equivalent Excel format code and rendered by :mod:`bulkprov.io.shared.formats`, as LibreOffice
displays it (checked against LibreOffice's own "as shown" CSV export in the tests).

One walk over ``content.xml``'s tags (a regex tokenizer: ~10x faster than expat here) places every cell (repeats included) and finds the cells with a
format, the formulas without a value (odfpy writes ``table:formula`` alone), and the rectangle of
cells with a value: ``number-rows-repeated="1048576"`` on a row with a value would make the reader
allocate billions of cells, so the rectangle is checked before calamine opens the sheet.
"""

from __future__ import annotations

import html
import re
import xml.parsers.expat
import zipfile

from bulkprov.io.shared.base import SheetFacts
from bulkprov.io.shared.formats import Renderer, compile_format
from bulkprov.io.xlsx.scan import shown_formula

NUMBER_NS = "urn:oasis:names:tc:opendocument:xmlns:datastyle:1.0"
STYLE_NS = "urn:oasis:names:tc:opendocument:xmlns:style:1.0"
TABLE_NS = "urn:oasis:names:tc:opendocument:xmlns:table:1.0"
OFFICE_NS = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"
DATA_STYLES = {"number-style", "percentage-style", "currency-style", "date-style", "time-style", "text-style"}
FORMATTED_TYPES = {"float", "percentage", "currency", "date", "time"}
MAX_RECORDED = 1 << 20  # styled cells recorded one by one from a single repeated element


class _Styles:
    """Data styles (name -> Excel code, conditional maps) and cell styles (name -> data style)."""

    def __init__(self) -> None:
        self.codes: dict[str, str] = {}
        self.maps: dict[str, list[tuple[str, str]]] = {}
        self.cell_data: dict[str, str] = {}
        self.parents: dict[str, str] = {}
        self._current: str | None = None
        self._kind = ""
        self._parts: list[str] = []
        self._number: dict[str, str] | None = None
        self._embedded: list[tuple[int, str]] = []
        self._text: list[str] | None = None

    def start(self, name: str, attrs: dict[str, str]) -> None:
        ns, _, local = name.rpartition(" ")
        if ns == NUMBER_NS and local in DATA_STYLES:
            self._current, self._kind, self._parts = attrs.get(f"{STYLE_NS} name"), local, []
        elif ns == STYLE_NS and local == "style" and attrs.get(f"{STYLE_NS} family") == "table-cell":
            name = attrs.get(f"{STYLE_NS} name", "")
            data = attrs.get(f"{STYLE_NS} data-style-name")
            if data:
                self.cell_data[name] = data
            elif attrs.get(f"{STYLE_NS} parent-style-name"):
                self.parents[name] = attrs[f"{STYLE_NS} parent-style-name"]
        elif self._current is None:
            return
        elif ns == STYLE_NS and local == "map":
            self.maps.setdefault(self._current, []).append(
                (attrs.get(f"{STYLE_NS} condition", ""), attrs.get(f"{STYLE_NS} apply-style-name", "")))
        elif ns == NUMBER_NS:
            self._element(local, {k.rpartition(" ")[2]: v for k, v in attrs.items()})

    def _element(self, local: str, a: dict[str, str]) -> None:
        long = a.get("style") == "long"
        simple = {
            "day": "dd" if long else "d", "year": "yyyy" if long else "yy", "hours": "hh" if long else "h",
            "minutes": "mm" if long else "m", "day-of-week": "dddd" if long else "ddd", "am-pm": "AM/PM",
            "text-content": "@",
        }
        if local == "seconds":
            self._parts.append("ss" if long else "s")
        elif local == "month":
            textual = a.get("textual") == "true"
            self._parts.append(("mmmm" if long else "mmm") if textual else ("mm" if long else "m"))
        elif local in simple:
            code = simple[local]
            if local == "hours" and self._kind == "time-style" and a.get("truncate-on-overflow") == "false":
                code = f"[{code}]"
            self._parts.append(code)
        elif local == "number":
            self._number, self._embedded = a, []
        elif local == "embedded-text":
            self._embedded.append((int(a.get("position", "0") or 0), ""))
            self._text = []
        elif local in ("text", "currency-symbol"):
            self._text = []
        elif local in ("scientific-number", "fraction"):
            self._parts.append("\x00")  # not rendered: General instead

    def chars(self, data: str) -> None:
        if self._text is not None:
            self._text.append(data)

    def end(self, name: str) -> None:
        ns, _, local = name.rpartition(" ")
        if self._current is None or ns != NUMBER_NS:
            return
        if local in DATA_STYLES:
            code = "".join(self._parts)
            if self._kind == "percentage-style" and "%" not in code:
                code += "%"
            self.codes[self._current] = "General" if "\x00" in code else code
            self._current = None
        elif local == "embedded-text" and self._text is not None:
            pos, _ = self._embedded[-1]
            self._embedded[-1] = (pos, "".join(self._text))
            self._text = None
        elif local == "number" and self._number is not None:
            self._parts.append(_number_code(self._number, self._embedded))
            self._number = None
        elif local in ("text", "currency-symbol") and self._text is not None:
            text = "".join(self._text).replace('"', "")
            if self._kind == "percentage-style" and text.strip() == "%":
                self._parts.append(text)  # the percent sign itself: it multiplies by 100
            else:
                self._parts.append(f'"{text}"' if text else "")
            self._text = None

    def renderer(self, cell_style: str | None, cache: dict[str, Renderer | None]) -> Renderer | None:
        style, hops = cell_style or "", 0
        while style not in self.cell_data and style in self.parents and hops < 10:
            style, hops = self.parents[style], hops + 1  # a cell style inherits its parent's data style
        data = self.cell_data.get(style)
        if data is None:
            return None
        if data not in cache:
            cache[data] = compile_format(self.excel_code(data))
        return cache[data]

    def excel_code(self, data: str) -> str:
        own = self.codes.get(data, "General")
        conds = {re.sub(r"\s", "", c).replace("value()", ""): self.codes.get(t, "General")
                 for c, t in self.maps.get(data, [])}
        if set(conds) == {">=0"}:
            return f"{conds['>=0']};{own}"
        if {">0", "<0"} <= set(conds):
            return ";".join([conds[">0"], conds["<0"], conds.get("=0", conds[">0"]), own])
        return own


def _number_code(a: dict[str, str], embedded: list[tuple[int, str]]) -> str:
    digits = int(a.get("min-integer-digits", "1") or 0)
    decimals = int(a.get("decimal-places", "0") or 0)
    min_decimals = int(a.get("min-decimal-places", str(decimals)) or 0)
    whole = list("0" * digits) or ["#"]
    for position, text in sorted(embedded, reverse=True):  # from the left, so later positions stay right
        at = max(0, len(whole) - position) if position <= digits else 0
        whole.insert(at, f'"{text}"')
    code = "".join(whole)
    if a.get("grouping") == "true":
        code = "#," + code
    if decimals:
        code += "." + "0" * min_decimals + "#" * (decimals - min_decimals)
    return code


def read_styles(zf: zipfile.ZipFile) -> tuple[_Styles, bytes, int]:
    """The data and cell styles (styles.xml, content.xml's automatic styles); content.xml and where its body starts."""
    styles = _Styles()
    content = zf.read("content.xml")
    office = _prefix(content[:65536], OFFICE_NS)
    body = content.find(b"<" + office + b":body")
    if body < 0:
        raise ValueError("content.xml has no body")
    parts = [zf.read("styles.xml")] if "styles.xml" in zf.namelist() else []
    for data, final in [(p, True) for p in parts] + [(content[:body], False)]:
        parser = xml.parsers.expat.ParserCreate(namespace_separator=" ")
        parser.StartElementHandler, parser.EndElementHandler = styles.start, styles.end
        parser.CharacterDataHandler = styles.chars
        parser.Parse(data, final)
    return styles, content, body


def scan_content(zf: zipfile.ZipFile) -> dict[str, SheetFacts]:
    """Sheet name -> its facts (formatted cells, uncalculated formulas, rectangle of cells with a value)."""
    styles, content, body = read_styles(zf)
    head = content[:65536]
    walk = _Walk(styles, _prefix(head, TABLE_NS), _prefix(head, OFFICE_NS))
    walk.run(content, body)
    return walk.sheets


def _prefix(head: bytes, namespace: str) -> bytes:
    """The prefix content.xml binds to ``namespace`` on its root (``table``, ``office`` in every writer)."""
    m = re.search(rb'xmlns:([\w.-]+)\s*=\s*["\']' + re.escape(namespace.encode()) + rb'["\']', head)
    if m is None:
        raise ValueError(f"content.xml does not declare {namespace}")
    return m.group(1)


_ATTR_RE = re.compile(rb'([^\s=]+)\s*=\s*(?:"([^"]*)"|\'([^\']*)\')')


class _Walk:
    """A tokenizer over the tags that place cells (C-speed regex; attributes parsed only when present).

    The table namespace must be bound once, on the root (every writer does so); a file that binds it
    again elsewhere could hide cells from the tokenizer and is refused as damaged.
    """

    def __init__(self, styles: _Styles, prefix: bytes, office: bytes) -> None:
        self.styles = styles
        self.cache: dict[str, Renderer | None] = {}
        self.sheets: dict[str, SheetFacts] = {}
        self.facts = SheetFacts()
        self.bounds: list[int] = []
        self.columns: list[tuple[int, str | None, int]] = []  # (first column, default cell style, count)
        self.row, self.col, self.row_repeat, self.row_style = -1, 0, 1, None
        p = re.escape(prefix)
        self.p = prefix.decode() + ":"
        self.cell_keys = [b" " + prefix + b":" + k + b'="' for k in (
            b"number-columns-repeated", b"formula", b"style-name")] + [b" " + office + b':value-type="']
        self.value_type = office.decode() + ":value-type"
        self.tag_re = re.compile(b"<(/?)" + p + rb":(table|table-row|table-column|table-cell|covered-table-cell)"
                                 rb"((?:\s+[^\s=>/]+\s*=\s*(?:\"[^\"]*\"|'[^']*'))*)\s*(/?)>")

    def run(self, content: bytes, body: int) -> None:
        if content.count(TABLE_NS.encode()) > 1 or content.count(OFFICE_NS.encode()) > 1:
            raise ValueError("a namespace is bound more than once")
        depth = 0
        plain_string = self.cell_keys[-1] + b'string"'
        for m in self.tag_re.finditer(content, body):
            closing, name, attrs, empty = m.groups()
            if name == b"table":
                if closing:
                    depth -= 1
                    if depth == 0:
                        self._end_table()
                else:
                    depth += 1
                    if depth == 1:
                        self._start_table(self._attrs(attrs))
                continue
            if depth != 1:
                continue  # sub-tables inside cells are not sheet cells
            if name == b"table-row":
                if closing:
                    self.row += self.row_repeat - 1
                else:
                    a = self._attrs(attrs) if attrs else {}
                    self.row, self.col = self.row + 1, 0
                    self.row_repeat = _count(a.get(self.p + "number-rows-repeated"))
                    self.row_style = a.get(self.p + "default-cell-style-name")
                    if empty:
                        self.row += self.row_repeat - 1
            elif closing:
                continue
            elif name == b"table-column":
                a = self._attrs(attrs) if attrs else {}
                first = self.columns[-1][0] + self.columns[-1][2] if self.columns else 0
                count = _count(a.get(self.p + "number-columns-repeated"))
                self.columns.append((first, a.get(self.p + "default-cell-style-name"), count))
            elif attrs:
                if plain_string in attrs and b"repeated" not in attrs and b"formula" not in attrs:
                    # The common cell: one text value and nothing else to know but its place.
                    self._extend(self.row, self.row + self.row_repeat - 1, self.col, self.col)
                    self.col += 1
                else:
                    self._cell(self._cell_attrs(attrs))
            else:
                self.col += 1  # calamine, like LibreOffice, makes no cell of text without a value type

    @staticmethod
    def _attrs(text: bytes) -> dict[str, str]:
        return {k.decode(): html.unescape((a if b is None else b).decode("utf-8"))
                for k, a, b in ((m.group(1), m.group(2), m.group(3)) for m in _ATTR_RE.finditer(text))}

    def _cell_attrs(self, text: bytes) -> dict[str, str]:
        """The four attributes a cell needs, found by plain byte search (the common, fast case)."""
        if b" =" in text or b"= " in text or b"'" in text:
            return self._attrs(text)
        out: dict[str, str] = {}
        for key in self.cell_keys:
            i = text.find(key)
            if i >= 0:
                j = text.find(b'"', i + len(key))
                value = text[i + len(key):j].decode("utf-8")
                out[key[1:-2].decode()] = html.unescape(value) if "&" in value else value
        return out

    def _start_table(self, attrs: dict[str, str]) -> None:
        self.facts, self.bounds, self.columns, self.row = SheetFacts(), [], [], -1
        self.sheets[attrs.get(self.p + "name", "")] = self.facts

    def _end_table(self) -> None:
        if self.bounds:
            r0, r1, c0, c1 = self.bounds
            self.facts.span = (r1 - r0 + 1, c1 - c0 + 1)

    def _column_style(self, col: int) -> str | None:
        for first, style, count in self.columns:
            if first <= col < first + count:
                return style
        return None

    def _cell(self, attrs: dict[str, str]) -> None:
        p = self.p
        repeat = _count(attrs.get(p + "number-columns-repeated"))
        col, self.col = self.col, self.col + repeat
        kind = attrs.get(self.value_type)
        formula = attrs.get(p + "formula")
        if kind is None and formula is None:
            return
        rows = range(self.row, self.row + self.row_repeat)
        self._extend(rows.start, rows.stop - 1, col, col + repeat - 1)
        many = repeat * self.row_repeat > MAX_RECORDED
        if kind is None and formula is not None and not many:
            text = shown_formula(formula.split(":", 1)[-1].lstrip("="))
            for r in rows:
                cells = self.facts.formulas.setdefault(r, {})
                for c in range(col, col + repeat):
                    cells[c] = text
        if kind in FORMATTED_TYPES and not many:
            for c in range(col, col + repeat):
                style = attrs.get(p + "style-name") or self.row_style or self._column_style(c)
                renderer = self.styles.renderer(style, self.cache)
                if renderer is not None:
                    for r in rows:
                        self.facts.styled.setdefault(r, []).append((c, renderer))

    def _extend(self, r0: int, r1: int, c0: int, c1: int) -> None:
        b = self.bounds
        if not b:
            self.bounds = [r0, r1, c0, c1]
            return
        if r0 < b[0]:
            b[0] = r0
        if r1 > b[1]:
            b[1] = r1
        if c0 < b[2]:
            b[2] = c0
        if c1 > b[3]:
            b[3] = c1


def _count(text: str | None) -> int:
    if not text:
        return 1
    n = int(text)
    if n < 1:
        raise ValueError(f"a repeat count of {n}")
    return min(n, 1 << 24)
