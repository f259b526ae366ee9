"""Invisible characters: control, format (bidi, zero-width), surrogate and separator characters.

Text pasted from a web page, a chat or a PDF can carry characters nobody sees: a right-to-left
override (U+202E) makes ``moc.elpmaxe@nhoj`` display as ``john@example.com``; a NUL or a zero-width
space makes two equal-looking emails differ.  The validator refuses them in keys and ids and removes
them from names (with a note); messages show them as ``U+202E RIGHT-TO-LEFT OVERRIDE``.
"""

from __future__ import annotations

import re
import unicodedata

# Unicode categories no person types on purpose in a roster: controls (Cc), format characters (Cf:
# bidi controls, zero-width characters, soft hyphen...), lone surrogates (Cs), line/paragraph separators.
INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_ASCII_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_NAMES = {0: "NULL", 9: "CHARACTER TABULATION", 10: "LINE FEED", 13: "CARRIAGE RETURN", 0x7F: "DELETE"}
JOINERS = frozenset("\u200c\u200d")  # needed inside words of some scripts (Persian, Indic, emoji)
BREAKS = frozenset("\t\n\r\x0b\x0c\x85\u2028\u2029")


def invisible(value: str, allow: frozenset[str] = frozenset()) -> list[tuple[int, str]]:
    """(0-based position, character) of each invisible character of ``value`` not in ``allow``."""
    if value.isascii():
        return [(m.start(), m.group()) for m in _ASCII_CONTROL_RE.finditer(value) if m.group() not in allow]
    return [(i, ch) for i, ch in enumerate(value)
            if ch not in allow and unicodedata.category(ch) in INVISIBLE_CATEGORIES]


def describe(ch: str) -> str:
    """``U+202E RIGHT-TO-LEFT OVERRIDE``; controls without a Unicode name get their usual one."""
    code = ord(ch)
    name = unicodedata.name(ch, "") or _CONTROL_NAMES.get(code) or (
        "SURROGATE" if 0xD800 <= code <= 0xDFFF else "CONTROL CHARACTER")
    return f"U+{code:04X} {name}"


def shown(ch: str) -> str:
    """How a message shows a character nobody can see: ``<U+202E>``."""
    return f"<U+{ord(ch):04X}>"


def visible(text: str) -> str:
    """``text`` with each invisible character shown as ``<U+200F>`` (for headers in messages)."""
    found = invisible(text)
    if not found:
        return text
    out, last = [], 0
    for i, ch in found:
        out.append(text[last:i] + shown(ch))
        last = i + 1
    return "".join(out) + text[last:]


def without_invisible(value: str) -> tuple[str, list[str]]:
    """``value`` with invisible characters removed (line breaks and tabs become one space), and what went.

    A zero-width joiner or non-joiner between two letters outside ASCII stays: scripts such as
    Persian and Devanagari spell words with it.
    """
    found = invisible(value)
    if not found:
        return value, []
    removed: list[str] = []
    out: list[str] = []
    last = 0
    for i, ch in found:
        out.append(value[last:i])
        last = i + 1
        if ch in JOINERS and 0 < i < len(value) - 1 and _letter(value[i - 1]) and _letter(value[i + 1]):
            out.append(ch)
            continue
        if ch in BREAKS:
            out.append(" ")
        removed.append(describe(ch))
    out.append(value[last:])
    clean = re.sub(r" {2,}", " ", "".join(out)).strip()
    return clean, list(dict.fromkeys(removed))


def _letter(ch: str) -> bool:
    return not ch.isascii() and ch.isalpha()


_ESCAPES = {"\r": "\\r", "\n": "\\n", "\t": "\\t"}


def printable(text: object) -> str:
    """``text`` safe to print on a terminal: CR, LF and tab as ``\\r`` ``\\n`` ``\\t``, every other
    control or format character (ESC, a bidi override) as ``<U+001B>``, so a name or a file name can
    neither move the cursor nor rewrite what was printed before it."""
    value = str(text)
    if value.isprintable():
        return value
    return visible("".join(_ESCAPES.get(ch, ch) for ch in value))
