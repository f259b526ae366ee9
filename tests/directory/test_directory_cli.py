"""``bulkprov directory``, ``bulkprov template --from-account`` and server refusals in words (#28), each run as
a real process against the emulator on loopback, its files read back with openpyxl."""

from __future__ import annotations

import csv
import json
import sqlite3
import zipfile

import openpyxl
import pytest

from bulkprov.emulator import demo_seed
from bulkprov.kore.refusals import short_id
from tests.cli.test_cli import bulkprov, kore_env
from tests.conftest import read_sheet

SEED = demo_seed()
ROLE = {r["name"]: r["roleId"] for r in SEED["roles"]}
BOT = {b["name"]: b["botId"] for b in SEED["bots"]}
GROUP = {g["name"]: g["groupId"] for g in SEED["groups"]}
CANARY = "CANARY-4b1d-secret-of-a-bot-app"
ADMIN = {"userInfo": {"emailId": "root@acme-corp.com"}, "roles": [{"roleId": ROLE["Bot Admin"]}],
         "groups": [GROUP["Support Agents"], GROUP["HR"]]}
AGENT = {"userInfo": {"emailId": "agent@acme-corp.com"}, "groups": [GROUP["Support Agents"]]}


def run(emu, tmp_path, *args, **kw):
    return bulkprov(*args, env=kore_env(emu), cwd=tmp_path, **kw)


# -- bulkprov directory ---------------------------------------------------------------------------------------


def test_directory_writes_the_accounts_names_and_ids_stamped_with_its_host(make_emulator, tmp_path):
    emu = make_emulator(replies="documented", users=[ADMIN, AGENT])
    proc = run(emu, tmp_path, "directory", "-o", "dir.xlsx")
    assert proc.returncode == 0, proc.stderr
    assert "directory: 6 roles, 3 bots, 5 groups" in proc.stdout
    wb = openpyxl.load_workbook(tmp_path / "dir.xlsx")
    assert wb.sheetnames == ["Roles", "Bots", "Groups", "About"]
    roles = {r["name"]: r for r in read_sheet(tmp_path / "dir.xlsx", "Roles")}
    assert roles["Bot Tester"]["roleId"] == ROLE["Bot Tester"] and roles["Bot Tester"]["type"] == "bot"
    assert roles["Bot Admin"]["roleId"] == ROLE["Bot Admin"], "an admin role a user holds: its id from the listing"
    assert roles["Master Admin"]["roleId"] is None, "held by nobody: no id to give"
    assert roles["Bot Tester"]["description"] == "Talks to a bot to test it"
    groups = {r["name"]: r for r in read_sheet(tmp_path / "dir.xlsx", "Groups")}
    assert (groups["Support Agents"]["groupId"], groups["Support Agents"]["members"]) == (GROUP["Support Agents"], 2)
    assert groups["HR"]["members"] == 1 and groups["Sales"]["members"] == 0
    bots = {r["name"]: r for r in read_sheet(tmp_path / "dir.xlsx", "Bots")}
    assert bots["Support Bot"]["botId"] == BOT["Support Bot"]
    for sheet in ("Roles", "Bots", "Groups"):
        assert {r["host"] for r in read_sheet(tmp_path / "dir.xlsx", sheet)} == {emu.url}
    about = {r["item"]: r["value"] for r in read_sheet(tmp_path / "dir.xlsx", "About")}
    assert about["host"] == emu.url and about["complete"] == "no"  # two admin roles without an id
    assert "2 admin roles have no id ('Master Admin', 'User Management Admin')" in proc.stderr
    # kept in the state directory for the runs after it
    assert len(list((tmp_path / ".bulkprov" / "directory").iterdir())) == 1


def test_the_directory_workbook_serves_as_lookups(make_emulator, tmp_path):
    emu = make_emulator(users=[ADMIN])
    assert run(emu, tmp_path, "directory", "-o", "dir.xlsx").returncode == 0
    roster = tmp_path / "roster.csv"
    roster.write_text("emailId,roles,groups\nnew1@acme-corp.com,Bot Tester@Support Bot; bot admin,Support Agents; HR\n",
                      encoding="utf-8")
    checked = bulkprov("validate", str(roster), "--lookups", str(tmp_path / "dir.xlsx"), "-o", str(tmp_path / "v.xlsx"))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    added = run(emu, tmp_path, "add", str(roster), "--lookups", "dir.xlsx", "--no-send-email", "-o", "r.xlsx")
    assert added.returncode == 0, added.stdout + added.stderr
    stored = emu.state()["users"]
    (new,) = [u for u in stored if u["userInfo"]["emailId"] == "new1@acme-corp.com"]
    assert {g["groupId"] for g in new["groups"]} == {GROUP["Support Agents"], GROUP["HR"]}
    assert [r["roleId"] for r in new["roles"]["btRoles"]] == [ROLE["Bot Tester"]]
    assert [r["roleId"] for r in new["roles"]["adminRoles"]] == [ROLE["Bot Admin"]]


@pytest.mark.parametrize("name", ["dir.csv", "dir.jsonl"])
def test_directory_as_csv_or_json_lines_by_the_name_given(make_emulator, tmp_path, name):
    emu = make_emulator()
    proc = run(emu, tmp_path, "directory", "-o", name)
    assert proc.returncode == 0, proc.stderr
    path = tmp_path / name
    if name.endswith(".csv"):
        rows = list(csv.DictReader(path.read_text(encoding="utf-8-sig").splitlines()))
    else:
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 6 + 3 + 5 and {r["host"] for r in rows} == {emu.url}
    tester = next(r for r in rows if r["name"] == "Bot Tester")
    assert (tester["kind"], tester["id"], tester["type"]) == ("role", ROLE["Bot Tester"], "bot")


def test_directory_refuses_a_name_in_no_format_before_reading(make_emulator, tmp_path):
    emu = make_emulator()
    proc = run(emu, tmp_path, "directory", "-o", "dir.txt")
    assert proc.returncode == 2 and "written as .xlsx, .csv or .jsonl" in proc.stderr
    assert emu.state()["requests"] == []


def test_directory_without_the_role_management_scope_says_so(make_emulator, tmp_path):
    emu = make_emulator(replies="documented", role_management_scope=False)
    proc = run(emu, tmp_path, "directory", "-o", "dir.xlsx")
    assert proc.returncode == 3, proc.stderr
    assert "Role Management" in proc.stderr and "roles, bots and groups" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "dir.xlsx").exists()


def test_a_directory_not_read_whole_exits_1_and_says_what_is_missing(make_emulator, tmp_path):
    bots = {f"st-{i:08x}-0000-4000-8000-000000000000": f"Bot {i:03d}" for i in range(70)}
    emu = make_emulator(bots=bots, odd=["directory-repeat-page"])
    proc = run(emu, tmp_path, "directory", "-o", "dir.xlsx")
    assert proc.returncode == 1, proc.stderr
    assert "bots were not read whole" in proc.stderr and "50 read, the account says 70" in proc.stderr
    about = {r["item"]: r["value"] for r in read_sheet(tmp_path / "dir.xlsx", "About")}
    assert about["complete"] == "no"


# -- bulkprov template ----------------------------------------------------------------------------------------


def test_template_from_account_fills_the_sheets_and_dropdowns_with_the_accounts_names(make_emulator, tmp_path):
    emu = make_emulator(users=[ADMIN])
    proc = run(emu, tmp_path, "template", "--from-account", "-o", "t.xlsx")
    assert proc.returncode == 0, proc.stderr
    assert "template written with the account's names (6 roles, 3 bots, 5 groups)" in proc.stdout
    path = tmp_path / "t.xlsx"
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["Users", "Roles", "Bots", "Groups", "Instructions", "Lists"]
    assert wb["Lists"].sheet_state == "hidden"
    groups = {r["name"]: r for r in read_sheet(path, "Groups")}
    assert groups["IT Operations"]["groupId"] == GROUP["IT Operations"] and groups["HR"]["host"] == emu.url
    headers = [c.value for c in wb["Users"][1]]
    sources = {str(v.sqref).split(":")[0]: v.formula1 for v in wb["Users"].data_validations.dataValidation}
    roles_col = openpyxl.utils.get_column_letter(headers.index("roles") + 1)
    groups_col = openpyxl.utils.get_column_letter(headers.index("groups") + 1)
    assert sources[f"{roles_col}2"].startswith("Lists!$A$2") and sources[f"{groups_col}2"].startswith("Lists!$B$2")
    lists = [[c.value for c in row] for row in wb["Lists"].iter_rows(min_row=2)]
    offered = {row[0] for row in lists if row[0]}
    assert {"Bot Admin", "Bot Tester@Support Bot", "Bot Owner@IT Helpdesk"} <= offered
    assert {row[1] for row in lists if row[1]} == set(GROUP)
    example = dict(zip(headers, [c.value for c in wb["Users"][2]], strict=True))
    assert example["roles"] == "Bot Developer@HR Assistant" and example["groups"] == "HR"
    # the template checks against its own sheets: only the example row's own email is refused
    checked = bulkprov("validate", str(path), "-o", str(tmp_path / "v.xlsx"))
    (row,) = read_sheet(tmp_path / "v.xlsx", "Results")
    assert checked.returncode == 1 and row["error_code"] == "template-example"
    assert "unknown-" not in row["reason"] and "column roles" not in row["reason"], row["reason"]


def test_template_from_account_uses_the_kept_directory_while_young(make_emulator, tmp_path):
    emu = make_emulator()
    assert run(emu, tmp_path, "template", "--from-account", "-o", "a.xlsx").returncode == 0
    asked = len(emu.state()["requests"])
    kept = run(emu, tmp_path, "template", "--from-account", "-o", "b.xlsx")
    assert kept.returncode == 0 and len(emu.state()["requests"]) == asked, "young: read from the state directory"
    assert "as kept on" in kept.stdout and "--refresh-directory" in kept.stdout
    fresh = run(emu, tmp_path, "template", "--from-account", "-o", "c.xlsx", "--refresh-directory")
    assert fresh.returncode == 0 and len(emu.state()["requests"]) > asked
    old = run(emu, tmp_path, "template", "--from-account", "-o", "d.xlsx", "--directory-max-age-hours", "0")
    assert old.returncode == 0 and "as kept on" not in old.stdout


def test_template_marks_its_sample_ids_as_examples(tmp_path):
    for lang in ("en", "ko", "ja"):
        path = tmp_path / f"t-{lang}.xlsx"
        assert bulkprov("template", "-o", str(path), "--lang", lang).returncode == 0
        for sheet in ("Roles", "Bots", "Groups"):
            rows = read_sheet(path, sheet)
            assert rows and all(r["note"] for r in rows), (lang, sheet)
        note = read_sheet(path, "Roles")[0]["note"]
        assert ("example" in note) if lang == "en" else ("bulkprov directory" in note and "example" not in note)


def test_template_connection_options_need_from_account(tmp_path):
    proc = bulkprov("template", "-o", str(tmp_path / "t.xlsx"), "--host", "https://bots.kore.ai")
    assert proc.returncode == 2 and "--host: only with --from-account" in proc.stderr
    assert not (tmp_path / "t.xlsx").exists()
    as_csv = bulkprov("template", "--from-account", "-o", str(tmp_path / "t.csv"), "--host", "https://bots.kore.ai")
    assert as_csv.returncode == 2 and "name the template .xlsx" in as_csv.stderr and not (tmp_path / "t.csv").exists()


# -- the canary ----------------------------------------------------------------------------------------------------


def test_a_bot_app_secret_appears_in_no_file_log_or_output(make_emulator, tmp_path):
    emu = make_emulator(replies="documented", bot_app_secret=CANARY, users=[ADMIN])
    outputs = [run(emu, tmp_path, "directory", "-o", "dir.xlsx", "--state-dir", "state"),
               run(emu, tmp_path, "directory", "-o", "dir.jsonl", "--state-dir", "state", "--log-format", "json"),
               run(emu, tmp_path, "template", "--from-account", "-o", "t.xlsx", "--state-dir", "state",
                   "--refresh-directory")]
    assert all(p.returncode in (0, 1) for p in outputs), [p.stderr for p in outputs]
    assert any(r["path"] == "/api/public/bots" for r in emu.state()["requests"])
    for proc in outputs:
        assert CANARY not in proc.stdout + proc.stderr
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.suffix == ".sqlite3" for p in files) and any(p.parent.name == "directory" for p in files)
    for path in files:
        assert CANARY.encode() not in _everything_in(path), path


def _everything_in(path) -> bytes:
    data = path.read_bytes()
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            data += b"".join(z.read(n) for n in z.namelist())
    if path.suffix == ".sqlite3":
        with sqlite3.connect(path) as db:
            data += "".join(str(row) for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")
                            for row in db.execute(f"SELECT * FROM {table}")).encode()
    return data


# -- server refusals in words ---------------------------------------------------------------------------------------


def _roster_with_sheets(path, rows, roles=(), groups=(), bots=()):
    import xlsxwriter

    wb = xlsxwriter.Workbook(str(path))
    users = wb.add_worksheet("Users")
    users.write_row(0, 0, ["emailId", "roles", "groups"])
    for r, row in enumerate(rows, start=1):
        users.write_row(r, 0, row)
    for sheet, id_col, entries in (("Roles", "roleId", roles), ("Groups", "groupId", groups), ("Bots", "botId", bots)):
        ws = wb.add_worksheet(sheet)
        ws.write_row(0, 0, ["name", id_col])
        for r, entry in enumerate(entries, start=1):
            ws.write_row(r, 0, entry)
    wb.close()


@pytest.mark.parametrize("replies", ["full", "documented"])
def test_a_refused_role_bot_or_group_is_named_by_name_and_id(make_emulator, tmp_path, replies):
    # without the Role Management scope the account's directory cannot be read: the roster's own sheets give the ids
    # (with it, a sheet that disagrees with the account is a row error before anything is sent: test_names_e2e)
    emu = make_emulator(replies=replies, role_management_scope=False)
    wrong_role, wrong_group = "5c9d0a7e3f1b2a4c6d8e0f12", "e-06b41cdd-7678-5394-b958-000000000000"
    roster = tmp_path / "roster.xlsx"
    _roster_with_sheets(roster, [
        ["a@acme-corp.com", "Bot Tester@Support Bot", ""],
        ["b@acme-corp.com", "", "Sales; Support Team"],
        ["c@acme-corp.com", f"{wrong_role}@Support Bot", ""],
        ["d@acme-corp.com", "Bot Tester@Support Bot; Bot Owner@Support Bot", ""],
    ], roles=[("Bot Tester", wrong_role), ("Bot Owner", "5c9d0a7e3f1b2a4c6d8e0f99")],
        groups=[("Sales", GROUP["Sales"]), ("Support Team", wrong_group)], bots=[("Support Bot", BOT["Support Bot"])])
    proc = run(emu, tmp_path, "add", str(roster), "--no-send-email", "-o", "r.xlsx")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    reasons = {r["emailId"]: r["reason"] for r in read_sheet(tmp_path / "r.xlsx", "Results")}
    assert reasons["a@acme-corp.com"] == ("role 'Bot Tester' (5c9d…0f12) does not exist on this account (the server "
                                          "said: INVALID_ROLE_ID)")
    # the server does not say which group: both of the row's are named (the account's directory narrows it, #28 phase 2)
    assert reasons["b@acme-corp.com"].startswith(
        f"one of the groups 'Sales' ({short_id(GROUP['Sales'])}), 'Support Team' (e-06…0000) does not exist")
    assert reasons["c@acme-corp.com"].startswith("role 5c9d…0f12 does not exist on this account")
    assert reasons["d@acme-corp.com"].startswith(
        "one of the roles 'Bot Tester' (5c9d…0f12), 'Bot Owner' (5c9d…0f99) does not exist on this account")
    assert "row 2, a@acme-corp.com: server-refused — role 'Bot Tester' (5c9d…0f12)" in proc.stdout


# -- a profile, the state directory, the rate budget shared through it --------------------------------------------


def test_directory_and_template_take_the_profile_and_share_the_budget_through_the_ledger(make_emulator, tmp_path):
    from bulkprov.emulator import EmulatorConfig

    emu = make_emulator()
    config = EmulatorConfig()
    (tmp_path / "kore.env").write_text(f"KORE_CLIENT_ID={config.client_id}\nKORE_CLIENT_SECRET={config.client_secret}\n",
                                       encoding="utf-8")
    (tmp_path / "bulkprov.toml").write_text(
        f'[profiles.hr]\nhost = "{emu.url}"\nenv_file = "kore.env"\nstate_dir = "hr-state"\nrate = "30/1"\n'
        'directory_max_age_hours = 0\n', encoding="utf-8")
    first = bulkprov("directory", "--profile", "hr", "-o", "a.xlsx", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    asked = len(emu.state()["requests"])
    again = bulkprov("directory", "--profile", "hr", "-o", "b.xlsx", cwd=tmp_path)
    assert again.returncode == 0 and len(emu.state()["requests"]) == 2 * asked, "directory always reads the account"
    with sqlite3.connect(tmp_path / "hr-state" / "ledger.sqlite3") as db:
        (kept,) = db.execute("SELECT count(*) FROM budget WHERE host = ?", (emu.url,)).fetchone()
    assert kept >= asked, "the requests it made are the next run's to count"
    assert len(list((tmp_path / "hr-state" / "directory").iterdir())) == 1
    template = bulkprov("template", "--from-account", "--profile", "hr", "-o", "t.xlsx", cwd=tmp_path)
    assert template.returncode == 0 and "as kept on" not in template.stdout, "the profile's age of 0: read again"


def test_template_from_account_without_the_scope_stops_and_writes_nothing(make_emulator, tmp_path):
    emu = make_emulator(odd=["directory-forbidden"])
    proc = run(emu, tmp_path, "template", "--from-account", "-o", "t.xlsx")
    assert proc.returncode == 3 and "Role Management" in proc.stderr and not (tmp_path / "t.xlsx").exists()


def test_the_dropdowns_accept_several_entries(make_emulator, tmp_path):
    emu = make_emulator()
    assert run(emu, tmp_path, "template", "--from-account", "-o", "t.xlsx").returncode == 0
    lists = [v for v in openpyxl.load_workbook(tmp_path / "t.xlsx")["Users"].data_validations.dataValidation
             if v.formula1.startswith("Lists!")]
    assert len(lists) == 2 and not any(v.showErrorMessage for v in lists), "Support Agents; HR stays allowed"


def test_mock_server_offset_and_directory_switches_from_the_command_line(tmp_path):
    import os
    import signal
    import subprocess
    import sys

    from tests.conftest import ROOT

    server = subprocess.Popen([sys.executable, "-m", "bulkprov", "mock-server", "--port", "0", "--rate", "none",
                               "--directory-offset", "records", "--odd", "directory-short-pages"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        url = server.stdout.readline().split(" listening on ")[1].split(" ")[0]
        env = kore_env(type("Emu", (), {"url": url}))
        proc = bulkprov("directory", "-o", str(tmp_path / "d.jsonl"), "--state-dir", str(tmp_path / "s"), env=env)
        assert proc.returncode == 0, proc.stderr
        assert len((tmp_path / "d.jsonl").read_text(encoding="utf-8").splitlines()) == 6 + 3 + 5
        bad = bulkprov("mock-server", "--port", "0", "--directory-offset", "rows")
        assert bad.returncode == 2 and "Traceback" not in bad.stderr
    finally:
        os.kill(server.pid, signal.SIGTERM)
        server.communicate(timeout=10)


def test_hostile_names_from_the_account_stay_text(make_emulator, tmp_path):
    hostile = {"e-0000000a-0000-4000-8000-000000000000": '=HYPERLINK("http://evil.example","x")',
               "e-0000000b-0000-4000-8000-000000000000": "<r><t>rich</t></r>",
               "e-0000000c-0000-4000-8000-000000000000": "+1 & <b>bold</b>\x07"}
    emu = make_emulator(groups=hostile)
    for name in ("d.xlsx", "d.csv"):
        assert run(emu, tmp_path, "directory", "-o", name).returncode == 0
    wb = openpyxl.load_workbook(tmp_path / "d.xlsx")
    cells = {row[1].value: row[0] for row in wb["Groups"].iter_rows(min_row=2)}
    for gid, name in hostile.items():
        assert cells[gid].data_type == "s" and cells[gid].value == name.replace("\x07", "_x0007_"), name
    flat = list(csv.DictReader((tmp_path / "d.csv").read_text(encoding="utf-8-sig").splitlines()))
    names = {r["id"]: r["name"] for r in flat}
    assert names["e-0000000a-0000-4000-8000-000000000000"].startswith("'=HYPERLINK"), "a formula never runs in Excel"
