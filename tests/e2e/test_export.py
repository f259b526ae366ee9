"""``bulkprov export``: the whole account, paged, as a workbook that validate accepts and plan finds unchanged."""

from __future__ import annotations

import pytest

from bulkprov.emulator import demo_seed
from bulkprov.errors import AuthRefused
from bulkprov.jobs import JobSettings, run_job
from bulkprov.jobs.export import export_account
from tests.conftest import read_sheet

SEED = demo_seed()
ROLE = {r["name"]: r["roleId"] for r in SEED["roles"]}
BOT = {b["name"]: b["botId"] for b in SEED["bots"]}
DIALOGS = {b["name"]: b["dialogs"] for b in SEED["bots"]}
GROUP = {g["name"]: g["groupId"] for g in SEED["groups"]}
DEPTS = ["Sales", "HR", "IT Operations"]


def account(n: int) -> list[dict]:
    users = []
    for i in range(n):
        user = {"userInfo": {"emailId": f"emp{i:05d}@acme-corp.com", "orgUserId": f"E{i:05d}",
                             "firstName": f"First{i}", "lastName": f"Last{i}", "dept": DEPTS[i % 3]},
                "groups": [GROUP[DEPTS[i % 3]]], "canCreateBot": i % 50 == 0, "isDeveloper": False}
        if i % 5 == 0:
            user["roles"] = [{"roleId": ROLE["Bot Tester"], "botId": BOT["Support Bot"]}]
        if i % 7 == 0:
            user["roles"] = [*user.get("roles", []), {"roleId": ROLE["Bot Admin"]}]
        if i % 11 == 0:
            user["assignBotTasks"] = [{"botId": BOT["HR Assistant"], "dialogs": DIALOGS["HR Assistant"][:2]}]
        users.append(user)
    return users


def export_settings(emu, tmp_path, **kw) -> JobSettings:
    kw.setdefault("rate", "none")
    return JobSettings(command="export", host=emu.url, output=tmp_path / "account.xlsx", **kw)


@pytest.mark.parametrize("replies", ["full", "documented"])
def test_export_2500_users_validates_and_plans_no_change(make_emulator, creds, tmp_path, replies):
    emu = make_emulator(users=account(2500), replies=replies, rate_windows=[(40, 1.0)], page_limit=100)
    seen = []
    out = export_account(export_settings(emu, tmp_path, rate="40/1", concurrency=4), creds, progress=seen.append)
    assert out.users == 2500 and out.warnings == []
    state = emu.state()
    listed = [r for r in state["requests"] if r["path"] == "/api/public/alluserroles"]
    assert len(listed) == 25, "paged: 100 users a page (the server's cap), offset advanced by what came"
    assert state["counts"]["rate_refusals"] == 0, "paced within the budget"
    assert seen[-1]["final"] and seen[-1]["done"] == seen[-1]["total"] == 2500

    users = read_sheet(out.path, "Users")
    assert len(users) == 2500
    first = users[0]
    assert (first["emailId"], first["orgUserId"], first["firstName"]) == ("emp00000@acme-corp.com", "E00000", "First0")
    # names in the list cells (#28), the ids beside them
    assert first["roles"] == "Bot Admin; Bot Tester@Support Bot" and first["groups"] == "Sales"
    assert first["roleIds"] == f"{ROLE['Bot Admin']}; {ROLE['Bot Tester']}@{BOT['Support Bot']}"
    assert first["groupIds"] == GROUP["Sales"]
    assert users[11]["botTasks"] == f"HR Assistant:{','.join(DIALOGS['HR Assistant'][:2])}"
    assert first["canCreateBot"] == "TRUE"
    groups = read_sheet(out.path, "Groups")  # the account's every group (its directory), stamped with its host
    assert {r["name"] for r in groups} == {"Sales", "HR", "IT Operations", "Support Agents", "Managers"}
    assert {r["host"] for r in groups} == {emu.url}

    checked = run_job(out.path, JobSettings(command="validate", output=tmp_path / "validate.xlsx"))
    assert checked.exit_code == 0 and checked.summary.warnings == []

    emu.reconfigure(rate_windows=[])
    plan = run_job(out.path, JobSettings(command="plan", host=emu.url, rate="none", output=tmp_path / "plan.xlsx",
                                         state_dir=tmp_path / "state", builder_confirm=1000), credentials=creds)
    assert plan.exit_code == 0
    summary = [r["value"] for r in read_sheet(plan.results_path, "Summary") if not r["item"]]
    changes = read_sheet(plan.results_path, "Update")
    # A documented usersInfo reply has no orgUserId: plan takes it from the account listing (#27).
    assert "0 to add, 0 to update, 2500 unchanged, 0 to remove, 0 invalid rows" in summary
    assert changes == []


def test_export_without_the_role_management_scope_says_so(make_emulator, creds, tmp_path):
    emu = make_emulator(replies="documented", role_management_scope=False, users=account(3))
    with pytest.raises(AuthRefused) as err:
        export_account(export_settings(emu, tmp_path), creds)
    assert "Role Management" in err.value.message and not (tmp_path / "account.xlsx").exists()


def test_export_from_the_command_line(make_emulator, tmp_path):
    from tests.cli.test_cli import bulkprov, kore_env

    emu = make_emulator(users=account(30), replies="documented")
    proc = bulkprov("export", "-o", str(tmp_path / "all.xlsx"), "--rate", "none", env=kore_env(emu))
    assert proc.returncode == 0, proc.stderr
    assert "export: 30 users" in proc.stdout and (tmp_path / "all.xlsx").is_file()
