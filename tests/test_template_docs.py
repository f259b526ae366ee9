"""The template and the guide's tables are generated from the schema and must not drift from it."""

from __future__ import annotations

import subprocess
import sys

import openpyxl
import pytest

from bulkprov import _docs, schema
from bulkprov.cli import FILE_COMMANDS, build_parser
from bulkprov.outputs.template import write_template
from tests.conftest import GUIDE, ROOT, documented, read_sheet


def _workbook_facts(path):
    wb = openpyxl.load_workbook(path)
    facts = {}
    for ws in wb.worksheets:
        cells = [[c.value for c in row] for row in ws.iter_rows()]
        comments = [(c.coordinate, c.comment.text) for row in ws.iter_rows() for c in row if c.comment]
        validations = sorted((str(v.sqref), v.formula1) for v in ws.data_validations.dataValidation)
        facts[ws.title] = (cells, comments, validations)
    return facts


def test_committed_templates_match_the_generator(tmp_path):
    for name in ("users-template.xlsx", "users-template.csv"):
        fresh = write_template(tmp_path / name)
        committed = ROOT / "templates" / name
        if name.endswith(".csv"):
            assert committed.read_bytes() == fresh.read_bytes(), "run: bulkprov template -o templates/" + name
        else:
            assert _workbook_facts(committed) == _workbook_facts(fresh), "run: bulkprov template -o templates/" + name


def test_template_has_every_column_a_note_each_dropdowns_and_lookup_sheets(tmp_path):
    path = write_template(tmp_path / "t.xlsx")
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["Users", "Roles", "Bots", "Groups", "Instructions"]
    users = wb["Users"]
    headers = [c.value for c in users[1]]
    assert headers == [c.name for c in schema.TEMPLATE_COLUMNS]
    assert all(c.comment and c.comment.text.startswith(c.value) for c in users[1])
    sources = {v.formula1 for v in users.data_validations.dataValidation}
    assert '"TRUE,FALSE"' in sources and '"add,update,remove"' in sources
    example = [c.value for c in users[2]]
    assert example[headers.index("emailId")] == schema.EXAMPLE_EMAIL
    assert read_sheet(path, "Roles")[0]["name"] == "Bot Tester"


def test_template_example_row_is_refused_so_hr_deletes_it(tmp_path):
    from bulkprov.jobs import JobSettings, run_job

    path = write_template(tmp_path / "t.xlsx")
    outcome = run_job(path, JobSettings(command="validate", output=tmp_path / "r.xlsx"))
    (row,) = read_sheet(outcome.results_path, "Results")
    assert row["status"] == "invalid" and row["error_code"] == "template-example"
    assert "example row" in row["reason"]


@pytest.mark.parametrize("path", _docs.pages(ROOT), ids=lambda p: p.name)
def test_generated_blocks_are_current(path):
    text = path.read_text(encoding="utf-8")
    assert _docs.render(text) == text, "run: python -m bulkprov._docs"


def test_every_generated_block_is_in_the_guide_once():
    """A generated table lives on one page of the guide (moving text must not drop one, nor copy it)."""
    for name in _docs.blocks():
        holders = [p.name for p in sorted(GUIDE.glob("*.md")) if f"<!-- {name}:start" in p.read_text(encoding="utf-8")]
        assert len(holders) == 1, (name, holders)


def test_readme_and_guide_document_every_command_and_option():
    readme = documented()
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, p in sub.choices.items():
        assert f"bulkprov {name}" in readme, name
        for action in p._actions:
            for opt in action.option_strings:
                if opt.startswith("--") and opt != "--help":
                    assert opt in readme, f"{name} {opt} is not in the README"
    assert set(FILE_COMMANDS) <= set(sub.choices)


def test_help_is_fast_and_lists_commands():
    out = subprocess.run([sys.executable, "-m", "bulkprov", "--help"], capture_output=True, text=True, check=True)
    for name in ("template", "validate", "add", "lookup", "apply", "mock-server", "demo"):
        assert name in out.stdout
    heavy = subprocess.run([sys.executable, "-c", "import sys, bulkprov.cli; "
                            "print(sorted(m for m in ('aiohttp','xlsxwriter','python_calamine','jwt') if m in sys.modules))"],
                           capture_output=True, text=True, check=True)
    assert heavy.stdout.strip() == "[]", "the CLI must import heavy libraries lazily"
