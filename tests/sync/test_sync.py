"""Nightly sync: three nights against the emulator, the plan workbook cell by cell, the guards."""

from __future__ import annotations

import csv
from pathlib import Path

import openpyxl

from bulkprov import cli
from bulkprov.emulator import demo_seed
from bulkprov.jobs import JobSettings, run_job
from tests.conftest import read_sheet

SEED = demo_seed()
ROLE = {r["name"]: r["roleId"] for r in SEED["roles"]}
BOT = {b["name"]: b["botId"] for b in SEED["bots"]}
GROUP = {g["name"]: g["groupId"] for g in SEED["groups"]}
TESTER = f"{ROLE['Bot Tester']}@{BOT['Support Bot']}"
DEPTS = ["Sales", "HR", "IT Operations"]


def person(i: int, **changes) -> dict[str, str]:
    row = {"Email": f"emp{i:03d}@acme-corp.com", "First Name": f"First{i}", "Last Name": f"Last{i}",
           "Department": DEPTS[i % 3], "groups": GROUP[DEPTS[i % 3]], "roles": TESTER if i % 5 == 0 else ""}
    row.update(changes)
    return row


def write(path: Path, people: list[dict[str, str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(people[0]))
        writer.writeheader()
        writer.writerows(people)
    return path


def job(emu, tmp_path, command, name, **kw) -> JobSettings:
    return JobSettings(command=command, host=emu.url, rate="none", output=tmp_path / f"{name}.xlsx",
                       state_dir=tmp_path / "state", **kw)


def account(emu) -> dict[str, dict]:
    out = {}
    for u in emu.state()["users"]:
        roles = {f"{r['roleId']}@{r['botId']}" for r in u["roles"]["btRoles"]} | {
            r["roleId"] for r in u["roles"]["adminRoles"]}
        out[u["userInfo"]["emailId"]] = {"First Name": u["userInfo"].get("firstName"), "Department": u["userInfo"].get("dept"),
                                         "groups": {g["groupId"] for g in u["groups"]}, "roles": roles,
                                         "builder": (u["canCreateBot"], u["isDeveloper"])}
    return out


def assert_account_equals(emu, people: list[dict[str, str]]) -> None:
    now = account(emu)
    assert set(now) == {p["Email"] for p in people}
    for p in people:
        user = now[p["Email"]]
        assert user["First Name"] == p["First Name"] and user["Department"] == p["Department"]
        assert user["groups"] == {x for x in p["groups"].split(";") if x}
        assert user["roles"] == {x for x in p["roles"].split(";") if x}
        assert user["builder"] == (False, False), "least privilege"


def test_three_nights(make_emulator, creds, tmp_path):
    emu = make_emulator()
    night1 = [person(i) for i in range(50)]
    roster = write(tmp_path / "roster.csv", night1)
    first = run_job(roster, job(emu, tmp_path, "sync", "night1"), credentials=creds)
    assert first.exit_code == 0, read_sheet(first.results_path, "Results")[:3]
    assert_account_equals(emu, night1)

    # Night 2: 5 leavers, 3 joiners, 4 department changes, 2 role changes.
    leavers = {3, 17, 22, 38, 41}
    night2 = [p for i, p in enumerate(night1) if i not in leavers]
    by_email = {p["Email"]: p for p in night2}
    for i, dept in ((1, "Finance"), (2, "Legal"), (4, "Finance"), (6, "Legal")):
        by_email[f"emp{i:03d}@acme-corp.com"]["Department"] = dept
    by_email["emp007@acme-corp.com"]["roles"] = TESTER              # gains a role
    by_email["emp010@acme-corp.com"]["roles"] = ""                  # loses its role
    night2 += [person(i) for i in (50, 51, 52)]
    roster2 = write(tmp_path / "roster.csv", night2)
    plan = run_job(roster2, job(emu, tmp_path, "plan", "plan2"), credentials=creds)
    assert plan.exit_code == 0
    assert emu.state()["counts"]["updated"] == 0 and len(emu.state()["users"]) == 50, "plan changes nothing"
    wb = openpyxl.load_workbook(plan.results_path)
    update = [[c.value for c in row] for row in wb["Update"].iter_rows(min_row=2)]
    row_of = {p["Email"]: n for n, p in enumerate(night2, start=2)}
    named = "Bot Tester@Support Bot"  # the plan shows names a reviewer reads, the ids in their own columns
    assert update == [
        [row_of["emp001@acme-corp.com"], "emp001@acme-corp.com", "dept", "HR", "Finance", None, None, None],
        [row_of["emp002@acme-corp.com"], "emp002@acme-corp.com", "dept", "IT Operations", "Legal", None, None, None],
        [row_of["emp004@acme-corp.com"], "emp004@acme-corp.com", "dept", "HR", "Finance", None, None, None],
        [row_of["emp006@acme-corp.com"], "emp006@acme-corp.com", "dept", "Sales", "Legal", None, None, None],
        [row_of["emp007@acme-corp.com"], "emp007@acme-corp.com", "roles", None, named, None, None, TESTER],
        [row_of["emp010@acme-corp.com"], "emp010@acme-corp.com", "roles", named, None, None, TESTER, None],
    ]
    assert [r[1] for r in wb["Add"].iter_rows(min_row=2, values_only=True)] == [
        "emp050@acme-corp.com", "emp051@acme-corp.com", "emp052@acme-corp.com"]
    removed = sorted(r[0] for r in wb["Remove"].iter_rows(min_row=2, values_only=True))
    assert removed == sorted(f"emp{i:03d}@acme-corp.com" for i in leavers)
    assert len(list(wb["Unchanged"].iter_rows(min_row=2))) == 39
    summary = {r[0]: r[1] for r in wb["Summary"].iter_rows(min_row=2, values_only=True) if r[0]}
    assert summary["previously applied roster"].endswith("(50 users)")
    notes = [r[1] for r in wb["Summary"].iter_rows(min_row=2, values_only=True) if not r[0]]
    assert "3 to add, 6 to update, 39 unchanged, 5 to remove, 0 invalid rows" in notes
    assert "activation emails that would be sent: 3" in notes

    second = run_job(roster2, job(emu, tmp_path, "sync", "night2", plan_file=plan.results_path),
                     credentials=creds)
    assert second.exit_code == 0, [r for r in read_sheet(second.results_path, "Results") if r["status"] != "success"]
    assert_account_equals(emu, night2)
    assert second.undo_path is not None

    # Night 3: a truncated file would delete 60% of the users: the guard stops everything.
    night3 = night2[:19]
    roster3 = write(tmp_path / "roster.csv", night3)
    third = run_job(roster3, job(emu, tmp_path, "sync", "night3"), credentials=creds)
    assert third.exit_code == 3
    assert "29 users would be removed" in third.summary.aborted
    assert "--allow-deletes 29" in cli._hint(third.stop_errors[0])  # the CLI names the flag that approves
    assert_account_equals(emu, night2)
    results = read_sheet(third.results_path, "Results")
    assert {r["status"] for r in results if r["action"] == "remove"} == {"not_attempted"}
    approved = run_job(roster3, job(emu, tmp_path, "sync", "night3b", allow_deletes=29), credentials=creds)
    assert approved.exit_code == 0
    assert_account_equals(emu, night3)


def test_approved_plan_is_refused_when_the_account_changed(make_emulator, creds, tmp_path):
    emu = make_emulator()
    people = [person(i) for i in range(6)]
    roster = write(tmp_path / "roster.csv", people)
    plan = run_job(roster, job(emu, tmp_path, "plan", "plan"), credentials=creds)
    # Someone adds one of the roster's users by hand after the plan was approved.
    single = write(tmp_path / "one.csv", people[:1])
    run_job(single, job(emu, tmp_path, "add", "manual"), credentials=creds)
    refused = run_job(roster, job(emu, tmp_path, "sync", "sync", plan_file=plan.results_path), credentials=creds)
    assert refused.exit_code == 3 and "changed since" in refused.summary.aborted
    assert len(emu.state()["users"]) == 1


def test_protected_users_are_never_removed_or_demoted(make_emulator, creds, tmp_path):
    emu = make_emulator()
    people = [person(i, roles=TESTER) for i in range(10)]
    roster = write(tmp_path / "roster.csv", people)
    assert run_job(roster, job(emu, tmp_path, "sync", "n1"), credentials=creds).exit_code == 0
    protected = ["emp000@acme-corp.com", "emp00[12]@*"]
    later = [dict(p, roles="") for p in people[1:]]  # emp000 leaves; everyone loses the role
    roster = write(tmp_path / "roster.csv", later)
    out = run_job(roster, job(emu, tmp_path, "sync", "n2", protected=protected, allow_role_removals=9),
                  credentials=creds)
    assert out.exit_code == 0
    now = account(emu)
    assert "emp000@acme-corp.com" in now, "protected: not removed"
    assert now["emp001@acme-corp.com"]["roles"] == {TESTER} and now["emp002@acme-corp.com"]["roles"] == {TESTER}
    assert now["emp003@acme-corp.com"]["roles"] == set()


def test_builder_grants_need_approval(make_emulator, creds, tmp_path):
    emu = make_emulator()
    people = [person(i) for i in range(5)]
    for p in people:
        p["canCreateBot"] = "TRUE"
    roster = write(tmp_path / "roster.csv", people)
    refused = run_job(roster, job(emu, tmp_path, "sync", "s1", builder_confirm=3), credentials=creds)
    assert refused.exit_code == 3 and "5 users would get Builder access" in refused.summary.aborted
    assert "--allow-builder 5" in cli._hint(refused.stop_errors[0])
    assert emu.state()["users"] == []
    ok = run_job(roster, job(emu, tmp_path, "sync", "s2", builder_confirm=3, allow_builder=5), credentials=creds)
    assert ok.exit_code == 0 and all(u["canCreateBot"] for u in emu.state()["users"])


def test_sync_dry_run_is_a_plan_and_changes_nothing(make_emulator, creds, tmp_path):
    emu = make_emulator()
    roster = write(tmp_path / "roster.csv", [person(i) for i in range(4)])
    out = run_job(roster, job(emu, tmp_path, "sync", "dry", dry_run=True), credentials=creds)
    assert out.exit_code == 0 and emu.state()["users"] == []
    assert openpyxl.load_workbook(out.results_path).sheetnames[:3] == ["Summary", "Add", "Update"]


def test_sync_dry_run_from_the_command_line(make_emulator, tmp_path):
    from tests.cli.test_cli import bulkprov, kore_env

    emu = make_emulator()
    roster = write(tmp_path / "roster.csv", [person(i) for i in range(3)])
    proc = bulkprov("sync", str(roster), "--dry-run", "-o", str(tmp_path / "plan.xlsx"), "--rate", "none", "--settle", "0",
                    env=kore_env(emu))
    assert proc.returncode == 0, proc.stderr
    assert emu.state()["users"] == [] and (tmp_path / "plan.xlsx").is_file()
    assert "3 to add" in proc.stderr


def test_sync_that_cannot_read_the_account_writes_results_and_exits_3(creds, tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    roster = write(tmp_path / "roster.csv", [person(i) for i in range(3)] + [person(3, Email="bad")])
    settings = JobSettings(command="sync", host=f"http://127.0.0.1:{port}", rate="none",
                           output=tmp_path / "r.xlsx", state_dir=tmp_path / "state")
    out = run_job(roster, settings, credentials=creds)
    assert out.exit_code == 3 and "cannot reach the server" in out.summary.aborted
    statuses = [r["status"] for r in read_sheet(out.results_path, "Results")]
    assert statuses == ["not_attempted"] * 3 + ["invalid"]
