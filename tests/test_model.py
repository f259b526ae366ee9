"""One row model: a user's key normalised once, list cells meaning one thing everywhere, sync's options.

Each test says what a user relies on: a duplicate in another case or width is a row error (never a
traceback mid-run); the template's notes, the README and the validator say the same about list
cells, and an update does what they say against the emulator; ``sync`` offers only the options it
honours.
"""

from __future__ import annotations

import subprocess
import sys

import openpyxl
import pytest

from bulkprov import schema
from bulkprov.emulator import demo_seed
from bulkprov.jobs import JobSettings, run_job
from bulkprov.model import UserKey, match_key
from bulkprov.outputs.template import write_template
from tests.conftest import ROOT, guide, read_sheet, results_by_row

SEED = demo_seed()
GROUP = {g["name"]: g["groupId"] for g in SEED["groups"]}
BOT = {b["name"]: b for b in SEED["bots"]}


def test_match_key_is_one_form_for_case_width_and_edges():
    assert match_key("Jane@Example.COM") == match_key("ｊａｎｅ＠ｅｘａｍｐｌｅ．ｃｏｍ") == "jane@example.com"
    assert match_key(" E100\u200b") == match_key("ｅ１００") == "e100"
    assert UserKey("", "E100").id == UserKey("", "e100").id


def test_a_remove_file_with_e100_and_e100_in_another_case_is_a_row_error_not_a_traceback(tmp_path):
    roster = tmp_path / "leavers.csv"
    roster.write_text("orgUserId\nE100\ne100\nＥ１００\nE200\n", encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "bulkprov", "remove", str(roster), "--host", "http://127.0.0.1:9",
                           "--dry-run", "-o", str(tmp_path / "out.xlsx")], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    rows = results_by_row(tmp_path / "out.xlsx")
    assert rows[2]["status"] == "valid" and rows[5]["status"] == "valid"
    for row in (3, 4):
        assert rows[row]["status"] == "invalid" and rows[row]["error_code"] == "duplicate-org-user-id"
        assert "already in row 2" in rows[row]["reason"]


def test_emails_differing_in_case_or_width_are_duplicates(tmp_path):
    roster = tmp_path / "users.csv"
    roster.write_text("emailId\njane@example.com\nJANE@EXAMPLE.COM\nｊａｎｅ＠ｅｘａｍｐｌｅ．ｃｏｍ\n", encoding="utf-8")
    out = run_job(roster, JobSettings(command="validate", output=tmp_path / "v.xlsx"))
    rows = results_by_row(out.results_path)
    assert rows[2]["status"] == "valid"
    assert [rows[r]["error_code"] for r in (3, 4)] == ["duplicate-email", "duplicate-email"]


# -- list cells: one behaviour, declared once, said the same everywhere -----------------------------------


def test_template_notes_and_readme_say_what_the_schema_declares(tmp_path):
    path = write_template(tmp_path / "t.xlsx")
    ws = openpyxl.load_workbook(path)["Users"]
    notes = {ws.cell(1, c).value: ws.cell(1, c).comment.text for c in range(1, ws.max_column + 1)}
    readme = guide("input-files.md")
    for column in schema.COLUMNS:
        if column.is_list:
            assert schema.LIST_ON_UPDATE[column.kind] in notes[column.name]
            assert schema.LIST_ON_SYNC in notes[column.name]
            assert schema.LIST_ON_UPDATE[column.kind] in readme
    assert "complete list (missing ones are removed)" not in readme, "the old, false wording is gone"


def _write_users(path, rows: list[list[str]]) -> None:
    """A Users sheet plus the demo's Roles/Bots/Groups lookup sheets, so cells can use names."""
    import xlsxwriter

    wb = xlsxwriter.Workbook(str(path))
    users = wb.add_worksheet("Users")
    for r, values in enumerate(rows):
        users.write_row(r, 0, values)
    for sheet, items, key in (("Roles", SEED["roles"], "roleId"), ("Bots", SEED["bots"], "botId"),
                              ("Groups", SEED["groups"], "groupId")):
        ws = wb.add_worksheet(sheet)
        ws.write_row(0, 0, ["name", key])
        for r, item in enumerate(items, start=1):
            ws.write_row(r, 0, [item["name"], item[key]])
    wb.close()


def _user(emu, email):
    return next(u for u in emu.state()["users"] if u["userInfo"]["emailId"] == email)


def test_update_does_what_the_notes_say_for_groups_roles_and_bot_tasks(make_emulator, creds, tmp_path):
    support, helpdesk = BOT["Support Bot"], BOT["IT Helpdesk"]
    emu = make_emulator(users=[{
        "userInfo": {"emailId": "kim@acme-corp.com"},
        "groups": [GROUP["Support Agents"], GROUP["Managers"]],
        "assignBotTasks": [{"botId": support["botId"], "dialogs": [support["dialogs"][0]]},
                           {"botId": helpdesk["botId"], "dialogs": [helpdesk["dialogs"][0]]}],
    }])
    book = tmp_path / "upd.xlsx"
    _write_users(book, [["emailId", "groups", "botTasks"],
                          ["kim@acme-corp.com", "Support Agents",
                           f"Support Bot:{support['dialogs'][1]}"]])
    settings = JobSettings(command="update", host=emu.url, rate="none", output=tmp_path / "u1.xlsx",
                           state_dir=tmp_path / "state")
    assert run_job(book, settings, credentials=creds).exit_code == 0
    user = _user(emu, "kim@acme-corp.com")
    assert {g["groupName"] for g in user["groups"]} == {"Support Agents", "Managers"}, \
        "a plain entry adds; it never revokes what the cell does not name"
    tasks = {t["botId"]: t["dialogs"] for t in user["assignBotTasks"]}
    assert tasks == {support["botId"]: support["dialogs"][:2], helpdesk["botId"]: [helpdesk["dialogs"][0]]}

    _write_users(book, [["emailId", "groups", "botTasks"],
                          ["kim@acme-corp.com", "-Managers", "-IT Helpdesk"]])
    removal = run_job(book, JobSettings(command="update", host=emu.url, rate="none", output=tmp_path / "u2.xlsx",
                                        state_dir=tmp_path / "state"), credentials=creds)
    assert removal.exit_code == 0
    user = _user(emu, "kim@acme-corp.com")
    assert {g["groupName"] for g in user["groups"]} == {"Support Agents"}
    assert {t["botId"] for t in user["assignBotTasks"]} == {support["botId"]}

    undo = run_job(removal.undo_path, JobSettings(command="apply", host=emu.url, rate="none",
                                                  output=tmp_path / "undo.xlsx", state_dir=tmp_path / "state"),
                   credentials=creds)
    assert undo.exit_code == 0, read_sheet(undo.results_path, "Results")
    user = _user(emu, "kim@acme-corp.com")
    assert {g["groupName"] for g in user["groups"]} == {"Support Agents", "Managers"}
    assert {t["botId"]: t["dialogs"] for t in user["assignBotTasks"]} == tasks, "the undo file puts the tasks back"


def test_removing_a_bots_tasks_takes_no_dialogs(tmp_path):
    roster = tmp_path / "u.csv"
    roster.write_text(f"emailId,botTasks\na@acme-corp.com,-{BOT['Support Bot']['botId']}:dg-1\n", encoding="utf-8")
    out = run_job(roster, JobSettings(command="update", dry_run=True, output=tmp_path / "v.xlsx"))
    assert results_by_row(out.results_path)[2]["error_code"] == "invalid-bot-task"


# -- sync offers only what it honours ---------------------------------------------------------------------


@pytest.mark.parametrize("command", ["sync", "plan"])
def test_sync_does_not_offer_ledger_options_it_ignores(command):
    """sync takes --resume (one command line every night, #34) and says it changes nothing; the rest
    it would ignore are not offered, and plan offers none."""
    help_text = subprocess.run([sys.executable, "-m", "bulkprov", command, "--help"], capture_output=True,
                               text=True, cwd=ROOT).stdout
    for option in ("--force", "--retry-failed", "--no-ledger"):
        assert option not in help_text
    assert ("--resume" in help_text) == (command == "sync")
    refused = subprocess.run([sys.executable, "-m", "bulkprov", command, "x.csv", "--force"], capture_output=True,
                             text=True, cwd=ROOT)
    assert refused.returncode == 2 and "unrecognized arguments: --force" in refused.stderr


def test_add_still_offers_them():
    help_text = subprocess.run([sys.executable, "-m", "bulkprov", "add", "--help"], capture_output=True, text=True,
                               cwd=ROOT).stdout
    assert all(o in help_text for o in ("--resume", "--force", "--retry-failed", "--no-ledger"))
