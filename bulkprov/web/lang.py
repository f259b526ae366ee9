"""The page's language: which one a request gets, the page's catalogs (gettext domain ``web``), locale formats.

A request's language is, in order: the one chosen on the page and kept in the session, a ``?lang=``
link (the login page's switch; it stores nothing), the browser's ``Accept-Language``, English.  The
middleware sets it with :func:`bulkprov.i18n.set_language` (a context variable), so the library's
messages (domain ``bulkprov``) come out in the same language, and a run's thread inherits it.

The page's own words -- templates and ``web/`` Python -- live in domain ``web``
(``bulkprov/locale/{ko,ja}/LC_MESSAGES/web.po``, ``make catalogs-web``).  Python marks them with
:func:`_` (now) or :func:`N_` (a table translated when shown); templates with ``_()``/``ngettext()``
and ``%(name)s`` placeholders (Jinja2's newstyle gettext), Python with ``{name}``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from babel import support

from bulkprov import i18n

DOMAIN = "web"
LANGUAGES = i18n.LANGUAGES
NAMES = {"en": "English", "ko": "한국어", "ja": "日本語"}  # each in its own language: never translated
LOCALE_DIR = Path(i18n.__file__).with_name("locale")


def N_(text: str) -> str:
    """Mark a string of the page for extraction; it is translated where it is shown (:func:`_`)."""
    return text


def translations(lang: str) -> support.NullTranslations:
    """Domains ``bulkprov`` and ``web`` merged for ``lang`` (the page's own wording wins on a clash);
    a missing catalog is no translation, not an error."""
    return i18n.translations(lang, ("bulkprov", DOMAIN))


def _(text: str) -> str:
    """``text`` in the request's language."""
    return translations(i18n.current()).gettext(text)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(i18n.current()).ngettext(singular, plural, n)


class _Params(dict):
    def __missing__(self, key: str) -> str:
        return "?"


def text(template: str, /, **params: Any) -> str:
    """A ``{name}`` template in the request's language, filled (a broken translation falls back to English)."""
    values = _Params(params)
    try:
        return _(template).format_map(values)
    except (ValueError, IndexError, AttributeError):
        return template.format_map(values)


# -- which language -----------------------------------------------------------------------------------------

_RANGE = re.compile(r"^\s*([A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*|\*)\s*(?:;\s*q\s*=\s*([0-9.]{1,5}))?\s*$")


def from_accept_language(header: str | None) -> str | None:
    """The supported language the browser prefers most (RFC 9110 quality values), or None."""
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate((header or "")[:1000].split(",")[:50]):
        match = _RANGE.match(item)
        if not match:
            continue
        try:
            quality = float(match.group(2)) if match.group(2) else 1.0
        except ValueError:
            continue
        base = match.group(1).split("-")[0].lower()
        if quality > 0 and base in LANGUAGES:
            ranked.append((-quality, position, base))
    return min(ranked)[2] if ranked else None


def supported(lang: Any) -> str | None:
    """``lang`` when it names a language of the page exactly (a form field, a link), else None."""
    return lang if isinstance(lang, str) and lang in LANGUAGES else None


def choose(chosen: str | None, link: str | None, accept: str | None) -> str:
    return supported(chosen) or supported(link) or from_accept_language(accept) or i18n.DEFAULT


# -- formats: bulkprov.units (number, when, size, duration), one home for every language

