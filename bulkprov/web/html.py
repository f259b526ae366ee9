"""The page's HTML: Jinja2 templates in ``templates/``, autoescaped, translated with the i18n extension.

One environment per language, each with that language's catalogs installed (newstyle gettext: a
placeholder's value is escaped like any other).  Every value reaches the page through a template,
so nothing is escaped by hand; :class:`~markupsafe.Markup` is only ever made by Jinja2 itself.
Undefined names are errors (``StrictUndefined``): a template that asks for a value the handler did
not give fails its test instead of printing nothing.
"""

from __future__ import annotations

import functools
import re
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup, escape

from bulkprov import __version__, i18n, units
from bulkprov.chars import shown
from bulkprov.web import lang as lang_

TEMPLATES = Path(__file__).with_name("templates")
# Bidi embeddings, overrides and isolates: escaped text still obeys them, so a file name, a cell, an
# OIDC name or an approval comment holding U+202E would flip the sentence it sits in on screen.
_BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")


def show_bidi_controls(value: Any) -> Any:
    """Every value a template prints, with bidi controls shown as ``<U+202E>`` instead of obeyed."""
    if not isinstance(value, str) or value.isascii() or not _BIDI_CONTROLS.search(value):
        return value
    if isinstance(value, Markup):  # already escaped (a translated sentence with a placeholder filled)
        return Markup(_BIDI_CONTROLS.sub(lambda m: str(escape(shown(m.group()))), str(value)))
    return _BIDI_CONTROLS.sub(lambda m: shown(m.group()), value)


@cache
def environment(lang: str) -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             extensions=["jinja2.ext.i18n"], undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True, auto_reload=False, finalize=show_bidi_controls)
    env.policies["ext.i18n.trimmed"] = True  # {% trans %} blocks: line breaks in a template are not in the msgid
    env.install_gettext_translations(lang_.translations(lang), newstyle=True)
    env.filters.update({name: functools.partial(getattr(units, name), lang=lang) for name in ("number", "when", "size")})
    env.globals.update(lang=lang, languages=lang_.NAMES, version=__version__)
    return env


def render(name: str, /, **context: Any) -> str:
    """``templates/NAME`` in the request's language."""
    return environment(i18n.current()).get_template(name).render(**context)
