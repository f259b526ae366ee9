"""The reader's language: gettext catalogs (managed with Babel), chosen per run or per request.

The language is a context variable, so the CLI sets it once and the page sets it per request (and
the run thread it starts inherits it).  Catalogs load lazily: ``bulkprov --help`` reads none.
"""

from __future__ import annotations

import contextvars
import gettext as _gettext
from functools import cache
from pathlib import Path

LANGUAGES = ("en", "ko", "ja")
DEFAULT = "en"
_LOCALE_DIR = Path(__file__).with_name("locale")
_current: contextvars.ContextVar[str] = contextvars.ContextVar("bulkprov_lang", default=DEFAULT)


def set_language(lang: str | None) -> str:
    """Use ``lang`` (en, ko, ja; a locale like ``ko_KR.UTF-8`` works too) from now on in this context."""
    chosen = pick(lang)
    _current.set(chosen)
    return chosen


def current() -> str:
    return _current.get()


def pick(lang: str | None) -> str:
    """The supported language for a tag such as ``ko``, ``ja-JP`` or ``ko_KR.UTF-8``; English otherwise."""
    if not lang:
        return DEFAULT
    base = lang.replace("-", "_").split(".")[0].split("_")[0].lower()
    return base if base in LANGUAGES else DEFAULT


@cache
def _catalog(lang: str) -> _gettext.NullTranslations:
    if lang == DEFAULT:
        return _gettext.NullTranslations()
    try:
        return _gettext.translation("bulkprov", localedir=_LOCALE_DIR, languages=[lang])
    except OSError:
        return _gettext.NullTranslations()


def gettext(text: str) -> str:
    lang = _current.get()
    return text if lang == DEFAULT else _catalog(lang).gettext(text)


def ngettext(singular: str, plural: str, n: int) -> str:
    lang = _current.get()
    if lang == DEFAULT:
        return singular if n == 1 else plural
    return _catalog(lang).ngettext(singular, plural, n)


_ = gettext
