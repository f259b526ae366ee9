"""The reader's language: gettext catalogs (managed with Babel), chosen per run or per request.

The language is a context variable, so the CLI sets it once and the page sets it per request (and
the run thread it starts inherits it).  Catalogs load lazily: ``bulkprov --help`` reads none.

Two gettext domains live in ``bulkprov/locale/<lang>/LC_MESSAGES/``: ``bulkprov`` (every string
outside ``bulkprov/web/``: messages, workbooks, the CLI) and ``web`` (the page's own words).
:func:`gettext` reads the ``bulkprov`` domain; :func:`translations` gives both merged, as a Babel
``Translations`` object for template engines.  ``make catalogs`` extracts, updates and compiles them.
"""

from __future__ import annotations

import contextlib
import contextvars
import gettext as _gettext
from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # Babel is imported only when a catalog or a format is needed (fast --help)
    from babel.support import NullTranslations

LANGUAGES = ("en", "ko", "ja")
DEFAULT = "en"
DOMAIN = "bulkprov"
DOMAINS = ("bulkprov", "web")
LOCALE_DIR = Path(__file__).with_name("locale")
# The Babel locale of each language (numbers and dates in the Summary and on the page).
LOCALES = {"en": "en_US", "ko": "ko_KR", "ja": "ja_JP"}
_current: contextvars.ContextVar[str] = contextvars.ContextVar("bulkprov_lang", default=DEFAULT)


def set_language(lang: str | None) -> str:
    """Use ``lang`` (en, ko, ja; a locale like ``ko_KR.UTF-8`` works too) from now on in this context."""
    chosen = pick(lang)
    _current.set(chosen)
    return chosen


def current() -> str:
    return _current.get()


@contextlib.contextmanager
def using(lang: str | None) -> Iterator[str]:
    """Speak ``lang`` inside the block (None: keep the current language); the previous one after it."""
    if not lang:
        yield current()
        return
    token = _current.set(pick(lang))
    try:
        yield _current.get()
    finally:
        _current.reset(token)


def gettext_in(lang: str, text: str) -> str:
    """``text`` in ``lang`` whatever the current language (labels read back in any language)."""
    with using(lang):
        return gettext(text)


def pick(lang: str | None) -> str:
    """The supported language for a tag such as ``ko``, ``ja-JP`` or ``ko_KR.UTF-8``; English otherwise."""
    if not lang:
        return DEFAULT
    base = lang.replace("-", "_").split(".")[0].split("_")[0].lower()
    return base if base in LANGUAGES else DEFAULT


def from_environment(environ: dict[str, str]) -> str:
    """The language the POSIX locale variables ask for (LC_ALL, then LC_MESSAGES, then LANG)."""
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = environ.get(name)
        if value:
            return pick(value)
    return DEFAULT


# Languages whose catalogs this process has read (tests assert ``--help`` reads none).
LOADED: set[str] = set()


@cache
def _catalog(lang: str) -> _gettext.NullTranslations:
    """The ``bulkprov`` domain for ``lang`` (stdlib reader: no Babel import on the message path)."""
    if lang == DEFAULT:
        return _gettext.NullTranslations()
    LOADED.add(lang)
    try:
        return _gettext.translation(DOMAIN, localedir=LOCALE_DIR, languages=[lang])
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


def pgettext(context: str, text: str) -> str:
    """A short word whose translation depends on where it stands (``pgettext("sheet", "Summary")``)."""
    lang = _current.get()
    return text if lang == DEFAULT else _catalog(lang).pgettext(context, text)


_ = gettext


def translations(lang: str | None = None, domains: Iterable[str] = DOMAINS) -> NullTranslations:
    """Babel ``Translations`` for ``lang`` (default: the current language) with ``domains`` merged.

    For template engines (Jinja2's i18n extension): one object whose ``gettext``/``ngettext`` find a
    message in any of the domains (a later domain wins on the same msgid).  A missing catalog is
    skipped, so this works before the ``web`` domain exists; English gives the msgids back.
    """
    return _merged(pick(lang) if lang else current(), tuple(domains))


@cache
def _merged(lang: str, domains: tuple[str, ...]) -> NullTranslations:
    from babel.support import Translations

    merged: NullTranslations = Translations(domain=domains[0] if domains else DOMAIN)
    if lang == DEFAULT:
        return merged
    LOADED.add(lang)
    for domain in domains:
        found = Translations.load(str(LOCALE_DIR), [lang], domain)
        if isinstance(found, Translations):
            merged.merge(found)
            merged.plural = found.plural  # merge keeps the empty start's English rule; ko and ja have one form
    return merged
