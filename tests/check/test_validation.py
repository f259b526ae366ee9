"""Every validation rule: row, column, value, stable code, and a message that says how to fix it."""

from __future__ import annotations

import pytest

from bulkprov.check.validator import Validator
from bulkprov.emulator import demo_seed
from bulkprov.io import open_table

SEED = demo_seed()
ROLE = next(r for r in SEED["roles"] if r["name"] == "Bot Tester")["roleId"]
BOT = next(b for b in SEED["bots"] if b["name"] == "Support Bot")
GROUP = SEED["groups"][0]["groupId"]
DIALOG = BOT["dialogs"][1]
LOOKUPS = {"Roles": {"bot tester": ROLE}, "Bots": {"support bot": BOT["botId"]}, "Groups": {"support agents": GROUP}}


def check(tmp_path, header: str, *lines: str, command: str = "add"):
    path = tmp_path / "users.csv"
    path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    table = open_table(path, required_any=("emailId", "orgUserId"))
    validator = Validator(table, command, lookups=LOOKUPS)
    return [validator.check(raw) for raw in table.rows]


def codes(row) -> list[tuple[str, str]]:
    return [(e.column, e.code) for e in row.errors]


@pytest.mark.parametrize("email, code", [
    ("", "missing-email"),
    ("jane.doe", "invalid-email"),
    ("jane@doe", "invalid-email"),
    ("jane doe@acme.com", "invalid-email"),
    ("a" * 250 + "@acme.com", "too-long"),
    ("jane.doe@example.com", "template-example"),
])
def test_email_rules(tmp_path, email, code):
    (row,) = check(tmp_path, "Email,First Name", f"{email},Jane")
    assert codes(row) == [("emailId", code)]
    error = row.errors[0]
    assert error.row == 2 and error.value == email and error.message


def test_all_errors_of_a_row_in_one_pass_with_excel_row_numbers(tmp_path):
    rows = check(tmp_path, "Email,canCreateBot,isDeveloper,groups,First Name",
                 "ok@acme.com,TRUE,no,Support Agents,Jane",
                 "",
                 "bad-email,maybe,si,Marketing," + "x" * 101)
    assert rows[0].valid and rows[0].user["groups"] == [GROUP]
    assert rows[0].user["canCreateBot"] is True and rows[0].user["isDeveloper"] is False
    bad = rows[1]
    assert bad.row == 4, "blank line 3 is skipped but row numbers stay Excel's"
    assert codes(bad) == [("emailId", "invalid-email"), ("firstName", "too-long"), ("groups", "unknown-group"),
                          ("canCreateBot", "invalid-boolean"), ("isDeveloper", "invalid-boolean")]
    assert "TRUE or FALSE" in bad.errors[3].message
    assert "Groups sheet" in bad.errors[2].message


def test_duplicates_name_the_earlier_row_case_insensitively(tmp_path):
    rows = check(tmp_path, "Email,Employee ID", "Jane@Acme.com,E1", "jane@acme.com,E2", "other@acme.com,E1")
    assert rows[0].valid
    assert codes(rows[1]) == [("emailId", "duplicate-email")] and "row 2" in rows[1].errors[0].message
    assert codes(rows[2]) == [("orgUserId", "duplicate-org-user-id")] and "row 2" in rows[2].errors[0].message


@pytest.mark.parametrize("cell, column, code", [
    ("1234567890abcdef12345", "roles", "invalid-role-id"),
    ("Nobody Role", "roles", "unknown-role"),
    (f"{ROLE}@st-123", "roles", "invalid-bot-id"),
    (f"{ROLE}@Unknown Bot", "roles", "unknown-bot"),
    ("e-1234", "groups", "invalid-group-id"),
    ("Support Bot", "botTasks", "invalid-bot-task"),
    ("Support Bot:dg-123", "botTasks", "invalid-dialog-id"),
    ("st-1:" + DIALOG, "botTasks", "invalid-bot-id"),
])
def test_id_formats_and_lookups(tmp_path, cell, column, code):
    (row,) = check(tmp_path, f"Email,{column}", f'ok@acme.com,"{cell}"')
    assert codes(row) == [(column, code)]


def test_names_resolve_through_lookup_sheets_and_ids_pass_through(tmp_path):
    (row,) = check(tmp_path, "Email,roles,groups,botTasks",
                   f'ok@acme.com,"Bot Tester@Support Bot;{ROLE}","Support Agents\n{GROUP}",'
                   f'"Support Bot:{DIALOG};{BOT["botId"]}:{BOT["dialogs"][2]}"')
    assert row.valid, row.errors
    assert row.user["roles"] == [{"roleId": ROLE, "botId": BOT["botId"]}, {"roleId": ROLE}]
    assert row.user["groups"] == [GROUP, GROUP]
    assert row.user["assignBotTasks"] == [{"botId": BOT["botId"], "dialogs": [DIALOG, BOT["dialogs"][2]]}]
    assert row.user["canCreateBot"] is False and row.user["isDeveloper"] is False, "least privilege"


def test_actions_for_apply(tmp_path):
    rows = check(tmp_path, "User Status,Email,Employee ID", "New,a@acme.com,", "Delete,,E7", "Update,c@acme.com,",
                 "Launch,d@acme.com,", ",e@acme.com,", "remove,,", command="apply")
    assert [r.action for r in rows[:3]] == ["add", "remove", "update"]
    assert rows[1].valid and rows[1].key.value == "E7", "remove by orgUserId where there is no email"
    assert codes(rows[3]) == [("action", "unknown-action")]
    assert codes(rows[4]) == [("action", "missing-action")]
    assert codes(rows[5]) == [("emailId", "missing-key")]


def test_update_sends_only_what_the_row_says(tmp_path):
    (row,) = check(tmp_path, "Email,Department,First Name,groups,roles,canCreateBot",
                   'a@acme.com,Finance,,"+Support Agents;-Support Agents","-Bot Tester",', command="update")
    assert row.valid
    assert row.user == {"userInfo": {"emailId": "a@acme.com", "dept": "Finance"},
                        "groups": {"addTo": [GROUP], "removeFrom": [GROUP]},
                        "roles": {"addTo": [], "removeFrom": [{"roleId": ROLE}]}}


def test_unknown_column_is_a_warning_with_a_suggestion(tmp_path):
    path = tmp_path / "u.csv"
    path.write_text("Email,Frist Nmae,Favourite Colour\na@acme.com,Jane,blue\n", encoding="utf-8")
    table = open_table(path)
    messages = " ".join(w.message for w in table.warnings)
    assert "Frist Nmae" in messages and "firstName" in messages and "Favourite Colour" in messages
