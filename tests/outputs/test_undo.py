"""Undo files restore the account: add → undo → empty; remove → undo → users back as they were."""

from __future__ import annotations

from bulkprov.jobs import JobSettings, run_job
from tests.conftest import read_sheet, write_roster
from tests.e2e.test_jobs import _write_lookups


def job(emu, tmp_path, command, name, **kw):
    return JobSettings(command=command, host=emu.url, rate="none", output=tmp_path / f"{name}.xlsx",
                       state_dir=tmp_path / "state", **kw)


def users_by_email(emu) -> dict[str, dict]:
    return {u["userInfo"]["emailId"]: u for u in emu.state()["users"]}


def comparable(user: dict) -> dict:
    info = {k: v for k, v in user["userInfo"].items() if k not in ("userId", "activationStatus")}
    return {"info": info, "groups": sorted(g["groupId"] for g in user["groups"]),
            "roles": sorted((r["roleId"], r.get("botId", "")) for r in user["roles"]["btRoles"] + user["roles"]["adminRoles"]),
            "tasks": user.get("assignBotTasks"), "builder": (user["canCreateBot"], user["isDeveloper"])}


def test_add_then_undo_leaves_the_account_empty(make_emulator, creds, tmp_path):
    emu = make_emulator()
    roster = tmp_path / "roster.csv"
    write_roster(roster, 25, invalid={4: {"Email": "bad"}})
    added = run_job(roster, job(emu, tmp_path, "add", "add"), credentials=creds)
    assert added.undo_path is not None and len(emu.state()["users"]) == 24
    rows = read_sheet(added.undo_path, "Users")
    assert len(rows) == 24 and {r["action"] for r in rows} == {"remove"}
    undone = run_job(added.undo_path, job(emu, tmp_path, "apply", "undo"), credentials=creds)
    assert undone.exit_code == 0
    assert emu.state()["users"] == []


def test_remove_then_undo_brings_users_back_with_roles_and_groups(make_emulator, creds, tmp_path):
    emu = make_emulator()
    lookups = tmp_path / "lookups.xlsx"
    _write_lookups(lookups)
    roster = tmp_path / "roster.csv"
    write_roster(roster, 12, extra={i: {"groups": "Sales; HR", "roles": "Bot Tester@Support Bot; Bot Admin",
                                        "canCreateBot": "yes" if i % 2 else ""} for i in range(12)})
    assert run_job(roster, job(emu, tmp_path, "add", "add", lookups_file=lookups), credentials=creds).exit_code == 0
    before = {e: comparable(u) for e, u in users_by_email(emu).items()}
    removed = run_job(roster, job(emu, tmp_path, "remove", "remove"), credentials=creds)
    assert removed.exit_code == 0 and emu.state()["users"] == []
    restored = run_job(removed.undo_path, job(emu, tmp_path, "apply", "undo", send_email=False), credentials=creds)
    assert restored.exit_code == 0, read_sheet(restored.results_path, "Results")
    after = {e: comparable(u) for e, u in users_by_email(emu).items()}
    assert after == before


def test_update_then_undo_restores_previous_values(make_emulator, creds, tmp_path):
    emu = make_emulator()
    lookups = tmp_path / "lookups.xlsx"
    _write_lookups(lookups)
    roster = tmp_path / "roster.csv"
    write_roster(roster, 3, extra={0: {"groups": "Sales", "roles": "Bot Tester@Support Bot"}})
    run_job(roster, job(emu, tmp_path, "add", "add", lookups_file=lookups), credentials=creds)
    before = {e: comparable(u) for e, u in users_by_email(emu).items()}
    change = tmp_path / "change.csv"
    change.write_text("Email,Department,groups,roles,canCreateBot\n"
                      "user00000@acme-corp.com,Finance,-Sales;+HR,-Bot Tester@Support Bot,TRUE\n"
                      "user00001@acme-corp.com,Legal,Managers,,\n", encoding="utf-8")
    updated = run_job(change, job(emu, tmp_path, "update", "update", lookups_file=lookups), credentials=creds)
    assert updated.exit_code == 0
    assert users_by_email(emu)["user00000@acme-corp.com"]["userInfo"]["dept"] == "Finance"
    undo = {r["emailId"]: r for r in read_sheet(updated.undo_path, "Users")}
    assert undo["user00000@acme-corp.com"]["dept"] == "Sales" and undo["user00000@acme-corp.com"]["canCreateBot"] == "FALSE"
    restored = run_job(updated.undo_path, job(emu, tmp_path, "apply", "undo"), credentials=creds)
    assert restored.exit_code == 0
    assert {e: comparable(u) for e, u in users_by_email(emu).items()} == before


def test_add_remove_add_again_is_not_skipped(make_emulator, creds, tmp_path):
    emu = make_emulator()
    roster = tmp_path / "roster.csv"
    write_roster(roster, 4)
    assert run_job(roster, job(emu, tmp_path, "add", "a1"), credentials=creds).exit_code == 0
    assert run_job(roster, job(emu, tmp_path, "remove", "r1"), credentials=creds).exit_code == 0
    again = run_job(roster, job(emu, tmp_path, "add", "a2", force=True), credentials=creds)
    assert again.exit_code == 0 and len(emu.state()["users"]) == 4
    # Without --force too: the latest change of each user was the removal, so the add is not "done".
    run_job(roster, job(emu, tmp_path, "remove", "r2", force=True), credentials=creds)
    third = run_job(roster, job(emu, tmp_path, "add", "a3"), credentials=creds)
    statuses = {r["status"] for r in read_sheet(third.results_path, "Results")}
    assert statuses == {"success"} and len(emu.state()["users"]) == 4


def test_update_by_org_user_id_alone_is_undoable(make_emulator, creds, tmp_path):
    emu = make_emulator()
    roster = tmp_path / "roster.csv"
    write_roster(roster, 3)
    run_job(roster, job(emu, tmp_path, "add", "add"), credentials=creds)
    change = tmp_path / "change.csv"
    change.write_text("Employee ID,Department\nE000001,Finance\n", encoding="utf-8")
    updated = run_job(change, job(emu, tmp_path, "update", "update"), credentials=creds)
    assert updated.exit_code == 0 and updated.undo_path is not None, "the user was fetched by orgUserId first"
    (row,) = read_sheet(updated.undo_path, "Users")
    assert row["orgUserId"] == "E000001" and row["dept"] == "Support"
    assert run_job(updated.undo_path, job(emu, tmp_path, "apply", "undo"), credentials=creds).exit_code == 0
    assert users_by_email(emu)["user00001@acme-corp.com"]["userInfo"]["dept"] == "Support"
