"""The package's layout and its one-home rules, checked on the source itself.

* every ``from bulkprov... import`` resolves, including the lazy ones inside functions (a moved
  module must not leave a broken import that only a rare code path reaches);
* every error raised anywhere is a declared class with a declared variant and the parameters its
  template uses (``bulkprov/errors/`` is the one place codes and messages live);
* no library message names a command-line flag: only the ``cli`` package does;
* no module is over ~500 lines without a reason in docs/DESIGN.md.
"""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

from bulkprov import errors

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "bulkprov"
SOURCES = sorted(PACKAGE.rglob("*.py"))


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


@pytest.mark.parametrize("path", SOURCES + sorted((ROOT / "tests").glob("*.py")) + sorted((ROOT / "bench").glob("*.py")),
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_every_bulkprov_import_resolves(path: Path) -> None:
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("bulkprov"):
            module = importlib.import_module(node.module)
            for alias in node.names:
                if not hasattr(module, alias.name):
                    importlib.import_module(f"{node.module}.{alias.name}")  # a submodule


def _error_classes() -> dict[str, type[errors.BulkprovError]]:
    return {c.__name__: c for c in errors.all_error_classes()}


def _raises(path: Path):
    """(line, class name, variant, keyword names) of every ``raise X(...)`` / ``return X(...)`` of an error class."""
    known = _error_classes()
    for node in ast.walk(_tree(path)):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name) or node.func.id not in known:
            continue
        variant = ""
        if node.args:
            arg = node.args[0]
            assert isinstance(arg, ast.Constant) and isinstance(arg.value, str), \
                f"{path}:{node.lineno}: the variant of {node.func.id} must be a literal string"
            variant = arg.value
        names = {k.arg for k in node.keywords if k.arg}
        splats = any(k.arg is None for k in node.keywords)
        yield node.lineno, node.func.id, variant, names, splats


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_raised_error_is_declared_with_its_parameters(path: Path) -> None:
    known = _error_classes()
    for line, name, variant, names, splats in _raises(path):
        cls = known[name]
        assert cls.code, f"{path}:{line}: {name} has no declared code"
        templates = cls.all_templates()
        assert variant in templates, f"{path}:{line}: {name} has no message variant {variant!r}"
        needed = errors.template_fields(templates[variant])
        missing = needed - names - {"path"}
        assert splats or not missing, f"{path}:{line}: {name}({variant!r}) misses parameters {sorted(missing)}"


def test_every_row_and_outcome_code_used_is_declared() -> None:
    codes = set(errors.ROW_CODES) | set(errors.OUTCOME_CODES)
    used: set[tuple[str, str]] = set()
    for path in SOURCES:
        text = path.read_text(encoding="utf-8")
        used |= {(str(path), c) for c in re.findall(r'(?:ROW_CODES|OUTCOME_CODES)\["([a-z-]+)"\]', text)}
        used |= {(str(path), c) for c in re.findall(r'problems\.add\([^,]+, [^,]+, "([a-z-]+)"', text)}
    undeclared = sorted((p, c) for p, c in used if c not in codes)
    assert not undeclared, undeclared


def test_every_code_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    every = {**errors.file_codes(), **errors.run_codes(), **errors.ROW_CODES, **errors.OUTCOME_CODES}
    missing = sorted(code for code in every if f"`{code}`" not in readme)
    assert not missing, f"codes missing from README (run python -m bulkprov._docs): {missing}"


FLAG_RE = re.compile(r"(?<![\w-])--[a-z][a-z-]+")


def _string_constants(path: Path):
    tree = _tree(path)
    docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                  if isinstance(n, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
                  and n.body and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            yield node.lineno, node.value


@pytest.mark.parametrize("path", [p for p in SOURCES if p.name != "_docs.py" and "cli" not in p.parts
                                  and "emulator" not in p.parts],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_no_library_message_names_a_flag(path: Path) -> None:
    found = [(line, text) for line, text in _string_constants(path) if FLAG_RE.search(text)]
    assert not found, f"{path}: messages naming command-line flags belong in cli.py: {found}"


def test_no_module_too_big_without_a_reason() -> None:
    design = (ROOT / "docs" / "DESIGN.md").read_text(encoding="utf-8")
    for path in SOURCES:
        lines = path.read_text(encoding="utf-8").count("\n")
        if lines > 520:
            rel = str(path.relative_to(ROOT))
            assert f"`{rel}`" in design and "over 500 lines" in design, \
                f"{rel} has {lines} lines: split it, or say why not in docs/DESIGN.md"


def test_the_web_page_does_not_rewrite_library_messages() -> None:
    for path in (PACKAGE / "web").glob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "error_code ==" not in text or "interrupted-run" in text.split("error_code ==", 1)[1][:40], path


# --- programs outside the Python environment (chromium, LibreOffice, fonts) --------------------------------

# tests/fixtures/ holds the scripts that regenerate fixtures by hand (they need LibreOffice by design)
TEST_MODULES = sorted(p for p in (ROOT / "tests").rglob("*.py")
                      if p.name != "conftest.py" and "fixtures" not in p.relative_to(ROOT / "tests").parts)
_LAUNCHES = {"launch", "launch_persistent_context"}  # Playwright's ways to start a browser
_PROGRAM_NAME = re.compile(r"(?:^|/)(?:chromium|chromium-browser|google-chrome|soffice|libreoffice)$")


class _ProgramUse(ast.NodeVisitor):
    """Where a test module reaches a browser or LibreOffice without conftest's fixtures (or ``need``)."""

    def __init__(self) -> None:
        self.params: list[set[str]] = []
        self.problems: list[str] = []

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        a = node.args
        self.params.append({x.arg for x in (*a.posonlyargs, *a.args, *a.kwonlyargs)})
        self.generic_visit(node)
        self.params.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = _function

    def visit_Call(self, node: ast.Call) -> None:
        if isinstance(node.func, ast.Attribute) and node.func.attr in _LAUNCHES:
            given = next((k.value for k in node.keywords if k.arg == "executable_path"), None)
            names = {n.id for n in ast.walk(given) if isinstance(n, ast.Name)} if given is not None else set()
            known = set().union(*self.params) if self.params else set()
            if "chromium_path" not in names or "chromium_path" not in known:
                self.problems.append(f"line {node.lineno}: a browser launched without the chromium_path fixture")
        if not (isinstance(node.func, ast.Name) and node.func.id == "need"):
            # a program named in a call (shutil.which("soffice"), subprocess.run(["soffice", ...]),
            # Path("/usr/bin/chromium")) is a program the test finds by itself, past conftest
            for arg in (*node.args, *(k.value for k in node.keywords)):
                for leaf in ast.walk(arg):
                    if isinstance(leaf, ast.Constant) and isinstance(leaf.value, str) and _PROGRAM_NAME.search(leaf.value):
                        self.problems.append(f"line {leaf.lineno}: {leaf.value!r} named outside tests/conftest.py "
                                             "(take the chromium_path / soffice_path fixture)")
        self.generic_visit(node)


def program_uses_without_fixture(source: str) -> list[str]:
    visitor = _ProgramUse()
    visitor.visit(ast.parse(source))
    return visitor.problems


@pytest.mark.parametrize("path", TEST_MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_external_programs_come_from_conftest(path: Path) -> None:
    """A test that needs chromium or LibreOffice takes it from tests/conftest.py's fixtures, so it skips with
    a reason naming the Debian package where the program is missing, and fails where CI requires it."""
    assert program_uses_without_fixture(path.read_text(encoding="utf-8")) == []


def test_the_program_check_finds_launches_without_the_fixture() -> None:
    bad = [
        'def test_x():\n    with sync_playwright() as pw:\n        pw.chromium.launch(headless=True)\n',
        'def test_x():\n    pw.chromium.launch(executable_path="/usr/bin/chromium")\n',
        'def test_x(tmp_path):\n    pw.chromium.launch_persistent_context(str(tmp_path), executable_path=CHROMIUM)\n',
        'import shutil\ndef test_x():\n    subprocess.run([shutil.which("soffice"), "--headless"])\n',
        'def test_x():\n    subprocess.run(["libreoffice", "--convert-to", "csv"])\n',
        'CHROMIUM = Path("/usr/bin/chromium")\n',
        'def helper():\n    pw.chromium.launch(executable_path=chromium_path)\n',  # not a fixture of this function
    ]
    for source in bad:
        assert program_uses_without_fixture(source), source
    good = ('def test_x(chromium_path, soffice_path):\n    pw.chromium.launch(executable_path=chromium_path)\n'
            '    subprocess.run([soffice_path, "--headless"])\n    need("cjk-fonts")\n'
            'FIXTURES = Path(__file__).parent / "fixtures" / "libreoffice"\n')
    assert program_uses_without_fixture(good) == []


def test_the_readme_names_every_optional_program() -> None:
    """The README's Development table lists each program the tests may skip without, as conftest declares it."""
    from tests.conftest import PROGRAMS

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Development", 1)[1]
    for program in PROGRAMS.values():
        assert f"| `{program.package}` |" in section and f"`{program.require}=1`" in section, program.key
