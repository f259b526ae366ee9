"""Names everywhere a roster has ids (#28 phase 2), end to end: the CLI as a real process against the emulator in
``documented`` mode, its files read back with openpyxl; the account written to is the truth."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from bulkprov.emulator import demo_seed
from tests.cli.test_cli import bulkprov, kore_env
from tests.conftest import read_sheet, results_by_row

SEED = demo_seed()
ROLE = {r["name"]: r["roleId"] for r in SEED["roles"]}
BOT = {b["name"]: b["botId"] for b in SEED["bots"]}
DIALOGS = {b["name"]: b["dialogs"] for b in SEED["bots"]}
GROUP = {g["name"]: g["groupId"] for g in SEED["groups"]}
G_KO, G_JA = "e-33333333-4444-4555-8666-777777777777", "e-44444444-5555-4666-8777-888888888888"
G_TWIN_A, G_TWIN_B = "e-55555555-6666-4777-8888-999999999999", "e-66666666-7777-4888-8999-aaaaaaaaaaaa"
GROUPS = {**{g["groupId"]: g["name"] for g in SEED["groups"]}, G_KO: "영업 1팀", G_JA: "サポート担当",
          G_TWIN_A: "Night Shift", G_TWIN_B: "Night Shift"}
# An admin role in the documented roles reply has no _id: a user of the account holding it maps it.
HOLDER = {"userInfo": {"emailId": "root@acme-corp.com"}, "roles": [{"roleId": ROLE["Bot Admin"]}]}

# (roles, groups, botTasks) as HR writes them -- names only, spaces, case, full width, Korean and Japanese -- and
# what each must become on the account.
WRITTEN = [
    ("Bot Tester@Support Bot", "Support Agents", "", [(ROLE["Bot Tester"], BOT["Support Bot"])], [GROUP["Support Agents"]]),
    ("bot  tester@support bot; Bot Admin", "ＳＡＬＥＳ", "", [(ROLE["Bot Tester"], BOT["Support Bot"]),
                                                            (ROLE["Bot Admin"], None)], [GROUP["Sales"]]),
    ("Bot Developer@HR Assistant", "영업 1팀; サポート担当", "", [(ROLE["Bot Developer"], BOT["HR Assistant"])], [G_KO, G_JA]),
    ("", "hr; managers", f"IT Helpdesk:{DIALOGS['IT Helpdesk'][0]}", [], [GROUP["HR"], GROUP["Managers"]]),
    ("BOT OWNER@it helpdesk", "IT Operations", "", [(ROLE["Bot Owner"], BOT["IT Helpdesk"])], [GROUP["IT Operations"]]),
]


def run(emu, tmp_path: Path, *args: str):
    return bulkprov(*args, env=kore_env(emu), cwd=tmp_path)


def write_names_roster(path: Path, n: int = 30) -> dict[str, tuple]:
    """A CSV roster of ``n`` users written with names only; email -> what the row must become."""
    expected = {}
    with open(path, "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["Email", "First Name", "Last Name", "roles", "groups", "botTasks"])
        for i in range(n):
            roles, groups, tasks, want_roles, want_groups = WRITTEN[i % len(WRITTEN)]
            email = f"hr{i:03d}@acme-corp.com"
            out.writerow([email, f"F{i}", f"L{i}", roles, groups, tasks])
            expected[email] = (want_roles, want_groups, tasks)
    return expected


def stored(emu) -> dict[str, dict]:
    return {u["userInfo"]["emailId"]: u for u in emu.state()["users"]}


def roles_of(user: dict) -> set[tuple[str, str | None]]:
    roles = user.get("roles") or {}
    return ({(r["roleId"], r.get("botId")) for r in roles.get("btRoles", [])}
            | {(r["roleId"], None) for r in roles.get("adminRoles", [])})


def test_a_names_only_roster_is_added_with_the_right_ids(make_emulator, tmp_path):
    emu = make_emulator(replies="documented", users=[HOLDER], groups=GROUPS)
    roster = tmp_path / "roster.csv"
    expected = write_names_roster(roster, 30)
    proc = run(emu, tmp_path, "add", str(roster), "--no-send-email", "-o", "r.xlsx")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    users = stored(emu)
    for email, (want_roles, want_groups, tasks) in expected.items():
        user = users[email]
        assert roles_of(user) == set(want_roles), email
        assert {g["groupId"] for g in user.get("groups", [])} == set(want_groups), email
        if tasks:
            assert [t["botId"] for t in user["assignBotTasks"]] == [BOT["IT Helpdesk"]]
    text = str(read_sheet(tmp_path / "r.xlsx", "Summary"))
    assert f"the account's directory at {emu.url}" in text
    # the directory was read once, with the documented page sizes, and kept for the next run
    counts = emu.state()["counts"]
    assert (counts["roles_calls"], counts["bots_calls"], counts["groups_calls"]) == (2, 1, 1)
    assert len(list((tmp_path / ".bulkprov" / "directory").iterdir())) == 1


def test_an_unknown_name_is_a_row_error_with_did_you_mean_after_one_refresh(make_emulator, tmp_path):
    emu = make_emulator(replies="documented", groups=GROUPS)
    roster = tmp_path / "roster.csv"
    roster.write_text("emailId,groups,roles\n"
                      "a@acme-corp.com,Suport Agents,\n"
                      "b@acme-corp.com,Night Shift,\n"
                      "c@acme-corp.com,,Bot Tester\n"
                      "d@acme-corp.com,Sales,\n", encoding="utf-8")
    proc = run(emu, tmp_path, "validate", str(roster), "--host", emu.url, "-o", "v.xlsx")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"names are checked against the account at {emu.url}" in proc.stderr
    results = results_by_row(tmp_path / "v.xlsx")
    assert results[2]["error_code"] == "unknown-group"
    assert "group 'Suport Agents' is not on this account; did you mean 'Support Agents'" in results[2]["reason"]
    assert results[3]["error_code"] == "ambiguous-name"
    assert G_TWIN_A in results[3]["reason"] and G_TWIN_B in results[3]["reason"]
    assert results[4]["error_code"] == "wrong-role-type" and "Bot Tester@BOT NAME" in results[4]["reason"]
    assert results[5]["status"] == "valid"
    # read now, so not again: an unknown name costs no second read of a directory read moments ago
    assert emu.state()["counts"]["groups_calls"] == 1


def test_a_group_created_after_the_kept_copy_is_found_by_the_one_refresh(make_emulator, tmp_path):
    emu = make_emulator(replies="documented", groups=GROUPS)
    roster = tmp_path / "roster.csv"
    roster.write_text("emailId,groups\na@acme-corp.com,Support Agents\n", encoding="utf-8")
    assert run(emu, tmp_path, "validate", str(roster), "--host", emu.url, "-o", "v1.xlsx").returncode == 0
    new_group = "e-77777777-8888-4999-8aaa-bbbbbbbbbbbb"
    emu.reconfigure(groups={**GROUPS, new_group: "Created This Morning"})
    roster.write_text("emailId,groups\na@acme-corp.com,Support Agents\nb@acme-corp.com,created this morning\n"
                      "c@acme-corp.com,Never Created\nd@acme-corp.com,Never Created Either\n", encoding="utf-8")
    proc = run(emu, tmp_path, "add", str(roster), "--no-send-email", "-o", "r.xlsx")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    results = results_by_row(tmp_path / "r.xlsx")
    assert results[3]["status"] == "success" and results[4]["error_code"] == "unknown-group"
    assert [g["groupId"] for g in stored(emu)["b@acme-corp.com"]["groups"]] == [new_group]
    assert emu.state()["counts"]["groups_calls"] == 2, "kept copy first, then one refresh for both unknown names"


def test_ids_alone_read_no_directory(make_emulator, tmp_path):
    emu = make_emulator(replies="documented")
    roster = tmp_path / "roster.csv"
    roster.write_text(f"emailId,groups,roles\na@acme-corp.com,{GROUP['Sales']},{ROLE['Bot Tester']}@{BOT['Support Bot']}\n",
                      encoding="utf-8")
    proc = run(emu, tmp_path, "add", str(roster), "--no-send-email", "-o", "r.xlsx")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    counts = emu.state()["counts"]
    assert counts["roles_calls"] == counts["groups_calls"] == counts["bots_calls"] == 0


def test_validate_is_offline_without_a_host_flag_or_profile_and_says_so(make_emulator, tmp_path):
    emu = make_emulator(replies="documented")
    roster = tmp_path / "roster.csv"
    roster.write_text("emailId,groups\na@acme-corp.com,Support Agents\n", encoding="utf-8")
    proc = run(emu, tmp_path, "validate", str(roster), "-o", "v.xlsx")  # KORE_HOST is in the environment
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "validate (offline)" in proc.stderr and "--host or --profile" in proc.stderr
    assert results_by_row(tmp_path / "v.xlsx")[2]["error_code"] == "unknown-group"
    assert emu.state()["requests"] == []
    # a profile's host takes it online, and the profile's language and strict_ids reach validate
    (tmp_path / "bulkprov.toml").write_text(f'[profiles.hr]\nhost = "{emu.url}"\nlang = "ko"\nstrict_ids = false\n',
                                            encoding="utf-8")
    roster.write_text("emailId,groups,roles\na@acme-corp.com,Support Agents,\nb@acme-corp.com,,abc123def456abc123def4\n",
                      encoding="utf-8")
    proc = run(emu, tmp_path, "validate", str(roster), "--profile", "hr", "-o", "v2.xlsx")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert emu.url in proc.stderr and emu.state()["counts"]["groups_calls"] == 1
    assert "명령" in str(read_sheet(tmp_path / "v2.xlsx", "Summary")), "the profile's language"
    assert results_by_row(tmp_path / "v2.xlsx")[3]["status"] == "valid", "the profile's strict_ids = false"


def test_a_refused_role_management_scope_falls_back_to_the_sheets_and_says_so(make_emulator, tmp_path):
    import xlsxwriter

    emu = make_emulator(replies="documented", role_management_scope=False)
    roster = tmp_path / "roster.xlsx"
    wb = xlsxwriter.Workbook(str(roster))
    users = wb.add_worksheet("Users")
    users.write_row(0, 0, ["emailId", "groups"])
    users.write_row(1, 0, ["a@acme-corp.com", "Helpdesk"])          # the roster's own unstamped sheet: used
    users.write_row(2, 0, ["b@acme-corp.com", "Support Agents"])    # only another host's sheet knows it
    users.write_row(3, 0, ["c@acme-corp.com", GROUP["Sales"]])       # an id: sent as written
    groups = wb.add_worksheet("Groups")
    groups.write_row(0, 0, ["name", "groupId", "host"])
    groups.write_row(1, 0, ["Helpdesk", GROUP["Support Agents"], ""])
    groups.write_row(2, 0, ["Support Agents", "e-aaaaaaaa-0000-4000-8000-000000000000", "https://other.example.com"])
    wb.close()
    proc = run(emu, tmp_path, "add", str(roster), "--no-send-email", "-o", "r.xlsx")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "could not be read" in proc.stderr and "Role Management" in proc.stderr
    results = results_by_row(tmp_path / "r.xlsx")
    assert results[2]["status"] == "success" and results[4]["status"] == "success"
    assert results[3]["error_code"] == "directory-unavailable" and "https://other.example.com" in results[3]["reason"]
    assert [g["groupId"] for g in stored(emu)["a@acme-corp.com"]["groups"]] == [GROUP["Support Agents"]]
    assert "b@acme-corp.com" not in stored(emu)
    summary = str(read_sheet(tmp_path / "r.xlsx", "Summary"))
    assert "could not be read" in summary


@pytest.mark.parametrize("cell, code", [("Sales; EMEA", "ambiguous-name")])
def test_a_name_holding_a_separator_matches_only_by_id(make_emulator, tmp_path, cell, code):
    sep = "e-88888888-8888-4999-8aaa-bbbbbbbbbbbb"
    emu = make_emulator(replies="documented", groups={**GROUPS, sep: "Sales; EMEA"})
    roster = tmp_path / "roster.csv"
    roster.write_text(f'emailId,groups\na@acme-corp.com,"{cell}"\nb@acme-corp.com,{sep}\n', encoding="utf-8")
    proc = run(emu, tmp_path, "validate", str(roster), "--host", emu.url, "-o", "v.xlsx")
    results = results_by_row(tmp_path / "v.xlsx")
    assert results[2]["error_code"] == code and sep in results[2]["reason"], proc.stderr
    assert results[3]["status"] == "valid"


# -- the page: the same names, no lookup sheet -----------------------------------------------------------------------


async def test_the_page_adds_a_names_only_roster_with_the_right_ids(make_emulator, tmp_path, monkeypatch):
    from aiohttp.test_utils import TestClient, TestServer

    from bulkprov.web import create_app
    from bulkprov.web import preview as preview_module
    from tests.web.test_web import _wait_for_job, login, upload_form, web_config

    reads = []
    original_load = preview_module.load
    monkeypatch.setattr(preview_module, "load", lambda path, settings: reads.append(path) or original_load(path, settings))

    canary = "CANARY-page-secret-of-a-bot-app"
    emu = make_emulator(replies="documented", users=[HOLDER], groups=GROUPS, bot_app_secret=canary)
    roster = tmp_path / "roster.csv"
    expected = write_names_roster(roster, 30)
    roster.write_text(roster.read_text(encoding="utf-8") + "typo@acme-corp.com,T,T,,Suport Agents,\n",
                      encoding="utf-8")
    config = web_config(tmp_path, host=emu.url)
    async with TestClient(TestServer(create_app(config))) as client:
        csrf = await login(client)
        resp = await client.post("/upload", data=upload_form(csrf, roster.read_bytes(), filename="roster.csv"),
                                 allow_redirects=False)
        report_url = resp.headers["Location"]
        report = await (await client.get(report_url)).text()
        assert "31</strong> rows" in report and "1 invalid" in report, report
        assert "unknown-group" in report and "did you mean &#39;Support Agents&#39;" in report
        assert len(reads) == 1, "the check reads the upload once, the account's names asked for on the way"
        assert len(emu.state()["users"]) == 1, "checking sends nothing"
        resp = await client.post(report_url.split("?")[0] + "/run", data={"csrf": csrf, "action": "add", "email": "no"},
                                 allow_redirects=False)
        job_url = resp.headers["Location"]
        status = await _wait_for_job(client, job_url, timeout=60)
        assert status["state"] == "finished" and status["done"] == 30, status
        page = await (await client.get(job_url)).text()
        assert canary not in report + page
    users = stored(emu)
    for email, (want_roles, want_groups, _tasks) in expected.items():
        assert roles_of(users[email]) == set(want_roles), email
        assert {g["groupId"] for g in users[email].get("groups", [])} == set(want_groups), email
    for path in (p for p in tmp_path.rglob("*") if p.is_file()):
        from tests.directory.test_directory_cli import _everything_in

        assert canary.encode() not in _everything_in(path), path


def test_online_a_lookup_sheet_supplies_only_ids_the_account_has(make_emulator, tmp_path):
    import xlsxwriter

    emu = make_emulator(replies="documented", users=[HOLDER])
    roster = tmp_path / "roster.xlsx"
    wb = xlsxwriter.Workbook(str(roster))
    users = wb.add_worksheet("Users")
    users.write_row(0, 0, ["emailId", "groups", "roles"])
    users.write_row(1, 0, ["a@acme-corp.com", "Helpdesk", ""])       # a nickname for the account's id: used
    users.write_row(2, 0, ["b@acme-corp.com", "Old Team", ""])       # the sheet's id is not the account's
    users.write_row(3, 0, ["c@acme-corp.com", "Sales", ""])          # the sheet disagrees with the account
    users.write_row(4, 0, ["d@acme-corp.com", "", "Master Admin"])   # an admin role nobody holds: no id to give
    users.write_row(5, 0, ["e@acme-corp.com", "", "bot admin"])      # held by a user: mapped from the pair
    groups = wb.add_worksheet("Groups")
    groups.write_row(0, 0, ["name", "groupId"])
    groups.write_row(1, 0, ["Helpdesk", GROUP["Support Agents"]])
    groups.write_row(2, 0, ["Old Team", "e-aaaaaaaa-0000-4000-8000-000000000000"])
    groups.write_row(3, 0, ["Sales", "e-bbbbbbbb-0000-4000-8000-000000000000"])
    wb.close()
    env_file = tmp_path / "kore.env"  # --env-file naming a host takes validate online too
    env_file.write_text(f"KORE_HOST={emu.url}\nKORE_CLIENT_ID={kore_env(emu)['KORE_CLIENT_ID']}\n"
                        f"KORE_CLIENT_SECRET={kore_env(emu)['KORE_CLIENT_SECRET']}\n", encoding="utf-8")
    proc = bulkprov("validate", str(roster), "--env-file", str(env_file), "-o", "v.xlsx", cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"checked against the account at {emu.url}" in proc.stderr
    results = results_by_row(tmp_path / "v.xlsx")
    assert results[2]["status"] == "valid"
    assert results[3]["error_code"] == "not-on-account" and "e-aaaaaaaa" in results[3]["reason"]
    assert results[4]["error_code"] == "name-disagrees" and GROUP["Sales"] in results[4]["reason"]
    assert results[5]["error_code"] == "unmappable-role"
    assert results[6]["status"] == "valid"


def test_a_dry_run_without_credentials_checks_offline_and_says_so(make_emulator, tmp_path):
    emu = make_emulator(replies="documented")
    roster = tmp_path / "roster.csv"
    roster.write_text("emailId,groups\na@acme-corp.com,Support Agents\n", encoding="utf-8")
    proc = bulkprov("add", str(roster), "--dry-run", "-o", "d.xlsx", env={"KORE_HOST": emu.url}, cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "dry run (offline, no credentials)" in proc.stderr
    assert results_by_row(tmp_path / "d.xlsx")[2]["error_code"] == "unknown-group"
    with_credentials = run(emu, tmp_path, "add", str(roster), "--dry-run", "-o", "d2.xlsx")
    assert with_credentials.returncode == 0, with_credentials.stdout + with_credentials.stderr
    assert emu.state()["users"] == [] and emu.state()["counts"]["groups_calls"] == 1


def test_the_templates_example_ids_never_stand_for_the_accounts_names(make_emulator, tmp_path):
    import openpyxl

    emu = make_emulator(replies="documented", groups=GROUPS)
    assert bulkprov("template", "-o", "t.xlsx", cwd=tmp_path).returncode == 0
    wb = openpyxl.load_workbook(tmp_path / "t.xlsx")
    ws = wb["Users"]
    headers = [c.value for c in ws[1]]
    for col in range(1, len(headers) + 1):
        ws.cell(2, col).value = None
    ws.cell(2, headers.index("emailId") + 1).value = "new@acme-corp.com"
    ws.cell(2, headers.index("roles") + 1).value = "Bot Tester@Support Bot"   # the sheets' example names
    ws.cell(2, headers.index("groups") + 1).value = "Support Agents"
    wb.save(tmp_path / "filled.xlsx")
    proc = run(emu, tmp_path, "add", "filled.xlsx", "--no-send-email", "-o", "r.xlsx")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert roles_of(stored(emu)["new@acme-corp.com"]) == {(ROLE["Bot Tester"], BOT["Support Bot"])}


def test_a_name_not_found_in_a_directory_not_read_whole_says_so(make_emulator, tmp_path):
    many = {f"e-{i:08x}-0000-4000-8000-000000000000": f"Team {i:03d}" for i in range(70)}
    emu = make_emulator(replies="documented", groups=many, odd=["directory-repeat-page"])
    roster = tmp_path / "roster.csv"
    roster.write_text("emailId,groups\na@acme-corp.com,Team 001\nb@acme-corp.com,Team 065\n", encoding="utf-8")
    proc = run(emu, tmp_path, "validate", str(roster), "--host", emu.url, "-o", "v.xlsx")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    results = results_by_row(tmp_path / "v.xlsx")
    assert results[2]["status"] == "valid"
    assert results[3]["error_code"] == "unknown-group" and "could not be read whole" in results[3]["reason"]
    assert "groups were not read whole" in proc.stderr


def test_the_kept_directory_is_used_while_young_unless_refresh_directory(make_emulator, tmp_path):
    emu = make_emulator(replies="documented", groups=GROUPS)
    roster = tmp_path / "roster.csv"
    roster.write_text("emailId,groups\na@acme-corp.com,Support Agents\n", encoding="utf-8")
    for extra, calls in (((), 1), ((), 1), (("--refresh-directory",), 2), (("--directory-max-age-hours", "0"), 3)):
        proc = run(emu, tmp_path, "validate", str(roster), "--host", emu.url, "-o", "v.xlsx", "--replace-output",
                   *extra)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert emu.state()["counts"]["groups_calls"] == calls, extra


def test_a_big_roster_written_by_name_is_checked_twice_at_most_one_chunk(make_emulator, creds, tmp_path, monkeypatch):
    from bulkprov.check.validator import Validator
    from bulkprov.jobs import JobSettings, run_job
    from bulkprov.jobs.frame import CHECK_CHUNK

    emu = make_emulator(replies="documented", groups=GROUPS)
    roster = tmp_path / "roster.csv"
    rows = 3 * CHECK_CHUNK
    roster.write_text("emailId,groups\n" + "".join(f"u{i:05d}@acme-corp.com,Support Agents\n" for i in range(rows)),
                      encoding="utf-8")
    calls = []
    original = Validator.check
    monkeypatch.setattr(Validator, "check", lambda self, raw: calls.append(raw.row) or original(self, raw))
    outcome = run_job(roster, JobSettings(command="add", host=emu.url, rate="none", send_email=False,
                                          output=tmp_path / "r.xlsx", state_dir=tmp_path / "state"), credentials=creds)
    assert outcome.exit_code == 0
    assert len(calls) == rows + CHECK_CHUNK, "the first chunk again once the directory is read, no other row"
    assert len(emu.state()["users"]) == rows
