"""The streaming validate: the column-wise checks agree with the per-row validator, cell for cell.

The fixture holds a row for every error code the validator can raise (found in its source, so a new
rule fails here until the file shows it), several errors in one row, duplicates across chunks and
in other cases and widths, full-width and non-ASCII values, XML-special text, and plain rows that
the column-wise checks vouch for.  Each test reads the workbook back with openpyxl.
"""

from __future__ import annotations

import ast
import csv
from pathlib import Path

import openpyxl
import pytest

from bulkprov import errors, schema
from bulkprov.check import columnwise
from bulkprov.io import open_table
from bulkprov.jobs import JobSettings, run_job
from bulkprov.jobs import checkonly as checkonly_module
from bulkprov.jobs.checkonly import dry_run_plan
from bulkprov.jobs.frame import check_rows, make_validator
from bulkprov.model import RowResult, Status
from bulkprov.outputs.results import read_results
from bulkprov.send.batches import describe_plan, plan_batches
from bulkprov.send.limiter import parse_rate

ROOT = Path(__file__).resolve().parents[2]
BOT = "st-0a1b2c3d-4e5f-6789-abcd-ef0123456789"
DIALOG = "dg-0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
GROUP = "e-06b41cdd-7678-5394-b958-40ca5662f502"
ROLE = "5f1a2b3c4d5e6f7a8b9c0d1e"
HEADERS = ["action", "Email", "Employee ID", "First Name", "Phone", "Zip", "groups", "roles", "botTasks",
           "canCreateBot", "isDeveloper", "sendEmail"]

# (action, email, orgUserId, other cells by header) -- one row each; the comment says what it shows.
SPECIAL: list[tuple[str, str, str, dict[str, str]]] = [
    ("", "a1@acme-corp.com", "S01", {}),                                   # missing-action
    ("frobnicate", "a2@acme-corp.com", "S02", {}),                         # unknown-action
    ("add", "a" * 250 + "@acme-corp.com", "S03", {}),                      # too-long (email)
    ("add", "not-an-email", "S04", {}),                                    # invalid-email
    ("add", "Jane.Doe@Example.com", "S05", {}),                            # template-example
    ("add", "", "S06", {}),                                                # missing-email
    ("update", "", "", {}),                                                # missing-key
    ("add", "USER00003@ACME-CORP.COM", "S08", {}),                        # duplicate-email (other case)
    ("add", "a9@acme-corp.com", "e00000004", {}),                          # duplicate-org-user-id
    ("add", "a10@acme-corp.com", "S10", {"canCreateBot": "maybe"}),        # invalid-boolean
    ("add", "a11@acme-corp.com", "S11", {"First Name": "F" * 101}),        # too-long (info)
    ("add", "a12@acme-corp.com", "S12", {"botTasks": f"{BOT}:{DIALOG}," * 60}),  # too-long (list)
    ("add", "a13@acme-corp.com", "S13", {"groups": "e-123"}),              # invalid-group-id
    ("add", "a14@acme-corp.com", "S14", {"groups": "No Such Group"}),      # unknown-group
    ("add", "a15@acme-corp.com", "S15", {"roles": "0123456789abc"}),       # invalid-role-id
    ("add", "a16@acme-corp.com", "S16", {"roles": "Nobody Role"}),         # unknown-role
    ("add", "a17@acme-corp.com", "S17", {"roles": f"{ROLE}@st-123"}),      # invalid-bot-id
    ("add", "a18@acme-corp.com", "S18", {"roles": f"{ROLE}@Ghost Bot"}),   # unknown-bot
    ("add", "a19@acme-corp.com", "S19", {"botTasks": "justabot"}),         # invalid-bot-task
    ("update", "a20@acme-corp.com", "S20", {"botTasks": f"-{BOT}:{DIALOG}"}),  # invalid-bot-task, remove-with-dialogs
    ("add", "a21@acme-corp.com", "S21", {"botTasks": f"{BOT}:dg-bad"}),    # invalid-dialog-id
    ("add", "bad@", "S22", {"canCreateBot": "sometimes", "isDeveloper": "x", "First Name": "G" * 120}),  # many
    ("add", "ｕｓｅｒ２３@acme-corp.com", "S23", {}),                        # full-width: valid, plain form
    ("add", "ｕｓｅｒ00005＠ａｃｍｅ-corp.com", "S24", {}),                  # full-width duplicate
    ("add", "a25@acme-corp.com", "S25", {"First Name": "Müller"}),         # non-ASCII: valid
    ("add", "a26@acme-corp.com", "S26", {"First Name": "A & B <c> =HYPERLINK(\"x\")"}),  # XML-special text
    ("remove", "a27@acme-corp.com", "S27", {"canCreateBot": "maybe"}),     # remove ignores booleans
    ("update", "", "S28", {}),                                             # update by orgUserId only
    ("add", "a29@acme-corp.com", "S29", {"groups": GROUP, "roles": f"{ROLE}@{BOT}"}),  # valid lists
    ("add", "a30@acme-corp.com", "S 30", {"Phone": "+1 212 555 0100", "sendEmail": "no"}),
    ("update", "a31@acme-corp.com", "S31", {"isDeveloper": "YES", "sendEmail": "bad"}),  # update checks booleans
    ("add", "a32@acme\u202e-corp.com", "S32", {}),                           # invisible-character
    ("add", "a33@acme-corp.com", "S33", {"First Name": "Ann\u200b"}),        # invisible removed from a name: a note
]
# Codes a CSV cannot carry (a formula never calculated lives in workbooks: tests/io/test_fidelity.py has it),
# and codes of a column kind the column-wise pass never vouches for (a fullName column sends the whole
# table row by row: test_a_full_name_column_is_checked_row_by_row).
NOT_IN_CSV = {"uncalculated-formula", "unsplit-name"}
# Codes only the account's directory (or a lookup sheet stamped with another host) gives: a row with a groups,
# roles or botTasks cell never passes the column-wise checks (it is always a suspect, checked row by row), so
# they cannot differ; tests/e2e/test_names_e2e.py raises each against the emulator.
NEED_DIRECTORY = {"ambiguous-name", "not-on-account", "name-disagrees", "unmappable-role", "wrong-role-type",
                  "directory-unavailable"}


def _plain(i: int) -> list[str]:
    return ["add" if i % 5 else "update", f"user{i:05d}@acme-corp.com", f"E{i:08d}", f"First{i}", str(8212330000 + i),
            f"{2128 + i % 50:05d}", "", "", "", ["TRUE", "false", ""][i % 3], "", ""]


def write_fixture(path: Path, *, with_action: bool = True) -> None:
    """Plain rows around the special ones: chunks of every kind, duplicates of rows in earlier chunks."""
    rows = [_plain(i) for i in range(40)]
    for n, (action, email, org, extra) in enumerate(SPECIAL):
        row = dict(zip(HEADERS, ["", "", "", "", "", "", "", "", "", "", "", ""], strict=True))
        row.update({"action": action, "Email": email, "Employee ID": org, **extra})
        rows.insert(3 + n * 2, [row[h] for h in HEADERS])
    rows += [_plain(i) for i in range(40, 60)]
    rows.append(_plain(7))  # a repeat of a plain row, both keys
    with open(path, "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(HEADERS if with_action else HEADERS[1:])
        out.writerows(rows if with_action else [r[1:] for r in rows])


def raised_codes() -> set[str]:
    """Every row code written as a literal in the validator's source (what it can raise), and the codes of
    the id kinds it resolves (``schema.ID_KINDS``)."""
    tree = ast.parse((ROOT / "bulkprov" / "check" / "validator.py").read_text(encoding="utf-8"))
    kinds = {code for kind in schema.ID_KINDS.values() for code in (kind.bad_id, kind.unknown)}
    return {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and n.value in errors.ROW_CODES} | kinds


def sheets(path: Path) -> dict[str, list[list]]:
    wb = openpyxl.load_workbook(path)
    out = {ws.title: [[c.value for c in row] for row in ws.iter_rows()] for ws in wb.worksheets}
    out["Summary"] = [r for r in out["Summary"] if r and r[0] not in ("started", "finished")]
    return out


def expected(path: Path, command: str = "validate") -> tuple[list[list], list[list]]:
    """Results and Failures rows as the per-row validator makes them (the rules of the workbook before
    streaming: numbers as numbers, blank cells left out)."""
    settings = JobSettings(command=command, dry_run=command != "validate")
    table = open_table(path)
    validator = make_validator(table, settings)
    results, failures = [], []
    for raw in table.rows:
        row = validator.check(raw)
        r = RowResult.invalid(row) if row.errors else RowResult.of(row, Status.VALID, "; ".join(row.notes))
        results.append([r.row, r.action or None, r.email or None, r.org_user_id or None, r.status, r.reason or None,
                        r.error_code or None, None, None, None])
        if row.errors:
            failures.append([c or None for c in raw.cells] + [r.status, r.reason])
    return results, failures


@pytest.fixture(params=[7, 2048], ids=["chunks-of-7", "one-chunk"])
def chunk_rows(request, monkeypatch):
    monkeypatch.setattr(checkonly_module, "CHUNK_ROWS", request.param)
    return request.param


def per_row_only(monkeypatch) -> None:
    original = columnwise.ColumnChecks.__init__

    def disabled(self, *a, **kw):
        original(self, *a, **kw)
        self.enabled = False

    monkeypatch.setattr(columnwise.ColumnChecks, "__init__", disabled)


def test_a_full_name_column_is_checked_row_by_row(tmp_path):
    path = tmp_path / "names.csv"
    path.write_text("email,氏名\na1@acme-corp.com,山田 太郎\na2@acme-corp.com,山田太郎\n", encoding="utf-8")
    table = open_table(path)
    assert not columnwise.ColumnChecks(make_validator(table, JobSettings(command="validate")), table.columns).enabled


def test_the_fixture_raises_every_code_the_validator_can(tmp_path):
    path = tmp_path / "every.csv"
    write_fixture(path)
    results, _ = expected(path)
    seen = {code for r in results if r[5] for code in errors.ROW_CODES if f"[{code}]" in r[5]}
    assert raised_codes() - seen - NOT_IN_CSV - NEED_DIRECTORY == set(), "add a row for the new code to SPECIAL"
    assert any(r[5] and r[5].count("[") >= 3 for r in results), "a row with several errors"
    assert "remove-with-dialogs" not in str(results) and any("takes no dialogs" in (r[5] or "") for r in results)


@pytest.mark.parametrize("with_action", [True, False], ids=["per-row-action", "all-adds"])
def test_streaming_workbook_equals_the_per_row_one(tmp_path, monkeypatch, chunk_rows, with_action):
    path = tmp_path / "every.csv"
    write_fixture(path, with_action=with_action)
    want_results, want_failures = expected(path)
    fast = run_job(path, JobSettings(command="validate", output=tmp_path / "fast.xlsx"))
    got = sheets(fast.results_path)
    assert got["Results"][0][:6] == ["row", "action", "emailId", "orgUserId", "status", "reason"]
    assert got["Results"][1:] == want_results
    assert got["Failures"][1:] == want_failures
    assert got["Failures"][0] == HEADERS[(0 if with_action else 1):] + ["status", "reason"]

    per_row_only(monkeypatch)
    slow = run_job(path, JobSettings(command="validate", output=tmp_path / "slow.xlsx"))
    assert sheets(slow.results_path) == got, "every sheet, the Summary's counts too"
    assert fast.exit_code == slow.exit_code == 1
    assert fast.summary.counts == slow.summary.counts


def test_the_plain_rows_really_take_the_column_wise_path(tmp_path, monkeypatch):
    """Guards the test above from passing because every row went the per-row way."""
    path = tmp_path / "every.csv"
    write_fixture(path)
    checked = []
    original = columnwise.ColumnChecks.check

    def spy(self, rows):
        chunk = original(self, rows)
        checked.append((len(rows), len(chunk.slow)))
        return chunk

    monkeypatch.setattr(columnwise.ColumnChecks, "check", spy)
    monkeypatch.setattr(checkonly_module, "CHUNK_ROWS", 3)
    run_job(path, JobSettings(command="validate", output=tmp_path / "r.xlsx"))
    assert any(slow == 0 for _, slow in checked), "some chunks are vouched for as a whole"
    assert sum(n - slow for n, slow in checked) > 50, "most plain rows pass column-wise"


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_streaming_csv_and_jsonl_results_match_the_per_row_ones(tmp_path, chunk_rows, fmt):
    path = tmp_path / "every.csv"
    write_fixture(path)
    want, _ = expected(path)
    outcome = run_job(path, JobSettings(command="validate", output=tmp_path / f"r.{fmt}", results_format=fmt))
    got = [[r.row, r.action or None, r.email or None, r.org_user_id or None, r.status, r.reason or None,
            r.error_code or None, r.http_status, r.attempts or None, r.batch or None]
           for r in read_results(outcome.results_path)]
    assert got == want


def test_dry_run_plan_from_counts_equals_the_plan_from_rows(tmp_path, chunk_rows):
    path = tmp_path / "every.csv"
    write_fixture(path)
    settings = JobSettings(command="apply", dry_run=True, batch_size=4, output=tmp_path / "r.xlsx")
    outcome = run_job(path, settings)
    rows = check_rows(open_table(path), settings).rows
    valid = [r for r in rows if not r.errors]
    batches = plan_batches(valid, settings.batch_size, settings.send_email)  # the plan a real run makes
    real = describe_plan(batches, settings.batch_size, settings.concurrency, parse_rate(settings.rate))
    assert outcome.summary.plan == real, "the plan is kept as the plan, not as warnings"
    assert dry_run_plan(rows, settings) == real, "the page's preview plans the same"
    assert "add" in real[0] and "update" in real[0] and f"in {len(batches)} requests" in real[1]


def test_failures_workbook_of_its_own_streams_too(tmp_path, chunk_rows):
    path = tmp_path / "every.csv"
    write_fixture(path)
    _, want_failures = expected(path)
    alone = tmp_path / "fix-these.xlsx"
    run_job(path, JobSettings(command="validate", output=tmp_path / "r.xlsx", failures_output=alone))
    wb = openpyxl.load_workbook(alone)
    assert wb.sheetnames == ["Failures"]
    assert [[c.value for c in r] for r in wb["Failures"].iter_rows()][1:] == want_failures


def test_outcome_keeps_a_few_rows_and_reads_the_rest_back(tmp_path, monkeypatch):
    from bulkprov.jobs import settings as settings_module

    monkeypatch.setattr(settings_module, "ATTENTION_KEPT", 5)
    monkeypatch.setattr(checkonly_module, "ATTENTION_KEPT", 5)
    path = tmp_path / "every.csv"
    write_fixture(path)
    want = [r for r in expected(path)[0] if r[4] == "invalid"]
    for fmt in ("xlsx", "csv", "jsonl"):
        outcome = run_job(path, JobSettings(command="validate", output=tmp_path / f"r.{fmt}", results_format=fmt))
        assert len(outcome.attention) == 5
        everything = list(outcome.rows_needing_attention())
        assert [(r.row, r.reason) for r in everything] == [(w[0], w[5]) for w in want]
        assert [r.row for r in outcome.rows_needing_attention(7)] == [w[0] for w in want[:7]]
