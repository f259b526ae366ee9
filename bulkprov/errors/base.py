"""The machinery of declared errors: templates rendered in the reader's language, the base class."""

from __future__ import annotations

import string
from collections.abc import Mapping
from typing import Any, ClassVar


def N_(text: str) -> str:
    """Mark a template for translation (Babel extracts ``N_`` calls); returns it unchanged."""
    return text


def _translate(text: str) -> str:
    from bulkprov import i18n

    return i18n.gettext(text)


def render(template: str, params: Mapping[str, Any]) -> str:
    """The template in the current language, filled with ``params`` (missing ones show as ``?``).

    Text parameters come from files (a sheet name, a sample line): their control and invisible
    characters are shown as ``<U+000B>`` so a message stays one honest line.
    """
    from bulkprov.chars import visible

    text = _translate(template)
    safe = _Params({k: visible(v) if isinstance(v, str) else v for k, v in params.items()})
    try:
        return text.format_map(safe)
    except (ValueError, IndexError):  # a broken translation must never cost the message
        return template.format_map(safe)


class _Params(dict):
    def __missing__(self, key: str) -> str:
        return "?"


def template_fields(template: str) -> set[str]:
    """The named parameters a template uses."""
    return {name.split(".")[0].split("[")[0] for _, name, _, _ in string.Formatter().parse(template) if name}


class Declared:
    """A code with a description and message templates, declared on the class.

    ``templates`` maps a variant name to a template; ``template`` is the default variant ("").
    """

    code: ClassVar[str] = ""
    description: ClassVar[str] = ""
    template: ClassVar[str] = ""
    templates: ClassVar[dict[str, str]] = {}

    @classmethod
    def all_templates(cls) -> dict[str, str]:
        out = dict(cls.templates)
        if cls.template:
            out.setdefault("", cls.template)
        return out

    @classmethod
    def template_for(cls, variant: str) -> str:
        found = cls.all_templates().get(variant)
        if found is None:
            raise KeyError(f"{cls.__name__} has no message variant {variant!r}")
        return found


class BulkprovError(Declared, Exception):
    """Base of every error bulkprov raises on purpose: a declared code, a variant, parameters.

    ``str(err)`` is ``"PATH: message [code]"``; :attr:`message` the message alone; :attr:`hint` a
    stable key a front end may phrase (``cli.py`` and ``web/`` each have their own wording).
    """

    exit_code: ClassVar[int] = 2
    hint: ClassVar[str] = ""

    def __init__(self, variant: str = "", /, *, path: str | Any | None = None, **params: Any) -> None:
        self.variant = variant
        self.params = params
        self.path = None if path is None else str(path)
        self._template = type(self).template_for(variant)
        super().__init__(self.message)

    @property
    def message(self) -> str:
        return render(self._template, self.params)

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        return f"{where}{self.message} [{self.code}]"

    def __reduce__(self):
        return (_rebuild, (type(self), self.variant, self.path, self.params))


def _rebuild(cls, variant, path, params):
    return cls(variant, path=path, **params)
