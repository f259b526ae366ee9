"""The header row, the data rows and the lookup sheets, shared by text files and workbooks.

The header row is the first non-empty row.  Headers match :mod:`bulkprov.schema` columns case-,
space-, ``_``- and ``-``-insensitively, with aliases.  In a roster, a header that looks like a misspelt
column (:func:`bulkprov.schema.near_miss`) stops the file (``misspelt-column``): its data would otherwise
be dropped without a word; any other unknown column is a notice.  Headers the caller asks to ignore are
left unread, whatever they say.  *Columns are positions*: ``cells[i]`` is column ``column_letter(i)`` of the sheet
(A = 0), also when the data starts further right, so every module can name the column a user must
fix.  Trailing blank headers are dropped; cells beyond the last header are ignored, missing ones
are "".  Lookup sheets (Roles, Bots, Groups) map names to ids.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from pathlib import Path

from bulkprov import schema
from bulkprov.chars import visible, without_invisible
from bulkprov.errors import (
    DuplicateColumn,
    FileEmpty,
    InputError,
    InputWarning,
    MissingColumn,
    MisspeltColumn,
    NoDataRows,
    NoHeader,
    SheetTooWide,
    TooManyRows,
    render,
    warning,
)
from bulkprov.io.shared.base import WS, LoaderLimits, Lookup, RawRow, Table, column_letter
from bulkprov.schema import Column


def build_table(
    path: Path, rows: Iterator[tuple[int, list[str]]], limits: LoaderLimits,
    required_any: tuple[str, ...], warnings: list[InputWarning], *, fmt: str, sheet: str | None,
    encoding: str | None, delimiter: str | None, lookups: dict[str, dict[str, str]],
    last_row: int | None, where: str, ignore: tuple[str, ...] = (), about: dict[str, str] | None = None,
) -> Table:
    first = next(rows, None)
    if first is None:
        raise FileEmpty("blank", path=path, where=where)
    header_row, header_cells = first
    headers = _trim_trailing(header_cells)
    if len(headers) > limits.max_columns:
        raise SheetTooWide("header", path=path, count=len(headers), limit=limits.max_columns)
    columns = _match_headers(path, headers, warnings, ignore, roster=bool(required_any))
    if required_any and not any(c is not None and c.name in required_any for c in columns):
        raise _missing_column(path, headers, header_row, columns, required_any, rows)
    if last_row is not None and last_row - header_row > limits.max_rows:
        raise _too_many_rows(path, last_row - header_row, limits)
    data = _data_rows(path, rows, header_row, len(headers), limits)
    peek = next(data, None)
    if peek is None:
        raise NoDataRows(path=path, where=where, header_row=header_row)
    return Table(
        path=path, format=fmt, sheet=sheet, encoding=encoding, delimiter=delimiter, header_row=header_row,
        headers=headers, columns=columns, warnings=warnings, lookups=lookups,
        rows=itertools.chain([peek], data), about=dict(about or {}),
    )


def _trim_trailing(cells: list[str]) -> list[str]:
    end = len(cells)
    while end and not cells[end - 1]:
        end -= 1
    return cells[:end]


def _match_headers(path: Path, headers: list[str], warnings: list[InputWarning], ignore: tuple[str, ...] = (),
                   *, roster: bool = True) -> list[Column | None]:
    columns: list[Column | None] = []
    where: dict[str, int] = {}
    ignored = {schema.normalize_header(without_invisible(h)[0]) for h in ignore}
    misspelt: list[str] = []  # "column C ('Frist Name') looks like firstName misspelt", one per header
    misspelt_headers: list[str] = []
    for i, text in enumerate(headers):
        clean, removed = without_invisible(text) if text and not text.isprintable() else (text, [])
        if clean and schema.normalize_header(clean) in ignored:
            warnings.append(warning("ignored-column", header=visible(text), letter=column_letter(i)))
            columns.append(None)
            continue
        col = schema.match_header(clean) if clean else None
        if removed and col is not None:
            warnings.append(warning("invisible-header", header=visible(text), letter=column_letter(i),
                                    chars=", ".join(removed), column=col.name))
        if col is None:
            near = schema.near_miss(clean) if roster and clean else None
            if near is not None:
                misspelt_headers.append(text)
                misspelt.append(render(MisspeltColumn.template_for("one"), {
                    "letter": column_letter(i), "header": text, "column": near[0].name, "expected": near[1]}))
            elif text and schema.normalize_header(text) not in schema.RESULT_HEADERS:
                warnings.append(_unknown_column(text, i))
        elif col.name in where:
            j = where[col.name]
            raise DuplicateColumn(path=path, first=column_letter(j), first_header=visible(headers[j]),
                                  second=column_letter(i), second_header=visible(text), column=col.name)
        else:
            where[col.name] = i
        columns.append(col)
    if misspelt:
        raise MisspeltColumn(path=path, found="; ".join(misspelt), headers=misspelt_headers)
    return columns


def _unknown_column(text: str, index: int) -> InputWarning:
    suggestion = schema.suggest_header(text)
    return warning("unknown-column", "suggest" if suggestion else "", header=visible(text),
                   letter=column_letter(index), suggestion=suggestion)


def _missing_column(
    path: Path, headers: list[str], header_row: int, columns: list[Column | None],
    required_any: tuple[str, ...], rows: Iterator[tuple[int, list[str]]],
) -> InputError:
    if all(c is None for c in columns) and any("@" in h or h.replace(".", "").isdigit() for h in headers):
        return NoHeader(path=path, row=header_row)
    for number, cells in itertools.islice(rows, 10):
        if any((c := schema.match_header(text)) is not None and c.name in required_any for text in cells):
            return MissingColumn("header-below", path=path, row=number)
    accepted = "; ".join(f"{name} (or {', '.join(_names(schema.BY_NAME[name]))})"
                         for name in required_any if name in schema.BY_NAME)
    found = ", ".join(f"'{visible(h)}'" for h in headers if h) or "—"
    return MissingColumn(path=path, row=header_row, required=" or ".join(required_any), found=found,
                         accepted=accepted)


def _names(column: Column) -> tuple[str, ...]:
    """The other headers of a column, the reader's language's first (이메일, メールアドレス)."""
    from bulkprov.i18n import current

    local = {"ko": column.ko, "ja": column.ja}.get(current(), ())
    return (*local, *column.aliases)


def _too_many_rows(path: Path, count: int, limits: LoaderLimits) -> InputError:
    return TooManyRows(path=path, count=count, limit=limits.max_rows)


def _data_rows(
    path: Path, rows: Iterator[tuple[int, list[str]]], header_row: int, width: int, limits: LoaderLimits,
) -> Iterator[RawRow]:
    last_allowed = header_row + limits.max_rows
    for number, cells in rows:
        if number > last_allowed:
            raise _too_many_rows(path, number - header_row, limits)
        n = len(cells)
        formulas = getattr(cells, "uncalculated", None)
        if formulas is not None:
            formulas = {i: f for i, f in formulas.items() if i < width} or None
        if n > width:
            del cells[width:]
            if not any(cells) and not formulas:
                continue
        elif n < width:
            cells.extend([""] * (width - n))
        yield RawRow(number, cells, formulas)


def read_lookup_rows(kind: str, rows: Iterator[tuple[int, list[str]]], warnings: list[InputWarning]) -> Lookup:
    """name (trimmed, casefolded) -> id from a lookup sheet's rows (its header first); a ``host`` column says
    which account each id belongs to (:attr:`Lookup.hosts`)."""
    name_col, id_col, pattern = schema.LOOKUP_SHEETS[kind]
    first = next(rows, None)
    if first is None:
        return Lookup()
    header = [schema.normalize_header(h) for h in first[1]]
    singular = kind[:-1].lower()
    name_i = _index_of(header, (name_col.lower(), f"{singular}name"))
    id_i = _index_of(header, (schema.normalize_header(id_col), "id"))
    if name_i is None or id_i is None:
        warnings.append(warning("lookup-sheet", "columns", kind=kind, name_col=name_col, id_col=id_col))
        return Lookup()
    host_i = _index_of(header, ("host",))
    note_i = _index_of(header, ("note",))
    table = Lookup()
    seen: dict[str, int] = {}
    for number, cells in rows:
        name = cells[name_i].strip(WS) if name_i < len(cells) else ""
        ident = cells[id_i].strip(WS) if id_i < len(cells) else ""
        if not name and not ident:
            continue
        example = note_i is not None and note_i < len(cells) and bool(cells[note_i].strip(WS)) \
            and ident in schema.TEMPLATE_EXAMPLE_IDS  # the template's example, marked as one: no account's id
        problem = _lookup_problem(kind, number, name, ident, id_col, pattern)
        if problem:
            warnings.append(problem)
            continue
        key = name.casefold()
        if key in table and table[key] != ident:
            warnings.append(warning("lookup-sheet", "twice", kind=kind, row=number, name=name, first=seen[key]))
            continue
        table.setdefault(key, ident)
        seen.setdefault(key, number)
        host = cells[host_i].strip(WS) if host_i is not None and host_i < len(cells) else ""
        if example:
            host = schema.EXAMPLE_HOST
        if host:
            table.hosts.setdefault(key, host)
    return table


def _lookup_problem(kind: str, number: int, name: str, ident: str, id_col: str,
                    pattern: re.Pattern[str]) -> InputWarning | None:
    if not name:
        return warning("lookup-sheet", "no-name", kind=kind, row=number, ident=ident)
    if not ident:
        return warning("lookup-sheet", "no-id", kind=kind, row=number, name=name, id_col=id_col)
    if not pattern.match(ident):
        return warning("lookup-sheet", "bad-id", kind=kind, row=number, ident=ident, name=name, id_col=id_col)
    return None


def _index_of(keys: list[str], wanted: tuple[str, ...]) -> int | None:
    for w in wanted:
        if w in keys:
            return keys.index(w)
    return None
