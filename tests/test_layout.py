"""The package's layout and its one-home rules, checked on the source itself.

* every ``from bulkprov... import`` resolves, including the lazy ones inside functions (a moved
  module must not leave a broken import that only a rare code path reaches);
* every error raised anywhere is a declared class with a declared variant and the parameters its
  template uses (``bulkprov/errors/`` is the one place codes and messages live);
* every declared code is raised (or reported) somewhere: a code nothing produces is a promise nobody keeps;
* the import contracts: every import (the lazy ones inside functions and ``importlib``'s included) goes down
  the floors of :data:`FLOORS` -- no stage imports the orchestrator (``jobs/``), the ground floor imports
  nothing above it -- and no files import each other in a circle;
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


@pytest.mark.parametrize("path", SOURCES + sorted(p for p in (ROOT / "tests").rglob("*.py") if "fixtures" not in p.parts)
                         + sorted((ROOT / "bench").glob("*.py")),
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


def _constants_outside_errors() -> set[str]:
    """Every string constant of the package's code outside ``errors/`` (where codes are only declared)."""
    found: set[str] = set()
    for path in SOURCES:
        if "errors" in path.relative_to(PACKAGE).parts or path.name == "_docs.py":
            continue
        found |= {n.value for n in ast.walk(_tree(path)) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    return found


def test_every_declared_error_class_is_raised_somewhere() -> None:
    """A file or run code whose class nothing raises (or returns, to be raised) is a dead promise in the README."""
    raised = {name for path in SOURCES if "errors" not in path.relative_to(PACKAGE).parts
              for _line, name, _variant, _names, _splats in _raises(path)}
    never = sorted(c.code for c in errors.all_error_classes() if c.__name__ not in raised)
    assert not never, f"declared but never raised: {never}"


def test_every_row_and_outcome_code_is_produced_somewhere() -> None:
    """A row or outcome code is written as a literal where it is produced (a check, a reply's reading, a row's
    outcome) or in a table that produces it (``schema.ID_KINDS``)."""
    used = _constants_outside_errors()
    never = sorted(code for code in (*errors.ROW_CODES, *errors.OUTCOME_CODES) if code not in used)
    assert not never, f"declared but never produced: {never}"


# --- the import contracts -----------------------------------------------------------------------------------

# The floors of the house, top to bottom (the rooms are bulkprov's packages and top-level modules).  An import
# goes to its own floor or below; within a floor no two files import each other in a circle (see below).
FLOORS: tuple[tuple[str, ...], ...] = (
    ("__main__", "cli", "_docs"),  # front ends and tools
    ("web",),
    ("config",),                   # the one settings function every front end uses
    ("jobs",),                     # the orchestrator: begin, a strategy per command, end
    ("sync",),                     # the stages, from here down
    ("approvals", "directory"),    # the account's directory: read within the budget, kept, names to ids
    ("send", "outputs", "state"),
    ("check",),
    ("kore", "emulator"),
    ("io",),
    ("errors", "schema", "model", "keys", "bodies", "logs", "units", "i18n", "chars", "_faults", "__init__"),  # the ground floor
)
STAGES = ("sync", "send", "kore", "io", "outputs", "approvals", "directory", "state", "check")
GROUND = FLOORS[-1]
ABOVE_THE_STAGES = ("jobs", "config", "web", "cli", "__main__", "_docs")


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


MODULES = {_module_name(p): p for p in SOURCES}


def _resolve(name: str) -> str | None:
    """The module of ours that ``name`` (a module, or a name inside one) is: ``bulkprov.jobs.runner.run_job``
    -> ``bulkprov.jobs.runner``."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(tree: ast.Module, module: str, is_package: bool = False) -> set[str]:
    """Every module of ours that a module imports: ``import``, ``from … import`` (relative too), at the top or
    inside a function, and ``importlib.import_module("…")`` / ``__import__("…")`` with a literal name."""
    here = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = here.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if called in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                names = [node.args[0].value]
        for name in names:
            target = _resolve(name) if name.startswith("bulkprov") else None
            if target is not None and target != module:
                found.add(target)
    return found


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _floor(room: str) -> int:
    return next(i for i, floor in enumerate(FLOORS) if room in floor)


def _arrows() -> list[tuple[str, str]]:
    return [(module, target) for module, path in MODULES.items()
            for target in imports_of(_tree(path), module, path.name == "__init__.py")]


def test_every_room_has_a_floor() -> None:
    rooms = {_room(m) for m in MODULES}
    assert rooms <= {room for floor in FLOORS for room in floor}, sorted(rooms - {r for f in FLOORS for r in f})


def test_no_import_runs_back_up() -> None:
    """Every import goes to its own floor or below: nothing calls the orchestrator or a front end back."""
    up = sorted(f"{a} -> {b}" for a, b in _arrows() if _floor(_room(a)) > _floor(_room(b)))
    assert not up, f"imports that run back up a floor: {up}"


def test_no_stage_imports_the_orchestrator() -> None:
    bad = sorted(f"{a} -> {b}" for a, b in _arrows() if _room(a) in STAGES and _room(b) in ABOVE_THE_STAGES)
    assert not bad, bad


def test_the_ground_floor_imports_nothing_above_it() -> None:
    bad = sorted(f"{a} -> {b}" for a, b in _arrows() if _room(a) in GROUND and _room(b) not in GROUND)
    assert not bad, bad


def circles(arrows: list[tuple[str, str]]) -> list[list[str]]:
    """The groups of files that import each other in a loop (strongly connected, more than one file)."""
    graph: dict[str, set[str]] = {}
    for a, b in arrows:
        graph.setdefault(a, set()).add(b)
        graph.setdefault(b, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return out


def test_no_files_import_each_other_in_a_circle() -> None:
    assert circles(_arrows()) == []


def test_the_import_contracts_see_lazy_and_importlib_imports() -> None:
    source = ("import importlib\nfrom bulkprov.model import RowRef\n\n\ndef later():\n    from bulkprov.jobs import runner\n"
              "    importlib.import_module('bulkprov.web.app')\n    __import__('bulkprov.cli')\n")
    assert imports_of(ast.parse(source), "bulkprov.state.ledger") == {
        "bulkprov.model", "bulkprov.jobs.runner", "bulkprov.web.app", "bulkprov.cli"}
    relative = ast.parse("from . import lock\nfrom ..model import RowRef\n")
    assert imports_of(relative, "bulkprov.state.ledger") == {"bulkprov.state.lock", "bulkprov.model"}
    assert circles([("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")]) == [["a", "b", "c"]]


def test_every_code_is_in_the_readme() -> None:
    from tests.conftest import documented

    readme = documented()
    every = {**errors.file_codes(), **errors.run_codes(), **errors.ROW_CODES, **errors.OUTCOME_CODES}
    missing = sorted(code for code in every if f"`{code}`" not in readme)
    assert not missing, f"codes missing from the README and the guide (run python -m bulkprov._docs): {missing}"


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
    """The guide's Development table lists each program the tests may skip without, as conftest declares it."""
    from tests.conftest import PROGRAMS, guide

    section = guide("development.md")
    for program in PROGRAMS.values():
        assert f"| `{program.package}` |" in section and f"`{program.require}=1`" in section, program.key


def test_the_validation_stage_loads_no_network_stack() -> None:
    """validate of a big file pays for every import: the check stage (and the names it resolves against a
    directory it is handed) must not pull aiohttp in with the client (+0.2 s and +22 MB a run, measured)."""
    import subprocess
    import sys

    probe = ("import sys, bulkprov.check.validator, bulkprov.check.columnwise, bulkprov.jobs.checkonly; "
             "print(sorted(m for m in sys.modules if m.split('.')[0] == 'aiohttp')[:3])")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]", out.stdout
