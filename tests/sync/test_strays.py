"""Strays: plan/sync report the account's users the roster does not mention, and remove them only when told,
under the same guards."""

from __future__ import annotations

import openpyxl
import pytest

from bulkprov.jobs import run_job
from tests.conftest import read_sheet
from tests.sync.test_sync import job, write  # the roster and the run of sync's own tests


def person(i: int) -> dict[str, str]:
    return {"Email": f"emp{i:03d}@acme-corp.com", "First Name": f"First{i}", "Last Name": f"Last{i}"}


def account_user(email: str, org: str = "") -> dict:
    info = {"emailId": email, "firstName": email.split("@")[0]}
    if org:
        info["orgUserId"] = org
    return {"userInfo": info, "canCreateBot": False, "isDeveloper": False}


STRAYS = [account_user("contractor@acme-corp.com", "C1"), account_user("admin@acme-corp.com"),
          account_user("old.timer@acme-corp.com", "X9")]


@pytest.mark.parametrize("replies", ["full", "documented"])
def test_plan_reports_strays_and_changes_nothing(make_emulator, creds, tmp_path, replies):
    emu = make_emulator(replies=replies, users=[account_user(f"emp{i:03d}@acme-corp.com") for i in range(5)] + STRAYS)
    roster = write(tmp_path / "roster.csv", [person(i) for i in range(5)] + [{**person(9), "Email": "not-an-email"}])
    plan = run_job(roster, job(emu, tmp_path, "plan", "plan", report_strays=True), credentials=creds)
    strays = read_sheet(plan.results_path, "Strays")
    assert [(s["emailId"], s["orgUserId"], s["this sync"]) for s in strays] == [
        ("contractor@acme-corp.com", "C1", "reported only"), ("admin@acme-corp.com", None, "reported only"),
        ("old.timer@acme-corp.com", "X9", "reported only")]
    assert any("strays): 3" in line for line in plan.summary.plan)
    assert len(emu.state()["users"]) == 8 and not any(
        r["method"] == "DELETE" for r in emu.state()["requests"])
    quiet = run_job(roster, job(emu, tmp_path, "plan", "plan2"), credentials=creds)
    assert "Strays" not in openpyxl.load_workbook(quiet.results_path).sheetnames, "only when asked"


def test_sync_removes_strays_only_when_told_and_under_the_guards(make_emulator, creds, tmp_path):
    emu = make_emulator(replies="documented",
                        users=[account_user(f"emp{i:03d}@acme-corp.com") for i in range(5)] + STRAYS)
    roster = write(tmp_path / "roster.csv", [person(i) for i in range(5)])
    reported = run_job(roster, job(emu, tmp_path, "sync", "s1", report_strays=True), credentials=creds)
    assert reported.exit_code == 0 and len(emu.state()["users"]) == 8, "reporting removes nobody"

    guarded = run_job(roster, job(emu, tmp_path, "sync", "s2", remove_strays=True, protected=["admin@*"]),
                      credentials=creds)
    assert guarded.exit_code == 3 and "2 users would be removed" in guarded.summary.aborted
    assert len(emu.state()["users"]) == 8, "the delete guard stops stray removals like any other"

    done = run_job(roster, job(emu, tmp_path, "sync", "s3", remove_strays=True, protected=["admin@*"],
                               allow_deletes=2), credentials=creds)
    assert done.exit_code == 0, read_sheet(done.results_path, "Results")
    left = {u["userInfo"]["emailId"] for u in emu.state()["users"]}
    assert left == {f"emp{i:03d}@acme-corp.com" for i in range(5)} | {"admin@acme-corp.com"}
    undo = read_sheet(done.undo_path, "Users")
    assert sorted((u["action"], u["emailId"], u["firstName"]) for u in undo) == [
        ("add", "contractor@acme-corp.com", "contractor"), ("add", "old.timer@acme-corp.com", "old.timer")]
    fates = {s["emailId"]: s["status"] for s in read_sheet(done.results_path, "Results") if not s["row"]}
    assert fates == {"contractor@acme-corp.com": "success", "old.timer@acme-corp.com": "success",
                     "admin@acme-corp.com": "skipped"}


def test_a_refused_listing_is_a_warning_for_a_report_and_a_stop_for_a_removal(make_emulator, creds, tmp_path):
    emu = make_emulator(replies="documented", role_management_scope=False,
                        users=[account_user("emp000@acme-corp.com")] + STRAYS)
    roster = write(tmp_path / "roster.csv", [person(0)])
    plan = run_job(roster, job(emu, tmp_path, "plan", "plan", report_strays=True), credentials=creds)
    assert plan.exit_code == 0
    assert "Role Management" in read_sheet(plan.results_path, "Strays")[0]["this sync"]
    stopped = run_job(roster, job(emu, tmp_path, "sync", "sync", remove_strays=True, allow_deletes=9),
                      credentials=creds)
    assert stopped.exit_code == 3 and "account listing" in stopped.summary.aborted
    assert len(emu.state()["users"]) == 4


def test_a_stray_protected_by_its_org_user_id_is_never_removed(make_emulator, creds, tmp_path):
    emu = make_emulator(replies="full", users=[account_user(f"emp{i:03d}@acme-corp.com") for i in range(5)] + STRAYS)
    roster = write(tmp_path / "roster.csv", [person(i) for i in range(5)])
    done = run_job(roster, job(emu, tmp_path, "sync", "s1", remove_strays=True, protected=["admin@*", "x9"],
                               allow_deletes=1), credentials=creds)
    assert done.exit_code == 0, done.summary.aborted
    left = {u["userInfo"]["emailId"] for u in emu.state()["users"]}
    assert {"admin@acme-corp.com", "old.timer@acme-corp.com"} <= left and "contractor@acme-corp.com" not in left
