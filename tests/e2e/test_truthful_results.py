"""Issue #27: no row, undo line or export is ever more certain than the server's own words.

Each case of the issue's table, played against the emulator answering the odd way, end to end.
(The whole command x reply-kind table is tests/e2e/test_conformance_table.py.)
"""

from __future__ import annotations

import time
from pathlib import Path

import openpyxl
import pytest

from bulkprov.jobs import JobSettings, run_job
from tests.cli.test_cli import bulkprov, kore_env
from tests.conftest import read_sheet, results_by_row, write_roster


def settings(emu, tmp_path: Path, command: str, name: str | None = None, **kw) -> JobSettings:
    kw.setdefault("rate", "none")
    return JobSettings(command=command, host=emu.url, output=tmp_path / f"{name or command}.xlsx",
                       state_dir=tmp_path / "state", **kw)


# -- item 7: a rate refusal's pause is honoured whatever --rate says ------------------------------------------


def test_rate_none_still_honours_the_servers_retry_after(make_emulator, tmp_path):
    emu = make_emulator(rate_windows=[(4, 1.0)], rate_refusal="429-retry-after")
    roster, out = tmp_path / "roster.csv", tmp_path / "out.xlsx"
    write_roster(roster, 12)
    started = time.monotonic()
    proc = bulkprov("add", str(roster), "-o", str(out), "--batch-size", "1", "--rate", "none",
                    env=kore_env(emu), timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert {r["status"] for r in results_by_row(out).values()} == {"success"}
    refusals = emu.state()["counts"]["rate_refusals"]
    assert refusals <= 12, f"{refusals} refusals: the Retry-After pause was not honoured"
    assert time.monotonic() - started >= 2.0, "12 requests at 4 a second take their time"


# -- item 7: default result file names never collide ----------------------------------------------------------


def test_runs_in_the_same_second_keep_every_result_file(make_emulator, creds, tmp_path, monkeypatch):
    import datetime as dt

    from bulkprov.jobs import frame

    frozen = dt.datetime(2026, 11, 23, 10, 50, tzinfo=dt.UTC)
    monkeypatch.setattr(frame, "now", lambda: frozen)  # every run starts in the same second
    roster = tmp_path / "roster.csv"
    write_roster(roster, 3)
    paths = [run_job(roster, JobSettings(command="validate")).results_path for _ in range(5)]
    assert len(set(paths)) == 5 and all(p.is_file() for p in paths), paths
    emu = make_emulator()
    job = JobSettings(command="add", host=emu.url, rate="none", state_dir=tmp_path / "state")
    first = run_job(roster, job, credentials=creds)
    skipped = run_job(roster, job, credentials=creds)
    forced = run_job(roster, JobSettings(command="add", host=emu.url, rate="none", state_dir=tmp_path / "state",
                                         force=True), credentials=creds)
    kept = {first.results_path, skipped.results_path, forced.results_path}
    assert len(kept) == 3 and all(p.is_file() for p in kept), "earlier results are kept"
    assert first.undo_path is not None and first.undo_path.is_file()



# -- items 1 and 2: success needs the server's word; a check confirms only what its reply names -----------------


def account(n: int, prefix: str = "emp") -> list[dict]:
    return [{"userInfo": {"emailId": f"{prefix}{i:02d}@acme-corp.com", "orgUserId": f"E{i:03d}",
                          "firstName": f"First{i}", "lastName": f"Last{i}"}, "canCreateBot": False,
             "isDeveloper": False} for i in range(n)]


def emails_csv(path: Path, emails: list[str]) -> Path:
    path.write_text("Email\n" + "".join(f"{e}\n" for e in emails), encoding="utf-8")
    return path


@pytest.mark.parametrize("odd", [["write-stranger", "info-omit"], ["write-400-partial", "info-omit"]])
def test_a_removal_the_check_leaves_out_is_unverified_not_confirmed(make_emulator, creds, tmp_path, odd):
    emu = make_emulator(replies="documented", users=account(4), odd=odd)
    leavers = emails_csv(tmp_path / "leavers.csv", [f"emp{i:02d}@acme-corp.com" for i in range(3)])
    out = run_job(leavers, settings(emu, tmp_path, "remove"), credentials=creds)
    res = results_by_row(out.results_path)
    # The server named only the refused user (write-400-partial's first); nothing else was ever said.
    said = {(r["status"], r["error_code"]) for r in res.values()}
    assert said <= {("failed", "unverified"), ("failed", "server-refused")}, res
    assert out.exit_code == 1
    assert out.undo_path is None, "no undo line adds back users who are still there"


@pytest.mark.parametrize("odd", ["write-html", "write-empty-body"])
def test_users_created_behind_an_unreadable_reply_are_this_runs_creations(make_emulator, creds, tmp_path, odd):
    emu = make_emulator(replies="documented", odd=[odd])
    roster = tmp_path / "roster.csv"
    emails = write_roster(roster, 6)
    out = run_job(roster, settings(emu, tmp_path, "add", batch_size=3), credentials=creds)
    res = results_by_row(out.results_path)
    assert {(r["status"], r["error_code"]) for r in res.values()} == {("success", None)}, res
    assert all("confirmed" in r["reason"] for r in res.values())
    assert out.exit_code == 0
    counts = emu.state()["counts"]
    assert set(counts["created_per_email"]) == set(emails) and set(counts["created_per_email"].values()) == {1}
    assert set(counts["create_attempts_per_email"].values()) == {1}, "checked before any resend: never sent twice"
    undo = read_sheet(out.undo_path, "Users")
    assert sorted((u["action"], u["emailId"]) for u in undo) == sorted(("remove", e) for e in emails)


# -- item 3: a usersInfo answer is paired with the key asked for, never by elimination ------------------------


@pytest.mark.parametrize("scope", [True, False])
def test_a_lookup_of_one_org_user_id_answered_with_someone_else(make_emulator, creds, tmp_path, scope):
    emu = make_emulator(replies="documented", users=account(3), odd=["info-wrong-user"],
                        role_management_scope=scope)
    ids = tmp_path / "ids.csv"
    ids.write_text("Employee ID\nE001\n", encoding="utf-8")
    out = run_job(ids, settings(emu, tmp_path, "lookup"), credentials=creds)
    (row,) = results_by_row(out.results_path).values()
    users = read_sheet(out.results_path, "Users")
    if scope:  # the listing says E001 is emp01: its details, not the stranger's
        assert row["status"] == "success" and out.exit_code == 0
        assert [(u["emailId"], u["orgUserId"]) for u in users] == [("emp01@acme-corp.com", "E001")]
    else:  # nothing says who the stranger is
        assert (row["status"], row["error_code"]) == ("failed", "unverified") and out.exit_code == 1
        assert users == []


# -- item 4: an export is complete or says it is not -----------------------------------------------------------


def export_job(emu, tmp_path: Path) -> JobSettings:
    return JobSettings(command="export", host=emu.url, rate="none", output=tmp_path / "account.xlsx")


@pytest.mark.parametrize(("odd", "exported", "exit_code"), [
    ([], 450, 0),
    (["list-skip-one"], 449, 1),           # every read leaves the same user out: the account says 450
    (["list-stop-early"], 450, 0),          # "no more" short of the total: the next page said otherwise
    (["list-doubled"], 450, 0),             # entries twice: offset advances by the distinct users
    (["list-removed-between"], 449, 0),     # the total changed while read: read again, whole
    (["list-added-between"], 451, 0),
])
def test_an_export_holds_every_user_or_exits_1_naming_the_shortfall(make_emulator, creds, tmp_path, odd, exported,
                                                                    exit_code):
    from bulkprov.jobs.export import export_account

    emu = make_emulator(replies="documented", users=account(450), page_limit=50, odd=odd)
    out = export_account(export_job(emu, tmp_path), creds)
    users = read_sheet(out.path, "Users")
    assert len(users) == len({u["emailId"] for u in users}) == out.users == exported
    account_now = {u["userInfo"]["emailId"] for u in emu.state()["users"]}
    assert {u["emailId"] for u in users} == (account_now - {"emp01@acme-corp.com"} if exit_code else account_now)
    assert out.exit_code == exit_code
    about = [r["value"] for r in read_sheet(out.path, "About")]
    if exit_code:
        assert out.missing == 1 and any("1 missing" in line for line in out.warnings)
        assert any("1 missing" in str(v) for v in about)


def test_users_usersinfo_leaves_out_are_marked_and_the_export_exits_1(make_emulator, tmp_path):
    emu = make_emulator(replies="documented", users=account(40), odd=["info-omit"], odd_pattern="^emp0[3-5]@")
    out = tmp_path / "account.xlsx"
    proc = bulkprov("export", "-o", str(out), "--rate", "none", env=kore_env(emu))
    assert proc.returncode == 1, proc.stderr
    assert "3 users have no details" in proc.stderr and "emp03@acme-corp.com" in proc.stderr
    incomplete = read_sheet(out, "Incomplete")
    assert sorted(r["emailId"] for r in incomplete) == ["emp03@acme-corp.com", "emp04@acme-corp.com",
                                                       "emp05@acme-corp.com"]
    assert len(read_sheet(out, "Users")) == 40, "they are still exported, from the listing"


# -- item 5: undo files restore exactly -------------------------------------------------------------------------


def test_remove_by_email_then_its_undo_brings_the_user_back_with_its_org_user_id(make_emulator, creds, tmp_path):
    emu = make_emulator(replies="documented", users=account(5))
    before = {u["userInfo"]["emailId"]: u for u in emu.state()["users"]}
    leavers = emails_csv(tmp_path / "leavers.csv", ["emp01@acme-corp.com", "emp03@acme-corp.com"])
    out = run_job(leavers, settings(emu, tmp_path, "remove"), credentials=creds)
    assert out.exit_code == 0
    undo = read_sheet(out.undo_path, "Users")
    assert sorted((u["emailId"], u["orgUserId"]) for u in undo) == [("emp01@acme-corp.com", "E001"),
                                                                     ("emp03@acme-corp.com", "E003")]
    about = [r[0] for r in openpyxl.load_workbook(out.undo_path)["About"].iter_rows(values_only=True)]
    assert any("not restorable: companyName, dept" in str(line) for line in about), about
    restored = run_job(out.undo_path, settings(emu, tmp_path, "apply", "restore"), credentials=creds)
    assert restored.exit_code == 0
    after = {u["userInfo"]["emailId"]: u for u in emu.state()["users"]}
    for email in ("emp01@acme-corp.com", "emp03@acme-corp.com"):
        was, now = before[email]["userInfo"], after[email]["userInfo"]
        assert (now["orgUserId"], now["firstName"], now["lastName"]) == (was["orgUserId"], was["firstName"],
                                                                         was["lastName"])


def test_sync_removes_strays_it_can_restore_exactly_and_keeps_the_one_it_cannot(make_emulator, creds, tmp_path):
    strays = [{"userInfo": {"emailId": f"stray{i}@acme-corp.com", "orgUserId": f"S{i}", "firstName": f"S{i}"},
               "canCreateBot": False, "isDeveloper": i == 0} for i in range(6)]
    emu = make_emulator(replies="documented", users=account(3) + strays, odd=["info-omit"],
                        odd_pattern="^stray5@")
    roster = tmp_path / "roster.csv"
    roster.write_text("Email,First Name,Last Name,Employee ID\n" + "".join(
        f"emp{i:02d}@acme-corp.com,First{i},Last{i},E{i:03d}\n" for i in range(3)), encoding="utf-8")
    out = run_job(roster, settings(emu, tmp_path, "sync", remove_strays=True, allow_deletes=6), credentials=creds)
    left = {u["userInfo"]["emailId"] for u in emu.state()["users"]}
    assert "stray5@acme-corp.com" in left, "its details could not be fetched: not removed"
    assert not {f"stray{i}@acme-corp.com" for i in range(5)} & left
    fates = {r["emailId"]: (r["status"], r["error_code"]) for r in read_sheet(out.results_path, "Results")
             if not r["row"]}
    assert fates["stray5@acme-corp.com"] == ("not_attempted", "not-attempted")
    assert out.exit_code == 1, "a stray the sync was told to remove and did not: not a clean night"
    undo = read_sheet(out.undo_path, "Users")
    assert {u["action"] for u in undo} == {"add"}, "the roster's users were already as it says: no update"
    assert sorted((u["emailId"], u["orgUserId"], u["firstName"], u["isDeveloper"]) for u in undo) == [
        (f"stray{i}@acme-corp.com", f"S{i}", f"S{i}", "TRUE" if i == 0 else "FALSE") for i in range(5)]
    strays_sheet = {s["emailId"]: s["this sync"] for s in read_sheet(out.results_path, "Strays")}
    assert "could not be fetched" in strays_sheet["stray5@acme-corp.com"]


# -- item 6: plan and sync see what the account has -------------------------------------------------------------


def test_plan_and_sync_count_only_the_activation_emails_that_would_be_sent(make_emulator, creds, tmp_path):
    emu = make_emulator(replies="documented")
    roster = tmp_path / "roster.csv"
    roster.write_text("Email,First Name,sendEmail\n" + "".join(
        f"new{i}@acme-corp.com,N{i},{'TRUE' if i == 0 else ''}\n" for i in range(20)), encoding="utf-8")
    quiet = run_job(roster, settings(emu, tmp_path, "plan", "quiet", send_email=False), credentials=creds)
    assert "activation emails that would be sent: 1" in quiet.summary.plan, quiet.summary.plan
    summary = [r["value"] for r in read_sheet(quiet.results_path, "Summary")]
    assert "activation emails that would be sent: 1" in summary
    loud = run_job(roster, settings(emu, tmp_path, "plan", "loud"), credentials=creds)
    assert "activation emails that would be sent: 20" in loud.summary.plan
    proc = bulkprov("sync", str(roster), "-o", str(tmp_path / "sync.xlsx"), "--no-send-email", "--rate", "none",
                    "--state-dir", str(tmp_path / "state"), env=kore_env(emu))
    assert proc.returncode == 0, proc.stderr
    assert "activation emails that would be sent: 1" in proc.stderr + proc.stdout
    sent = [u for u in emu.state()["users"] if u["userInfo"]["activationStatus"] == "invited"]
    assert [u["userInfo"]["emailId"] for u in sent] == ["new0@acme-corp.com"], "the count said what happened"


def test_sync_with_strays_writes_the_strays_sheet(make_emulator, creds, tmp_path):
    emu = make_emulator(replies="documented", users=account(3))
    roster = emails_csv(tmp_path / "roster.csv", ["emp00@acme-corp.com", "emp01@acme-corp.com"])
    out = run_job(roster, settings(emu, tmp_path, "sync", report_strays=True), credentials=creds)
    strays = read_sheet(out.results_path, "Strays")
    assert [(s["emailId"], s["orgUserId"], s["this sync"]) for s in strays] == [
        ("emp02@acme-corp.com", "E002", "reported only")]


def test_a_field_no_reply_carries_is_never_planned_as_a_change_from_blank(make_emulator, creds, tmp_path):
    emu = make_emulator(replies="documented", users=account(2))
    roster = tmp_path / "roster.csv"
    roster.write_text("Email,First Name,Last Name,Employee ID,Department\n"
                      "emp00@acme-corp.com,First0,Last0,E000,Sales\n"
                      "emp01@acme-corp.com,First1,Last1,E001,\n", encoding="utf-8")
    plan = run_job(roster, settings(emu, tmp_path, "plan"), credentials=creds)
    changes = [(c["emailId"], c["field"], c["old"], c["new"]) for c in read_sheet(plan.results_path, "Update")]
    assert changes == [("emp00@acme-corp.com", "dept", "(not known: the server's replies do not carry it)",
                        "Sales")], "orgUserId came from the listing; dept is not known, never blank"


# -- item 7: every stop tells the truth -------------------------------------------------------------------------


def test_an_internal_error_after_the_server_created_users_says_they_were_sent(make_emulator, tmp_path):
    from tests.e2e.test_integrity import start

    emu = make_emulator()
    roster, out = tmp_path / "roster.csv", tmp_path / "out.xlsx"
    emails = write_roster(roster, 12)
    proc = start("add", emu, roster, out, "--rate", "none", "--batch-size", "3", "--concurrency", "1",
                 env={"BULKPROV_FAULT": "replied:3:internal"})  # the 3rd reply arrives, then a bug
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 70, err
    created = set(emu.state()["counts"]["created_per_email"])
    assert len(created) == 9
    res = results_by_row(out)
    for row, email in enumerate(emails, start=2):
        got = (res[row]["status"], res[row]["error_code"])
        if row <= 7:
            assert got == ("success", None)
        elif email in created:  # its request left; the bug came before its reply was read
            assert got == ("failed", "unverified") and "not sent" not in res[row]["reason"]
        else:
            assert got == ("not_attempted", "not-attempted")
    undo_path = out.with_name(out.stem + ".undo.xlsx")
    undo = read_sheet(undo_path, "Users")
    assert sorted(u["emailId"] for u in undo if u["action"] == "remove") == sorted(created)
    about = [r[0] for r in openpyxl.load_workbook(undo_path)["About"].iter_rows(values_only=True)]
    assert any(str(line).startswith("3 rows of this file undo changes whose outcome is unknown") for line in about)


def test_after_kill_9_of_a_sync_runs_show_undo_rebuilds_every_change_the_server_applied(make_emulator, tmp_path):
    """#34 finding 7: the undo file from the ledger covers a killed night's adds, updates and removals --
    those whose reply was lost with the process included (each before-image is committed before its
    request leaves)."""
    from tests.e2e.test_integrity import start

    emu = make_emulator()
    first, second = tmp_path / "night1.csv", tmp_path / "night2.csv"
    write_roster(first, 40)
    common = ("--rate", "none", "--batch-size", "10", "--concurrency", "1", "--state-dir", str(tmp_path / "st"))
    night1 = bulkprov("sync", str(first), "-o", str(tmp_path / "n1.xlsx"), *common, env=kore_env(emu))
    assert night1.returncode == 0, night1.stderr
    before = {u["userInfo"]["emailId"]: u for u in emu.state()["users"]}
    # Night 2: users 0-19 stay (10-19 move to IT), 20-39 leave, 10 join.
    write_roster(second, 30, extra={**{i: {"Department": "IT"} for i in range(10, 20)},
                                    **{i: {"Email": f"joiner{i}@acme-corp.com", "Employee ID": f"J{i}"}
                                       for i in range(20, 30)}})
    # 5 lookup requests (50 users), then 1 add, 1 update and 2 removal batches: killed once the last
    # removal's reply has arrived, before it is written down.
    proc = start("sync", emu, second, tmp_path / "n2.xlsx", *common, "--allow-deletes", "20",
                 env={"BULKPROV_FAULT": "replied:9:kill"})
    proc.communicate(timeout=60)
    assert proc.returncode == -9
    after = {u["userInfo"]["emailId"]: u for u in emu.state()["users"]}
    assert len(before.keys() - after.keys()) == 20, "the server applied every removal"
    listing = bulkprov("runs", "--state-dir", str(tmp_path / "st"))
    run_id = [line.split()[0] for line in listing.stdout.splitlines()[1:] if " sync " in line][-1]
    undo = tmp_path / "night2.undo.xlsx"
    shown = bulkprov("runs", "show", run_id, "--undo", "-o", str(undo), "--state-dir", str(tmp_path / "st"))
    assert shown.returncode == 0, shown.stderr
    rows = read_sheet(undo, "Users")
    assert sorted(r["emailId"] for r in rows if r["action"] == "add") == sorted(before.keys() - after.keys())
    assert sorted(r["emailId"] for r in rows if r["action"] == "remove") == sorted(after.keys() - before.keys())
    assert sorted(r["emailId"] for r in rows if r["action"] == "update") == sorted(
        e for e in before if e in after and before[e]["userInfo"]["dept"] != after[e]["userInfo"]["dept"])
    restored = bulkprov("apply", str(undo), "-o", str(tmp_path / "restore.xlsx"), "--rate", "none",
                        "--state-dir", str(tmp_path / "st2"), env=kore_env(emu))
    assert restored.returncode == 0, restored.stderr
    now = {u["userInfo"]["emailId"]: u["userInfo"] for u in emu.state()["users"]}
    assert {e: (i["orgUserId"], i["firstName"], i["dept"]) for e, i in now.items()} == {
        e: (u["userInfo"]["orgUserId"], u["userInfo"]["firstName"], u["userInfo"]["dept"]) for e, u in before.items()}


# -- the emulator's switch, from the command line -----------------------------------------------------------------


def test_mock_server_odd_switch_from_the_command_line(tmp_path):
    """``bulkprov mock-server --odd write-empty`` answers ``{}`` and does nothing; the run says so (exit 1)."""
    import os
    import signal
    import subprocess
    import sys

    from bulkprov.emulator import EmulatorConfig
    from tests.conftest import ROOT

    server = subprocess.Popen([sys.executable, "-m", "bulkprov", "mock-server", "--port", "0", "--rate", "none",
                               "--replies", "documented", "--odd", "write-empty"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        url = server.stdout.readline().split(" listening on ")[1].split(" ")[0]
        roster, out = tmp_path / "roster.csv", tmp_path / "out.xlsx"
        write_roster(roster, 3)
        config = EmulatorConfig()
        env = {"KORE_HOST": url, "KORE_CLIENT_ID": config.client_id, "KORE_CLIENT_SECRET": config.client_secret}
        proc = bulkprov("add", str(roster), "-o", str(out), "--rate", "none", env=env)
        assert proc.returncode == 1, proc.stderr
        assert "not a documented reply" in proc.stderr
        assert {(r["status"], r["error_code"]) for r in results_by_row(out).values()} == {("failed", "not-applied")}
        bad = bulkprov("mock-server", "--port", "0", "--odd", "write-imaginary")
        assert bad.returncode == 2 and "unknown odd reply" in bad.stderr and "Traceback" not in bad.stderr
    finally:
        os.kill(server.pid, signal.SIGTERM)
        server.communicate(timeout=10)


def test_syncs_removal_undo_has_the_org_user_id_with_documented_replies(make_emulator, creds, tmp_path):
    """usersInfo gives no orgUserId: the undo file takes the one sync applied (or the listing's)."""
    emu = make_emulator(replies="documented")
    roster = tmp_path / "roster.csv"
    write_roster(roster, 10)
    first = run_job(roster, settings(emu, tmp_path, "sync", "night1"), credentials=creds)
    assert first.exit_code == 0
    write_roster(roster, 9)  # the last one leaves
    second = run_job(roster, settings(emu, tmp_path, "sync", "night2"), credentials=creds)
    assert second.exit_code == 0, read_sheet(second.results_path, "Results")
    undo = read_sheet(second.undo_path, "Users")
    assert [(u["action"], u["emailId"], u["orgUserId"], u["firstName"]) for u in undo] == [
        ("add", "user00009@acme-corp.com", "E000009", "First9")]


def test_a_check_refused_after_a_reply_that_did_not_say_never_resends_blindly(make_emulator, creds, tmp_path):
    """The write was done behind ``{"msg": "OK"}``; the check that follows is refused (rate): the retry
    checks again first, and never reports the run's own creations as already existing."""
    emu = make_emulator(rate_windows=[(1, 1.0)], odd=["write-other-msg"])
    roster = tmp_path / "roster.csv"
    emails = write_roster(roster, 2)
    out = run_job(roster, settings(emu, tmp_path, "add"), credentials=creds)
    assert emu.state()["counts"]["rate_refusals"] >= 1, "the check really was refused"
    assert {(r["status"], r["error_code"]) for r in results_by_row(out.results_path).values()} == {("success", None)}
    assert emu.state()["counts"]["create_attempts_per_email"] == {e: 1 for e in emails}


def test_a_strays_report_from_a_listing_that_does_not_add_up_says_so(make_emulator, creds, tmp_path):
    emu = make_emulator(replies="documented", users=account(5), odd=["list-skip-one"], page_limit=2)
    roster = emails_csv(tmp_path / "roster.csv", ["emp00@acme-corp.com"])
    plan = run_job(roster, settings(emu, tmp_path, "plan", report_strays=True), credentials=creds)
    line = next(x for x in plan.summary.plan if "strays" in x)
    assert "strays): 3" in line and "4 of 5 users read" in line and "strays may be missing" in line


def test_a_removal_whose_org_user_id_cannot_be_learnt_is_named_in_the_undo_file(make_emulator, creds, tmp_path):
    emu = make_emulator(replies="documented", users=account(3), role_management_scope=False)
    leavers = emails_csv(tmp_path / "leavers.csv", ["emp02@acme-corp.com"])
    out = run_job(leavers, settings(emu, tmp_path, "remove"), credentials=creds)
    assert out.exit_code == 0, "the removal itself is what the server said"
    (row,) = read_sheet(out.undo_path, "Users")
    assert (row["emailId"], row["orgUserId"], row["firstName"]) == ("emp02@acme-corp.com", None, "First2")
    about = [str(r[0]) for r in openpyxl.load_workbook(out.undo_path)["About"].iter_rows(values_only=True)]
    assert any(line.startswith("orgUserId not known for 1 users") and "emp02@acme-corp.com" in line
               for line in about), about
