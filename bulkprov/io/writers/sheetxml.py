"""What the xlsx parts we write share: the XML declaration, escaping, a sheet's name as a formula quotes it,
and Excel's limit on a cell's text.  Used by the streaming writer (:mod:`bulkprov.io.writers.xlsxstream`) and its
charts (:mod:`bulkprov.io.writers.xlsxcharts`), each a part of the same Open XML package.
"""

from __future__ import annotations

XML = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
MAX_CELL = 32767  # Excel's limit on a cell's text, in UTF-16 code units


def escape_xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def attr(text: str) -> str:
    """Text as the value of an attribute in double quotes."""
    return escape_xml(text).replace('"', "&quot;")


def quoted_sheet(name: str) -> str:
    """A sheet's name as a formula or a defined name refers to it (quoted unless plain)."""
    return name if name.replace("_", "").isalnum() else "'" + name.replace("'", "''") + "'"


def fit(text: str) -> str:
    """``text`` cut to Excel's cell limit without splitting a character above U+FFFF."""
    if len(text) <= MAX_CELL // 2 or len(text.encode("utf-16-le", "surrogatepass")) // 2 <= MAX_CELL:
        return text
    units = 0
    for index, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > MAX_CELL:
            return text[:index]
    return text
