"""Sizes, durations, numbers and dates the way people read them, in every language: the one home for formats.

Two audiences, one rounding each:

* messages of the ``bulkprov`` domain (the command line, the workbooks, the logs): :func:`human_size`,
  :func:`format_duration` and :func:`clock_duration` word their units through gettext (``12 s``, ``3.4 MB``);
* the page and the Summary sheet: :func:`number`, :func:`size`, :func:`duration`, :func:`format_datetime` and
  :func:`when` in the reader's locale through Babel's CLDR data (``1,234``, ``333바이트``, ``12秒``).

Babel is imported where it is used, so ``--help`` and English runs never load it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from bulkprov import i18n
from bulkprov.i18n import gettext as _

# -- the rounding every format shares ---------------------------------------------------------------------------


def _scaled(n: float) -> tuple[float, str]:
    """A byte count of 1024 or more as (value, KB/MB/GB)."""
    for unit in ("KB", "MB", "GB"):
        n /= 1024
        if n < 1024 or unit == "GB":
            break
    return n, unit


def _duration_unit(seconds: float) -> tuple[float, str]:
    """Rounded for a plan or an ETA: seconds under 90 s, minutes under 90 min, else hours to a tenth."""
    if seconds < 90:
        return max(1, round(seconds)), "second"
    if seconds < 5400:
        return round(seconds / 60), "minute"
    return round(seconds / 3600, 1), "hour"


def _locale(lang: str | None) -> str:
    return i18n.LOCALES[i18n.pick(lang) if lang else i18n.current()]


# -- the bulkprov domain's words ---------------------------------------------------------------------------------


def human_size(n: float) -> str:
    """A byte count for people: 812 bytes, 3.4 MB, 2 GB."""
    if n < 1024:
        return _("{n} bytes").format(n=f"{n:.0f}")
    value, unit = _scaled(n)
    return f"{value:.1f} {unit}" if value < 10 else f"{value:.0f} {unit}"


def format_duration(seconds: float) -> str:
    """Rounded for a plan or an ETA: ``12 s``, ``14 min``, ``2.5 h``."""
    value, unit = _duration_unit(seconds)
    if unit == "second":
        return _("{n} s").format(n=value)
    if unit == "minute":
        return _("{n} min").format(n=value)
    return _("{n} h").format(n=f"{seconds / 3600:.1f}")


def clock_duration(seconds: float) -> str:
    """For a progress line: ``45s``, ``3m05s``."""
    seconds = int(seconds)
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


# -- the reader's locale (Babel) ---------------------------------------------------------------------------------


def number(value: Any, lang: str | None = None) -> str:
    """``12,345`` in the reader's locale (Babel's decimal format)."""
    from babel.numbers import format_decimal

    return format_decimal(value, locale=_locale(lang))


format_number = number  # the name the library's callers know


def size(n: float, lang: str | None = None) -> str:
    """A byte count as :func:`human_size` rounds it, in the reader's locale: 333바이트, 3.4 MB."""
    from babel.numbers import format_decimal
    from babel.units import format_unit

    locale = _locale(lang)
    if n < 1024:
        return format_unit(round(n), "digital-byte", length="long", locale=locale)
    value, unit = _scaled(n)
    return f"{format_decimal(round(value, 1) if value < 10 else round(value), locale=locale)} {unit}"


def duration(seconds: float, lang: str | None = None) -> str:
    """An ETA rounded as :func:`format_duration` rounds it: ``12 s`` in English (the command line's wording),
    ``12초`` and ``12 秒`` in Korean and Japanese (Babel's units)."""
    from babel.units import format_unit

    if (i18n.pick(lang) if lang else i18n.current()) == i18n.DEFAULT:
        return format_duration(seconds)
    value, unit = _duration_unit(seconds)
    return format_unit(value, f"duration-{unit}", length="short", locale=_locale(lang))


def format_datetime(value: dt.datetime, lang: str | None = None) -> str:
    """A date and time as people of the language write it (Babel's medium format)."""
    from babel.dates import format_datetime as babel_format

    return babel_format(value, format="medium", locale=_locale(lang))


def when(value: Any, lang: str | None = None) -> str:
    """An ISO timestamp as the reader's locale writes a date and time, in the server's time zone."""
    if not value:
        return ""
    try:
        moment = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if moment.tzinfo is not None:
        moment = moment.astimezone().replace(tzinfo=None)
    return format_datetime(moment, lang)
