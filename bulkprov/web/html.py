"""HTML built on the server: every value escaped unless it is :class:`Markup` built here."""

from __future__ import annotations

import html
import string
from functools import cache
from pathlib import Path
from typing import Any

TEMPLATES = Path(__file__).with_name("templates")


class Markup(str):
    """HTML built here from escaped parts: :func:`render` inserts it as it is."""


def esc(value: Any) -> Markup:
    return value if isinstance(value, Markup) else Markup(html.escape("" if value is None else str(value)))


def join(parts: Any) -> Markup:
    return Markup("".join(esc(p) for p in parts))


def tag(name: str, content: Any = "", **attrs: Any) -> Markup:
    """``<name attrs>content</name>`` with every attribute value and the content escaped."""
    attributes = "".join(f' {k.rstrip("_").replace("_", "-")}="{esc(v)}"' for k, v in attrs.items() if v is not None)
    return Markup(f"<{name}{attributes}>{esc(content)}</{name}>")


@cache
def _template(name: str) -> string.Template:
    return string.Template((TEMPLATES / f"{name}.html").read_text(encoding="utf-8"))


def render(name: str, **values: Any) -> Markup:
    """Fill a template; every value is HTML-escaped unless it is :class:`Markup`."""
    return Markup(_template(name).substitute({k: esc(v) for k, v in values.items()}))


def options(choices: dict[str, str], selected: str) -> Markup:
    return join(tag("option", label, value=key, selected="selected" if key == selected else None)
                for key, label in choices.items())
