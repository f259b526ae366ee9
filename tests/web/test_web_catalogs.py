"""The page's gettext domain ``web``: complete, current with the code, compiled, and nothing left unmarked.

* every message has a Korean and a Japanese translation with the same placeholders;
* the catalogs hold exactly what Babel extracts from ``bulkprov/web`` today (``make catalogs-web``);
* each committed ``.mo`` is the compiled form of its ``.po`` (a clean clone uses the ``.mo``);
* no text of a template, and no page title or message in ``web/`` Python, escapes ``_()``.
"""

from __future__ import annotations

import ast
import gettext
import re
from pathlib import Path

import pytest
from babel.messages import frontend
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po

from bulkprov.web import lang

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "bulkprov" / "web"
LOCALE = ROOT / "bulkprov" / "locale"
TRANSLATED = ("ko", "ja")
PLACEHOLDER = re.compile(r"%\((\w+)\)s|\{(\w+)\}")


def _po(language: str):
    with open(LOCALE / language / "LC_MESSAGES" / "web.po", "rb") as fh:
        return read_po(fh, locale=language, domain="web")


def _ids(catalog) -> set[str]:
    return {m.id if isinstance(m.id, str) else m.id[0] for m in catalog if m.id}


def _placeholders(text: str) -> set[str]:
    return {a or b for a, b in PLACEHOLDER.findall(text)}


def _extracted() -> set[str]:
    with open(WEB / "babel.cfg", encoding="utf-8") as fh:
        method_map, options_map = frontend.parse_mapping_cfg(fh, str(WEB / "babel.cfg"))
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(str(WEB), method_map, options_map,
                                                                      keywords=DEFAULT_KEYWORDS):
        found.add(message if isinstance(message, str) else message[0])
    return found


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_message_is_translated_with_the_same_placeholders(language):
    catalog = _po(language)
    assert catalog.plural_forms.startswith("nplurals=1"), "Korean and Japanese have one plural form"
    problems = []
    for message in catalog:
        if not message.id:
            continue
        ids = [message.id] if isinstance(message.id, str) else list(message.id)
        strings = [message.string] if isinstance(message.string, str) else list(message.string)
        if "fuzzy" in message.flags or not all(s.strip() for s in strings):
            problems.append(("untranslated", ids[0]))
            continue
        for text in strings:
            if _placeholders(text) != _placeholders(ids[-1]):
                problems.append(("placeholders differ", ids[0], text))
    assert not problems, problems
    assert len(_ids(catalog)) > 150


def test_the_catalogs_hold_exactly_what_the_code_marks():
    """Extract and compare: a new or changed string in web/ needs ``make catalogs-web`` and its translations."""
    code = _extracted()
    assert "Upload users" in code and "Run: add {count} users" in code  # Python and templates are both read
    assert "%(num)s row:" in code
    for language in TRANSLATED:
        catalog = _ids(_po(language))
        assert not code - catalog, f"{language}: not in web.po (run make catalogs-web): {sorted(code - catalog)}"
        assert not catalog - code, f"{language}: in web.po but no longer in the code: {sorted(catalog - code)}"


@pytest.mark.parametrize("language", TRANSLATED)
def test_the_compiled_catalog_is_the_current_po(language):
    po = _po(language)
    with open(LOCALE / language / "LC_MESSAGES" / "web.mo", "rb") as fh:
        compiled = gettext.GNUTranslations(fh)
    expected = {}
    for message in po:
        if not message.id:
            continue
        if isinstance(message.id, str):
            expected[message.id] = message.string
        else:
            for i, text in enumerate(message.string):
                expected[(message.id[0], i)] = text
    got = {k: v for k, v in compiled._catalog.items() if k != ""}  # "" is the header
    assert got == expected, "web.mo is stale: run make catalogs-web (pybabel compile) and commit it"


def test_the_page_loads_the_committed_catalogs():
    assert lang.translations("ko").gettext("Upload users") == "사용자 명단 업로드"
    assert lang.translations("ja").gettext("Upload users") == "ユーザー名簿のアップロード"
    assert lang.translations("ja").ngettext("%(num)s row:", "%(num)s rows:", 5) == "全 %(num)s 行："
    assert lang.translations("en").gettext("Upload users") == "Upload users"


# -- nothing left unmarked ---------------------------------------------------------------------------------------

# Words a template may show as they are: names and codes, the same in every language.
ALLOWED_WORDS = {"bulkprov", "Kore.ai", "SHA-256", "MB"}
_JINJA = re.compile(r"\{%-?\s*trans\b.*?\{%-?\s*endtrans\s*-?%\}|\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.S)
_VISIBLE_ATTRIBUTES = re.compile(r'\b(?:title|placeholder|alt|aria-label)="([^"]*)"')


def _loose_words(source: str) -> list[str]:
    """English words a template shows outside ``{{ }}`` / ``{% %}`` (text between tags, visible attributes)."""
    bare = _JINJA.sub(" ", source)
    visible = " ".join(_VISIBLE_ATTRIBUTES.findall(bare))
    text = re.sub(r"<script\b.*?</script>|<[^>]*>", " ", bare, flags=re.S)
    words = re.findall(r"[A-Za-z][A-Za-z.\-]*[A-Za-z0-9]|[A-Za-z]", f"{text} {visible}")
    return [w for w in words if w not in ALLOWED_WORDS]


@pytest.mark.parametrize("path", sorted((WEB / "templates").glob("*.html")), ids=lambda p: p.name)
def test_no_template_text_escapes_translation(path):
    assert _loose_words(path.read_text(encoding="utf-8")) == []


def test_the_template_check_catches_a_bare_word():
    assert _loose_words('<th>{{ _("row") }}</th><th>column</th>') == ["column"]
    assert _loose_words('<input placeholder="Your name" value="{{ v }}">') == ["Your", "name"]
    assert _loose_words('<title>{{ title }} · bulkprov</title>') == []
    assert _loose_words('<p>{% trans n=1 %}Marked {{ n }} words{% endtrans %} but not these</p>') == \
        ["but", "not", "these"]


# Calls whose text arguments a person reads: each must be ``_()``, ``ngettext()`` or ``text()`` (or a variable).
SHOWN = {"message": (1, 2), "page": (2,), "login_page": (1,), "UploadRefused": (0,)}


def _bare_text(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return bool(re.search(r"[A-Za-z]{2}", node.value))
    return isinstance(node, ast.JoinedStr)


def _unmarked(source: str) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
        args = [node.args[i] for i in SHOWN.get(name, ()) if i < len(node.args)]
        args += [k.value for k in node.keywords if k.arg in ("title", "text", "error")]
        for kw in node.keywords:  # links=[(href, label)]: the label is read
            if kw.arg == "links" and isinstance(kw.value, ast.List):
                args += [t.elts[1] for t in kw.value.elts if isinstance(t, ast.Tuple) and len(t.elts) == 2]
        found += [(node.lineno, name) for a in args if _bare_text(a)]
    return found


@pytest.mark.parametrize("path", sorted(WEB.glob("*.py")), ids=lambda p: p.name)
def test_no_page_text_in_python_escapes_translation(path):
    assert _unmarked(path.read_text(encoding="utf-8")) == []


def test_the_python_check_catches_an_unmarked_message():
    assert _unmarked('message(request, "Not found", _("x"))') == [(1, "message")]
    assert _unmarked('message(request, _("Gone"), f"no {x}", links=[("/", "Back")])') == [(1, "message")] * 2
    assert _unmarked('page(request, "runs.html", _("Runs"), rows=rows)') == []
