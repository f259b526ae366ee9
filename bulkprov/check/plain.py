"""What is normalised before the checks, and how: NFKC only where it cannot change what a person means.

Keys (emails, orgUserIds), phones, zip codes and ids typed in full-width characters (a Japanese or Korean
keyboard left in full-width mode) are turned into their plain forms, each with a note for the Results
sheet; names and addresses are left as typed.  Keys then compare through :func:`bulkprov.model.match_key`.
"""

from __future__ import annotations

import re
import unicodedata

from bulkprov.errors import ROW_NOTES

# Text columns whose full-width digits, letters and spaces are turned into plain ones (NFKC), with a note:
# nothing a person means changes (names and addresses are left as written).
PLAIN_COLUMNS = frozenset({"companyContactPhone", "worknumber", "zip"})
# Full stops a Japanese or Korean keyboard types; IDNA reads them as dots between domain labels.
_IDEOGRAPHIC_STOPS = str.maketrans({"。": ".", "｡": ".", "．": "."})


def plain(value: str, column: str, notes: list[str]) -> str:
    """A key as the API must get it: full-width letters, digits and ``＠`` (a Japanese or Korean
    keyboard left in full-width mode) turned into their plain forms, with a note saying so."""
    if value.isascii():
        return value
    text = unicodedata.normalize("NFKC", value)
    if text != value:
        notes.append(ROW_NOTES["normalised"].render(column=column, before=value, after=text))
    return text


def plain_email(value: str) -> str:
    """:func:`plain` without the note (the caller notes it when the result is an address), and the
    ideographic full stops of the domain read as dots (IDNA's own rule)."""
    if value.isascii():
        return value
    text = unicodedata.normalize("NFKC", value)
    local, at, domain = text.rpartition("@")
    if at:
        text = local + at + domain.translate(_IDEOGRAPHIC_STOPS)
    return text


def plain_id(text: str, column: str, pattern, notes: list[str]) -> str:
    """An id typed in full-width characters (ｅ－０６ｂ…) in its plain form, when that form is an id."""
    if text.isascii():
        return text
    normal = unicodedata.normalize("NFKC", text)
    if normal != text and pattern.match(normal):
        notes.append(ROW_NOTES["normalised"].render(column=column, before=text, after=normal))
        return normal
    return text


def fold(name: str) -> str:
    """How a role, bot or group name compares with the lookup sheets: NFKC, case-folded."""
    return (name if name.isascii() else unicodedata.normalize("NFKC", name)).casefold()


# Scripts whose letters in an address are a keyboard left in Korean or Japanese mode, as words of a
# character's Unicode name: "HALFWIDTH KATAKANA LETTER TA" (ﾀ) and "HANGUL LETTER EO" (ㅓ) included.
_CJK_SCRIPTS = re.compile(r"\b(?:HANGUL|HIRAGANA|KATAKANA|CJK|IDEOGRAPHIC)\b")


def email_problem(written: str, email: str) -> tuple[str, dict[str, str]]:
    """Why an address is still invalid after normalising, in the user's terms (a message variant)."""
    stripped = written.rstrip()
    if email.endswith(".") and stripped[-1:] in ("。", "｡", "．"):
        return "trailing-dot", {"char": stripped[-1]}
    for ch in written:
        if not ch.isascii() and _CJK_SCRIPTS.search(unicodedata.name(ch, "")):
            return "non-ascii", {"char": ch}
    if written != email:
        return "full-width", {}
    return "", {}
