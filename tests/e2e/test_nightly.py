"""The nightly job (#34), finding by finding: a typo never deletes a person, a killed sync's joiners
are known the next night, a half-written roster is never applied, one command line serves every
night, honest next steps, ``runs`` tells the truth, and monitoring gets every line and every night.

The fortnight itself is ``tests/e2e/test_fortnight.py``; the deployment examples are ``tests/e2e/test_deployment.py``.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import openpyxl
import pytest

from bulkprov.emulator import EmulatorConfig, demo_seed
from bulkprov.errors import FileChanged
from bulkprov.jobs import JobSettings, run_job
from tests.cli.test_cli import bulkprov, kore_env
from tests.conftest import ROOT, read_sheet
from tests.state.test_ledger import wait_for

GROUP = {g["name"]: g["groupId"] for g in demo_seed()["groups"]}
DEPTS = ["Sales", "HR", "IT Operations"]
HEADERS = ["Email", "First Name", "Last Name", "Department", "Employee ID", "groups", "canCreateBot"]


def staff(i: int, **changes: str) -> dict[str, str]:
    row = {"Email": f"emp{i:03d}@acme-corp.com", "First Name": f"First{i}", "Last Name": f"Last{i}",
           "Department": DEPTS[i % 3], "Employee ID": f"E{i:04d}", "groups": GROUP[DEPTS[i % 3]], "canCreateBot": ""}
    row.update(changes)
    return row


def write(path: Path, people: list[dict[str, str]], *, age: float = 3600.0) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=HEADERS)
        writer.writeheader()
        writer.writerows(people)
    if age:  # an export written a while ago: a scheduler finds it complete (see the settle time)
        then = time.time() - age
        os.utime(path, (then, then))
    return path


def sync(emu, tmp_path: Path, roster: Path, name: str, command: str = "sync", **kw) -> object:
    settings = JobSettings(command=command, host=emu.url, rate="none", output=tmp_path / f"{name}.xlsx",
                           state_dir=tmp_path / "state", **kw)
    return run_job(roster, settings, credentials=_creds())


def _creds():
    from bulkprov.kore.auth import Credentials

    config = EmulatorConfig()
    return Credentials(client_id=config.client_id, client_secret=config.client_secret)


def results_by_row(path: Path) -> dict[int, dict]:
    """The Results rows of input rows (a sync's removals and kept users have no row number)."""
    return {int(r["row"]): r for r in read_sheet(path, "Results") if r["row"]}


def accounts(emu) -> dict[str, dict]:
    return {u["userInfo"]["emailId"]: u for u in emu.state()["users"]}


def cli(*args: str, emu, cwd: Path | None = None, env: dict | None = None):
    return bulkprov(*args, env={**kore_env(emu), **(env or {})}, cwd=cwd)


def start(*args: str, emu, env: dict | None = None) -> subprocess.Popen:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("KORE_", "BULKPROV_FAULT"))}
    full.update(kore_env(emu))
    full.update(env or {})
    return subprocess.Popen([sys.executable, "-m", "bulkprov", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True, env=full, cwd=ROOT)


# -- 1. a bad cell never deletes the person ----------------------------------------------------------------


def test_a_row_with_a_bad_cell_keeps_its_person_unchanged(make_emulator, tmp_path):
    emu = make_emulator()
    people = [staff(i) for i in range(12)]
    roster = write(tmp_path / "roster.csv", people)
    assert sync(emu, tmp_path, roster, "n1").exit_code == 0
    before = accounts(emu)
    tonight = [dict(p) for p in people]
    tonight[1]["groups"] = "Salse"                       # an unknown group
    tonight[2]["canCreateBot"] = "maybe"                 # a bad boolean
    tonight[3]["Email"] = "emp003@@acme-corp.com"        # an unreadable email, the employee number intact
    tonight[4]["Department"] = "Finance"                 # a real change, applied
    write(roster, tonight)
    plan = sync(emu, tmp_path, roster, "plan", command="plan")
    kept = {r[1]: r[2] for r in openpyxl.load_workbook(plan.results_path)["Unchanged"].iter_rows(
        min_row=2, values_only=True) if r[2]}
    assert kept == {"emp001@acme-corp.com": "kept: their row is invalid tonight (row 3)",
                    "emp002@acme-corp.com": "kept: their row is invalid tonight (row 4)",
                    "emp003@acme-corp.com": "kept: their row is invalid tonight (row 5)"}, kept
    assert read_sheet(plan.results_path, "Remove") == []

    out = sync(emu, tmp_path, roster, "n2")
    assert out.exit_code == 1  # the rows are invalid: a finished run with rows to fix
    results = results_by_row(out.results_path)
    assert [results[r]["status"] for r in (3, 4, 5)] == ["invalid"] * 3
    assert results[6]["status"] == "success"
    now = accounts(emu)
    assert set(now) == set(before), "nobody removed, nobody added"
    for email in ("emp001@acme-corp.com", "emp002@acme-corp.com", "emp003@acme-corp.com"):
        assert now[email] == before[email], f"{email} is unchanged"
    assert now["emp004@acme-corp.com"]["userInfo"]["dept"] == "Finance"

    write(roster, people)  # the rows fixed: the same users, never created a second time
    assert sync(emu, tmp_path, roster, "n3").exit_code == 0
    assert set(emu.state()["counts"]["created_per_email"].values()) == {1}, "no second activation email"


def test_two_rows_claiming_one_employee_number_change_neither_person(make_emulator, tmp_path):
    emu = make_emulator()
    people = [staff(i) for i in range(6)]
    roster = write(tmp_path / "roster.csv", people)
    assert sync(emu, tmp_path, roster, "n1").exit_code == 0
    joiner = staff(50, **{"Employee ID": people[4]["Employee ID"]})  # copied the colleague's number
    write(roster, people[:2] + [joiner] + people[2:])                 # the joiner's row comes first
    out = sync(emu, tmp_path, roster, "n2")
    assert out.exit_code == 1
    assert set(accounts(emu)) == {p["Email"] for p in people}, "the colleague stays, the joiner is not added"
    results = results_by_row(out.results_path)
    assert results[4]["status"] == "invalid" and results[4]["error_code"] == "duplicate-org-user-id"
    assert "also in row 7" in results[4]["reason"]
    assert results[7]["status"] == "invalid" and results[7]["error_code"] == "duplicate-org-user-id"
    assert emu.state()["counts"]["add_calls"] == 1, "only the first night's add"

    twice = staff(1, Department="Finance", **{"Employee ID": "E0101"})  # the same email typed on two rows
    write(roster, people[:3] + [twice] + people[3:])
    out = sync(emu, tmp_path, roster, "n3")
    assert out.exit_code == 1
    results = results_by_row(out.results_path)
    assert [results[r]["error_code"] for r in (3, 5)] == ["duplicate-email", "duplicate-email"]
    assert accounts(emu)["emp001@acme-corp.com"]["userInfo"]["dept"] == people[1]["Department"], "unchanged"
    assert set(accounts(emu)) == {p["Email"] for p in people}


def test_a_valid_but_wrong_key_is_a_key_conflict_that_keeps_the_user(make_emulator, tmp_path):
    emu = make_emulator()
    people = [staff(i) for i in range(8)]
    roster = write(tmp_path / "roster.csv", people)
    assert sync(emu, tmp_path, roster, "n1").exit_code == 0
    tonight = [dict(p) for p in people]
    tonight[1]["Email"] = "emp01@acme-corp.com"   # a valid but wrong email; the employee number intact
    tonight[2]["Employee ID"] = "E9999"           # the reverse: the email right, the number wrong
    write(roster, tonight)
    out = sync(emu, tmp_path, roster, "n2")
    assert out.exit_code == 1
    now = accounts(emu)
    assert set(now) == {p["Email"] for p in people}, "no add of the wrong address, no removal of the employee"
    assert now["emp002@acme-corp.com"]["userInfo"]["orgUserId"] == "E0002"
    results = results_by_row(out.results_path)
    for row, keys in ((3, ("emp01@acme-corp.com", "E0001", "emp001@acme-corp.com")), (4, ("E9999", "E0002"))):
        assert results[row]["status"] == "invalid" and results[row]["error_code"] == "key-conflict"
        assert all(k in results[row]["reason"] for k in keys), results[row]["reason"]
    assert emu.state()["counts"]["add_calls"] == 1 and emu.state()["counts"]["remove_calls"] == 0

    # The email really changed: the administrator changes it in the account first (here: the user
    # re-created under the new address, same employee number); then the row is simply applied.
    for command, body in (("remove", "emailId\nemp001@acme-corp.com\n"),
                          ("add", "emailId,orgUserId,firstName,lastName\nemp01@acme-corp.com,E0001,First1,Last1\n")):
        (tmp_path / f"console-{command}.csv").write_text(body, encoding="utf-8")
        console = JobSettings(command=command, host=emu.url, rate="none", use_ledger=False,
                              output=tmp_path / f"console-{command}.xlsx")
        assert run_job(tmp_path / f"console-{command}.csv", console, credentials=_creds()).exit_code == 0
    again = sync(emu, tmp_path, roster, "n3")
    assert again.exit_code == 1, "row 4's conflict stands"
    results = results_by_row(again.results_path)
    assert results[3]["status"] != "invalid" and results[4]["error_code"] == "key-conflict"
    now = accounts(emu)
    assert "emp01@acme-corp.com" in now and "emp001@acme-corp.com" not in now
    assert emu.state()["counts"]["created_per_email"]["emp01@acme-corp.com"] == 1, "not added a second time"
    assert emu.state()["counts"]["remove_calls"] == 1, "only the administrator's"


# -- 2. the applied roster follows the ledger ---------------------------------------------------------------


def test_a_killed_syncs_joiners_are_removed_when_they_leave(make_emulator, tmp_path):
    emu = make_emulator()
    base = [staff(i) for i in range(10)]
    roster = write(tmp_path / "roster.csv", base)
    assert sync(emu, tmp_path, roster, "n1").exit_code == 0
    joiners = [staff(i) for i in range(100, 112)]
    write(roster, base + joiners)
    # Night 2 is killed (-9) when the second add's reply has arrived but is not recorded yet (the 6
    # usersInfo requests of 22 users come first, then the adds of 4).
    proc = start("sync", str(roster), "-o", str(tmp_path / "n2.xlsx"), "--state-dir", str(tmp_path / "state"),
                 "--rate", "none", "--batch-size", "4", "--concurrency", "1", emu=emu,
                 env={"BULKPROV_FAULT": "replied:8:kill"})
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert len(accounts(emu)) == 18, "two adds of four were applied"
    write(roster, base)  # they all leave before the next successful sync
    again = cli("sync", str(roster), "-o", str(tmp_path / "n3.xlsx"), "--state-dir", str(tmp_path / "state"),
                "--rate", "none", "--allow-deletes", "8", emu=emu)
    assert again.returncode == 0, again.stderr
    assert set(accounts(emu)) == {p["Email"] for p in base}, "the killed night's joiners are removed"
    assert set(emu.state()["counts"]["created_per_email"].values()) == {1}


# -- 3. a roster is read whole or not at all ----------------------------------------------------------------


def changes_sent(emu) -> list[dict]:
    """The requests that change the account (adds, updates, removals), not the reads."""
    return [r for r in emu.state()["requests"]
            if r["method"] in ("PUT", "DELETE") or (r["method"] == "POST" and r["path"].endswith("/users"))]

WRITER = """
import sys, time
path, first, rest = sys.argv[1], sys.argv[2], sys.argv[3]
with open(path, "w", encoding="utf-8", newline="") as fh:
    fh.write(first)
    fh.flush()
    print("paused", flush=True)
    time.sleep(float(sys.argv[4]))
    fh.write(rest)
"""


def test_a_csv_still_being_written_is_read_only_once_complete(make_emulator, tmp_path):
    emu = make_emulator()
    people = [staff(i) for i in range(30)]
    for p in people:
        p["Department"] = "IT Support"
    roster = write(tmp_path / "roster.csv", people)
    assert cli("sync", str(roster), "-o", str(tmp_path / "n1.xlsx"), "--rate", "none", emu=emu).returncode == 0
    text = roster.read_text(encoding="utf-8")
    cut = text.index("IT Support", text.index("emp027")) + len("IT S")  # mid-line, 3 rows before the end
    # The HR export pauses mid-line while the scheduler starts the sync (its default: a file must be
    # unchanged for 10 s before it is read).
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(roster), text[:cut], text[cut:], "3"],
                              stdout=subprocess.PIPE, text=True)
    assert writer.stdout.readline().strip() == "paused"
    proc = cli("sync", str(roster), "-o", str(tmp_path / "n2.xlsx"), "--rate", "none", emu=emu)
    writer.wait(10)
    assert proc.returncode == 0, proc.stderr
    now = accounts(emu)
    assert set(now) == {p["Email"] for p in people}, "nobody past the cut was removed"
    assert {u["userInfo"].get("dept") for u in now.values()} == {"IT Support"}, "no half value written"
    assert emu.state()["counts"]["remove_calls"] == 0 and emu.state()["counts"]["update_calls"] == 0
    assert "waiting until roster.csv has not changed" in proc.stderr


KEEPS_WRITING = """
import sys, time
with open(sys.argv[1], "a", encoding="utf-8") as fh:
    for i in range(40):
        fh.write(f"emp{500 + i}@acme-corp.com,A,B,Sales,E{500 + i},,\\n")
        fh.flush()
        time.sleep(0.2)
"""


def test_a_file_that_keeps_changing_is_refused_after_six_settle_times(make_emulator, tmp_path):
    emu = make_emulator()
    roster = write(tmp_path / "roster.csv", [staff(i) for i in range(5)])
    writer = subprocess.Popen([sys.executable, "-c", KEEPS_WRITING, str(roster)])
    try:
        proc = cli("sync", str(roster), "--settle", "0.5", "--rate", "none", "-o", str(tmp_path / "n.xlsx"), emu=emu)
    finally:
        writer.kill()
    assert proc.returncode == 2, proc.stderr
    assert "[file-changed]" in proc.stderr and "still being written" in proc.stderr
    assert emu.state()["requests"] == [] and not (tmp_path / "n.xlsx").exists()


def test_the_settle_time_is_10_s_unattended_and_0_at_a_terminal(make_emulator, tmp_path):
    import pty

    emu = make_emulator()
    roster = write(tmp_path / "roster.csv", [staff(i) for i in range(3)], age=2)  # written 2 s ago: still settling however slow the start
    config = _profile(tmp_path)
    unattended = cli("add", str(roster), "--profile", "nightly", "--config", str(config), "-o",
                     str(tmp_path / "a.xlsx"), emu=emu)
    assert unattended.returncode == 0, unattended.stderr
    assert "waiting until roster.csv has not changed for 10 s" in unattended.stderr
    write(roster, [staff(i) for i in range(3, 6)], age=0)
    leader, follower = pty.openpty()  # someone at a terminal: the file is read at once
    try:
        full = {**{k: v for k, v in os.environ.items() if not k.startswith("KORE_")}, **kore_env(emu)}
        attended = subprocess.run([sys.executable, "-m", "bulkprov", "sync", str(roster), "--state-dir",
                                   str(tmp_path / "other"), "--rate", "none", "-o", str(tmp_path / "s.xlsx")],
                                  stdin=follower, capture_output=True, text=True, env=full, cwd=ROOT, timeout=60)
    finally:
        os.close(leader)
        os.close(follower)
    assert attended.returncode == 0, attended.stderr
    assert "waiting until" not in attended.stderr


def test_settling_watches_the_file_when_its_clock_cannot_be_trusted(tmp_path):
    """A file whose mtime is in the future (written by a machine whose clock is ahead) settles after the
    settle time of watching it unchanged, not never."""
    from bulkprov.jobs.inputfile import wait_until_settled
    from tests.conftest import ManualClock

    path = tmp_path / "roster.csv"
    path.write_text("Email\n", encoding="utf-8")
    ahead = time.time() + 3600
    os.utime(path, (ahead, ahead))
    clock = ManualClock()
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.now += seconds

    wait_until_settled(path, 2.0, clock=clock, sleep=sleep)
    assert 2.0 <= clock.now < 2.5, "watched unchanged for the settle time, then read"
    os.utime(path, (time.time(), time.time()))
    clock.now, slept[:] = 0.0, []

    def sleep_and_touch(seconds: float) -> None:  # the writer never stops
        clock.now += seconds
        path.write_text(f"Email\n{clock.now}\n", encoding="utf-8")

    with pytest.raises(FileChanged) as caught:
        wait_until_settled(path, 1.0, clock=clock, sleep=sleep_and_touch)
    assert caught.value.variant == "still-written" and 6.0 <= clock.now < 6.5


def test_a_roster_that_changes_while_it_is_read_is_refused_before_anything_is_sent(make_emulator, tmp_path,
                                                                                  monkeypatch):
    from bulkprov.jobs import syncing as sync_run

    emu = make_emulator()
    people = [staff(i) for i in range(8)]
    roster = write(tmp_path / "roster.csv", people)
    assert sync(emu, tmp_path, roster, "n1").exit_code == 0
    write(roster, people + [staff(20)])
    real = sync_run._current_state

    async def rewritten_while_reading(*args, **kwargs):
        found = await real(*args, **kwargs)
        write(roster, people[:3])  # the export is being rewritten meanwhile
        return found

    monkeypatch.setattr(sync_run, "_current_state", rewritten_while_reading)
    writes = len(changes_sent(emu))
    with pytest.raises(FileChanged) as caught:
        sync(emu, tmp_path, roster, "n2")
    assert caught.value.exit_code == 2 and caught.value.variant == "before-sending"
    assert len(changes_sent(emu)) == writes, "nothing was sent: only the account was read"
    assert set(accounts(emu)) == {p["Email"] for p in people}


def test_a_roster_changed_after_sending_began_is_exit_3_and_the_ledger_keeps_what_was_applied(
        make_emulator, tmp_path, monkeypatch):
    from bulkprov.send import chunked

    emu = make_emulator()
    people = [staff(i) for i in range(6)]
    roster = write(tmp_path / "roster.csv", people)
    assert sync(emu, tmp_path, roster, "n1").exit_code == 0
    joiners = [staff(i) for i in (40, 41)]
    write(roster, people + joiners)
    real = chunked.dispatch_chunks

    async def rewritten_while_sending(chunks, *args, **kwargs):
        actions: set[str] = set()
        report = await real(([actions.add(r.action) or r for r in chunk] for chunk in chunks), *args, **kwargs)
        if "add" in actions:
            write(roster, people + joiners + [staff(42)])  # the next export lands mid-run
        return report

    monkeypatch.setattr(chunked, "dispatch_chunks", rewritten_while_sending)
    out = sync(emu, tmp_path, roster, "n2")
    assert out.exit_code == 3 and [e.code for e in out.stop_errors] == ["file-changed"]
    assert {r["status"] for r in read_sheet(out.results_path, "Results")} >= {"success"}
    assert {"emp040@acme-corp.com", "emp041@acme-corp.com"} <= set(accounts(emu))
    monkeypatch.setattr(chunked, "dispatch_chunks", real)
    write(roster, people)  # the joiners were applied (the ledger committed them): they are removed when they leave
    assert sync(emu, tmp_path, roster, "n3", allow_deletes=2).exit_code == 0
    assert set(accounts(emu)) == {p["Email"] for p in people}


@pytest.mark.parametrize("which", ["failures", "undo", "plan"])
def test_plan_and_sync_refuse_a_result_or_undo_workbook_as_a_roster(make_emulator, tmp_path, which):
    emu = make_emulator()
    people = [staff(i) for i in range(20)] + [staff(20, Email="not-an-email")]
    roster = write(tmp_path / "roster.csv", people)
    first = cli("sync", str(roster), "-o", str(tmp_path / "n1.xlsx"), "--rate", "none", emu=emu)
    assert first.returncode == 1, first.stderr
    write(roster, [staff(i) for i in range(1, 20)])  # one leaver: the undo file adds them back
    second = cli("sync", str(roster), "-o", str(tmp_path / "n2.xlsx"), "--rate", "none", emu=emu)
    assert second.returncode == 0, second.stderr
    if which == "plan":
        assert cli("plan", str(roster), "-o", str(tmp_path / "p.xlsx"), "--rate", "none", emu=emu).returncode == 0
    target = tmp_path / {"failures": "n1.xlsx", "undo": "n2.undo.xlsx", "plan": "p.xlsx"}[which]
    os.utime(target, (time.time() - 3600, time.time() - 3600))  # HR opened it the next morning
    sheet = ["--sheet", "Failures"] if which == "failures" else []
    requests = len(emu.state()["requests"])
    for command in ("plan", "sync"):
        proc = cli(command, str(target), *sheet, "-o", str(tmp_path / f"{command}.xlsx"), "--rate", "none", emu=emu)
        assert proc.returncode == 2, proc.stderr
        assert "this is a result file, not a roster" in proc.stderr and "[not-a-roster]" in proc.stderr
        assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1
    assert len(emu.state()["requests"]) == requests, "nothing was read from the account or sent"
    assert len(accounts(emu)) == 19


# -- 4. one command line for every night ---------------------------------------------------------------------


def test_sync_accepts_resume_and_says_it_changes_nothing(make_emulator, tmp_path):
    emu = make_emulator()
    roster = write(tmp_path / "roster.csv", [staff(i) for i in range(4)])
    proc = cli("sync", str(roster), "--profile", "nightly", "--config", str(_profile(tmp_path)), "--resume",
               "--max-runtime", "3600", emu=emu)
    assert proc.returncode == 0, proc.stderr
    assert "there is no run to resume" in proc.stderr
    assert len(accounts(emu)) == 4
    helped = bulkprov("sync", "--help")
    assert "--resume" in helped.stdout and "nothing to resume" in " ".join(helped.stdout.split())


def _profile(tmp_path: Path, **extra: object) -> Path:
    config = tmp_path / "bulkprov.toml"
    lines = ["[profiles.nightly]", f'state_dir = "{tmp_path / "state"}"', 'rate = "none"']
    lines += [f"{k} = {json.dumps(v)}" for k, v in extra.items()]
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return config


def test_a_max_runtime_shorter_than_reading_the_account_is_refused_before_any_request(make_emulator, tmp_path):
    emu = make_emulator()
    roster = write(tmp_path / "roster.csv", [staff(i) for i in range(300)])
    started = time.monotonic()
    proc = cli("sync", str(roster), "--rate", "10/60", "--batch-size", "10", "--max-runtime", "5",
               "-o", str(tmp_path / "n1.xlsx"), emu=emu)
    assert proc.returncode == 2, proc.stderr
    assert "[max-runtime-too-short]" in proc.stderr and "requests under the rate budget 10/60" in proc.stderr
    assert "reading the account alone takes about 3 min" in proc.stderr and "raise --max-runtime" in proc.stderr
    assert emu.state()["requests"] == [] and time.monotonic() - started < 4.5


# -- 5. honest next steps ----------------------------------------------------------------------------------


def test_the_next_step_of_a_sync_is_the_roster_never_a_partial_file(make_emulator, tmp_path):
    emu = make_emulator()
    roster = write(tmp_path / "roster.csv", [staff(i) for i in range(4)] + [staff(4, Email="bad")])
    proc = cli("sync", str(roster), "-o", str(tmp_path / "n1.xlsx"), "--rate", "none", emu=emu)
    assert proc.returncode == 1, proc.stderr
    assert "--sheet Failures" not in proc.stdout
    assert "fix those rows in the roster itself (" in proc.stdout and "roster.csv" in proc.stdout
    summary = [r[1] for r in openpyxl.load_workbook(tmp_path / "n1.xlsx")["Summary"].iter_rows(values_only=True)
               if r[1]]
    steps = " ".join(str(v) for v in summary)
    assert "fix them in the roster itself" in steps and "--sheet Failures" not in steps


# -- 6. runs tells the truth -----------------------------------------------------------------------------------


def runs_listing(tmp_path: Path, *extra: str) -> dict[str, str]:
    proc = bulkprov("runs", "--state-dir", str(tmp_path / "state"), *extra)
    assert proc.returncode == 0, proc.stderr
    return {line.split()[0]: line for line in proc.stdout.splitlines()[1:]}


def test_runs_says_a_killed_run_is_interrupted_and_which_later_sync_finished_it(make_emulator, tmp_path):
    emu = make_emulator(latency=0.05)
    roster = write(tmp_path / "roster.csv", [staff(i) for i in range(40)])
    common = ["--state-dir", str(tmp_path / "state"), "--rate", "none", "--batch-size", "4",
              "--concurrency", "1"]
    killed = start("sync", str(roster), "-o", str(tmp_path / "k.xlsx"), *common, emu=emu,  # the 3rd add of 4
                   env={"BULKPROV_FAULT": "sending:13:kill"})
    killed.communicate(timeout=60)
    (killed_id, line), = runs_listing(tmp_path).items()
    assert line.split()[3] == "interrupted", line  # its process is gone: never "running" for ever
    termed = start("sync", str(roster), "-o", str(tmp_path / "t.xlsx"), *common, emu=emu)
    wait_for(lambda: len(accounts(emu)) >= 20)
    termed.send_signal(signal.SIGTERM)
    termed.communicate(timeout=30)
    assert termed.returncode == 3
    done = cli("sync", str(roster), "-o", str(tmp_path / "d.xlsx"), *common, emu=emu)
    assert done.returncode == 0, done.stderr
    listing = runs_listing(tmp_path)
    assert len(listing) == 3
    finished = [run for run, line in listing.items() if line.split()[3] == "finished"]
    assert len(finished) == 1
    for run, line in listing.items():
        if run != finished[0]:
            assert line.split()[3] == "interrupted" and f"(finished by {finished[0]})" in line, line


def test_runs_lists_guard_nights_and_takes_a_profile(make_emulator, tmp_path):
    emu = make_emulator()
    people = [staff(i) for i in range(10)]
    roster = write(tmp_path / "roster.csv", people)
    config = _profile(tmp_path, max_deletes=2)
    common = ["--profile", "nightly", "--config", str(config)]
    assert cli("sync", str(roster), *common, emu=emu).returncode == 0
    write(roster, people[:5])  # a truncated export: 5 removals, over the guard
    stopped = sync(emu, tmp_path, roster, "guard", max_deletes=2)  # no approvals: the guard stops it
    assert stopped.exit_code == 3 and stopped.summary.run_id
    listed = bulkprov("runs", *common)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()[1:]
    assert len(lines) == 2 and "stopped by guard" in lines[1] and "[guard]" in lines[1], listed.stdout
    assert lines[1].startswith(stopped.summary.run_id)
    config = _profile(tmp_path, max_deletes=2, approvers=["someone-else"])
    waiting = cli("sync", str(roster), *common, emu=emu)
    assert waiting.returncode == 4, waiting.stderr
    lines = bulkprov("runs", *common).stdout.splitlines()[1:]
    assert len(lines) == 3 and "awaiting approval" in lines[2], lines
    assert len(accounts(emu)) == 10


# -- 8. monitoring gets everything --------------------------------------------------------------------------------


class Hooks:
    """A webhook receiver on loopback: every POSTed body, in order."""

    def __enter__(self):
        import threading
        from http.server import BaseHTTPRequestHandler, HTTPServer

        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        return self

    def __exit__(self, *exc):
        self.server.shutdown()


def json_lines(proc) -> list[dict]:
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
    parsed = []
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except ValueError:
            raise AssertionError(f"not a JSON line: {line!r}") from None
    return parsed


def test_every_line_of_a_json_night_is_json_with_its_run_id_and_every_night_posts_its_webhook(
        make_emulator, tmp_path):
    emu = make_emulator(role_management_scope=False)
    people = [staff(i) for i in range(10)]
    roster = write(tmp_path / "roster.csv", people)
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "lock").write_text(json.dumps({"pid": 999999, "host": "old", "started": "2026-01-01"}))
    with Hooks() as hooks:
        config = _profile(tmp_path, max_deletes=2, log_format="json", webhook=hooks.url, report_strays=True,
                          approvers=["someone-else"])
        common = ["--profile", "nightly", "--config", str(config)]
        nights = [cli("sync", "roster.csv", *common, "-o", "n1.xlsx", emu=emu, cwd=tmp_path)]
        write(roster, people[:5])
        nights.append(cli("sync", "roster.csv", *common, "-o", "n2.xlsx", emu=emu, cwd=tmp_path))   # the guard
        nights.append(cli("sync", "missing.csv", *common, emu=emu, cwd=tmp_path))                   # exit 2
        nights.append(cli("sync", "roster.csv", *common, "--bogus", emu=emu, cwd=tmp_path))          # usage
    assert [p.returncode for p in nights] == [0, 4, 2, 2], [p.stderr for p in nights]
    for proc in nights:
        lines = json_lines(proc)
        ids = {line["run_id"] for line in lines}
        assert len(ids) == 1 and "" not in ids, (ids, proc.stderr)
    first, guard, missing = (json_lines(p) for p in nights[:3])
    said = [line["message"] for line in first]
    assert any(m.startswith("plan: ") for m in said)
    assert any("stale lock of pid 999999" in m for m in said)
    assert any("strays not listed" in m for m in said), "a warning while reading the account"
    assert any(line.get("level") == "error" and "ABORTED" in line["message"] for line in guard)
    assert any("[file-not-found]" in line["message"] for line in missing)
    summaries = [h for h in hooks.received if "event" not in h]  # the rest: the approval request
    assert [h["exit_code"] for h in summaries] == [0, 4, 2], "one webhook per night, exit 2 included"
    for hook, lines in zip(summaries, (first, guard, missing), strict=True):
        assert hook["run_id"] and hook["run_id"] == lines[0]["run_id"]
    assert summaries[1]["codes"] == ["pending-approval"]
    assert summaries[2]["codes"] == ["file-not-found"] and summaries[2]["results_path"] is None
    assert summaries[0]["results_path"] == str(tmp_path / "n1.xlsx"), "absolute, not the job's relative path"
    assert Path(summaries[1]["results_path"]).is_absolute() and Path(summaries[1]["results_path"]).is_file()
    listed = bulkprov("runs", *common).stdout
    for hook in summaries:
        assert hook["run_id"] in listed, "every night is in runs, under the id its lines and webhook carry"
