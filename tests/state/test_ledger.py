"""Runs that survive: kill -9 at several points and --resume, double uploads, retry-failed, the lock."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bulkprov.model import Action, RowRef, RowResult, Status, UserKey
from bulkprov.state.ledger import SCHEMA_VERSION, Ledger
from bulkprov.state.lock import StateLock
from tests.cli.test_cli import bulkprov, kore_env
from tests.conftest import ROOT, read_sheet, results_by_row, write_roster

INVALID = {3: {"Email": "broken"}, 11: {"canCreateBot": "perhaps"}}


def start_add(emu, roster: Path, out: Path, *extra: str, env_extra: dict[str, str] | None = None) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KORE_")}
    env.update(kore_env(emu), **(env_extra or {}))
    return subprocess.Popen([sys.executable, "-m", "bulkprov", "add", str(roster), "-o", str(out), "--timeout", "10",
                             *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)


def wait_for(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError("condition not reached")


def kill9(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)


def assert_true_outcome(emu, out: Path, emails: list[str]) -> None:
    state = emu.state()
    valid = {e for i, e in enumerate(emails) if i not in INVALID}
    assert set(state["counts"]["created_per_email"]) == valid, "exactly the valid users exist"
    assert all(n == 1 for n in state["counts"]["created_per_email"].values()), "each created once"
    assert all(n == 1 for n in state["counts"]["create_attempts_per_email"].values()), "no add applied twice"
    results = results_by_row(out)
    assert len(results) == len(emails), "the final workbook has every row of the original run"
    for i, email in enumerate(emails):
        r = results[i + 2]
        assert r["status"] == ("invalid" if i in INVALID else "success"), r
        assert r["emailId"] == email


@pytest.mark.parametrize("moment", ["before-first-reply", "mid-run", "between-batches", "after-last-reply"])
def test_kill_9_then_resume_creates_each_user_once(make_emulator, tmp_path, moment):
    latency = {"before-first-reply": 3.0, "mid-run": 0.4, "between-batches": 0.0, "after-last-reply": 0.0}[moment]
    emu = make_emulator(latency=latency)
    roster, out = tmp_path / "roster.csv", tmp_path / "result.xlsx"
    emails = write_roster(roster, 120, invalid=INVALID)
    rate = "1/0.7" if moment == "between-batches" else "none"
    # After the last reply the run has little left to do (reconcile, write two workbooks): a kill from
    # outside may come too late on a fast or busy machine, so the run kills itself (SIGKILL, as a power
    # cut would) when the 12th and last reply has arrived, before anything of it is committed.
    last_reply = {"BULKPROV_FAULT": "replied:12:kill"} if moment == "after-last-reply" else None
    proc = start_add(emu, roster, out, "--batch-size", "10", "--concurrency", "2", "--rate", rate,
                     env_extra=last_reply)
    users = lambda: len(emu.state()["users"])  # noqa: E731
    if moment == "before-first-reply":
        time.sleep(1.5)  # the CLI has started and sent; the emulator is still sleeping on the first batches
        assert users() == 0
    elif moment == "mid-run":
        wait_for(lambda: users() >= 30)
    elif moment == "between-batches":
        wait_for(lambda: users() >= 20)
        time.sleep(0.2)  # the reply came back; the limiter holds the next request for 0.7 s
    else:
        assert proc.wait(30) == -signal.SIGKILL, proc.stderr.read() if proc.stderr else ""
        assert users() == 118, "every valid user was created before the run died"
    if proc.poll() is None:
        kill9(proc)
    time.sleep(latency + 0.2)  # requests the dead client left in flight finish on the server
    again = bulkprov("add", str(roster), "-o", str(out), "--rate", "none", env=kore_env(emu))
    assert again.returncode == 2 and "--resume" in again.stderr, "the next run of the same file says how to resume"
    resumed = bulkprov("add", str(roster), "-o", str(out), "--resume", "--rate", "none", env=kore_env(emu))
    assert resumed.returncode == 1, resumed.stderr  # the two invalid rows
    assert_true_outcome(emu, out, emails)


def test_commit_then_drop_then_kill_9_then_resume_is_a_confirmed_success(make_emulator, tmp_path):
    emu = make_emulator(commit_then_drop=1.0)
    roster, out = tmp_path / "roster.csv", tmp_path / "result.xlsx"
    emails = write_roster(roster, 10)
    proc = start_add(emu, roster, out, "--batch-size", "10", "--rate", "none")
    wait_for(lambda: emu.state()["counts"]["drops"] >= 1)
    kill9(proc)  # during the backoff, before the dispatcher could ask usersInfo
    emu.emulator.reconfigure(commit_then_drop=0.0)
    resumed = bulkprov("add", str(roster), "-o", str(out), "--resume", "--rate", "none", env=kore_env(emu))
    assert resumed.returncode == 0, resumed.stderr
    results = results_by_row(out)
    assert all(r["status"] == "success" and "confirmed" in r["reason"] for r in results.values())
    state = emu.state()
    assert all(n == 1 for n in state["counts"]["created_per_email"].values())
    assert all(n == 1 for n in state["counts"]["create_attempts_per_email"].values())
    assert set(state["counts"]["created_per_email"]) == set(emails)


def test_double_upload_skips_what_was_done(make_emulator, tmp_path):
    emu = make_emulator()
    roster = tmp_path / "roster.csv"
    write_roster(roster, 30)
    first = bulkprov("add", str(roster), "-o", str(tmp_path / "1.xlsx"), "--rate", "none", env=kore_env(emu))
    assert first.returncode == 0, first.stderr
    second = bulkprov("add", str(roster), "-o", str(tmp_path / "2.xlsx"), "--rate", "none", env=kore_env(emu))
    assert second.returncode == 0, second.stderr
    results = results_by_row(tmp_path / "2.xlsx")
    assert {r["status"] for r in results.values()} == {"skipped"}
    assert "already done by run" in results[2]["reason"]
    assert emu.state()["counts"]["add_calls"] == 1, "the second upload sent nothing"
    forced = bulkprov("add", str(roster), "-o", str(tmp_path / "3.xlsx"), "--force", "--rate", "none",
                      env=kore_env(emu))
    assert forced.returncode == 1  # --force sends again: the server says they exist
    assert {r["error_code"] for r in results_by_row(tmp_path / "3.xlsx").values()} == {"already-exists"}


def test_retry_failed_sends_only_the_failed_rows(make_emulator, tmp_path):
    emu = make_emulator(poison_pattern=r"^user0000[57]@")
    roster = tmp_path / "roster.csv"
    write_roster(roster, 20)
    first = bulkprov("add", str(roster), "-o", str(tmp_path / "1.xlsx"), "--rate", "none", env=kore_env(emu))
    assert first.returncode == 1
    runs = bulkprov("runs", "--state-dir", str(tmp_path / ".bulkprov"))
    run_id = runs.stdout.splitlines()[1].split()[0]
    emu.emulator.reconfigure(poison_pattern=None)
    calls_before = emu.state()["counts"]["add_calls"]
    retry = bulkprov("add", str(roster), "-o", str(tmp_path / "2.xlsx"), "--retry-failed", run_id, "--force",
                     "--rate", "none", env=kore_env(emu))
    assert retry.returncode == 0, retry.stderr
    results = results_by_row(tmp_path / "2.xlsx")
    assert [row for row, r in results.items() if r["status"] == "success"] == [7, 9]
    assert all(r["status"] == "skipped" for row, r in results.items() if row not in (7, 9))
    assert emu.state()["counts"]["add_calls"] == calls_before + 1
    assert len(emu.state()["users"]) == 20


def test_runs_list_and_show_rewrite_the_workbook(make_emulator, tmp_path):
    emu = make_emulator()
    roster = tmp_path / "roster.csv"
    write_roster(roster, 12, invalid={2: {"Email": "bad"}})
    bulkprov("add", str(roster), "-o", str(tmp_path / "1.xlsx"), "--rate", "none", env=kore_env(emu))
    listing = bulkprov("runs", "--state-dir", str(tmp_path / ".bulkprov"))
    assert listing.returncode == 0 and "finished" in listing.stdout and "11 success" in listing.stdout
    run_id = listing.stdout.splitlines()[1].split()[0]
    shown = bulkprov("runs", "show", run_id, "--state-dir", str(tmp_path / ".bulkprov"), "-o",
                     str(tmp_path / "again.xlsx"))
    assert shown.returncode == 0, shown.stderr
    assert results_by_row(tmp_path / "again.xlsx") == results_by_row(tmp_path / "1.xlsx")
    (failure,) = read_sheet(tmp_path / "again.xlsx", "Failures")
    assert failure["Email"] == "bad" and failure["First Name"] == "First2"


def test_lock_names_a_live_holder_and_takes_over_a_dead_one(make_emulator, tmp_path):
    emu = make_emulator()
    roster = tmp_path / "roster.csv"
    write_roster(roster, 5)
    state = tmp_path / ".bulkprov"
    with StateLock(state):
        proc = bulkprov("add", str(roster), "--rate", "none", env=kore_env(emu))
    assert proc.returncode == 2
    assert f"pid {os.getpid()}" in proc.stderr and "since" in proc.stderr and "Traceback" not in proc.stderr
    assert emu.state()["requests"] == []
    # A holder that died without unlocking (kill -9): its lock file names it, but nobody holds the flock.
    (state / "lock").write_text(json.dumps({"pid": 999999, "host": "old-host", "started": "2026-01-01T00:00:00"}))
    proc = bulkprov("add", str(roster), "--rate", "none", env=kore_env(emu))
    assert proc.returncode == 0, proc.stderr
    assert "stale lock of pid 999999" in proc.stderr


def test_a_ledger_of_another_schema_version_is_refused_clearly(make_emulator, tmp_path):
    emu = make_emulator()
    roster = tmp_path / "roster.csv"
    write_roster(roster, 5)
    state = tmp_path / ".bulkprov"
    state.mkdir()
    db = sqlite3.connect(state / "ledger.sqlite3")
    db.execute("CREATE TABLE runs (id TEXT)")  # a pre-release ledger without a version
    db.commit()
    db.close()
    proc = bulkprov("add", str(roster), "--rate", "none", env=kore_env(emu))
    assert proc.returncode == 2 and "ledger-version" in proc.stderr and "older" in proc.stderr
    db = sqlite3.connect(state / "ledger.sqlite3")
    db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    proc = bulkprov("add", str(roster), "--rate", "none", env=kore_env(emu))
    assert proc.returncode == 2 and "newer" in proc.stderr
    assert emu.state()["requests"] == []


def test_the_ledger_holds_no_secrets(make_emulator, tmp_path):
    from bulkprov.emulator import DEMO_CLIENT_SECRET

    emu = make_emulator()
    roster = tmp_path / "roster.csv"
    write_roster(roster, 5)
    bulkprov("add", str(roster), "--rate", "none", env=kore_env(emu))
    for path in (tmp_path / ".bulkprov").iterdir():
        blob = path.read_bytes()
        assert DEMO_CLIENT_SECRET.encode() not in blob and b"eyJ" not in blob


# -- the ledger a run is written from, chunk by chunk (#30) ------------------------------------------------------


def _result(row: int, status: Status, code: str = "", reason: str = "") -> RowResult:
    return RowResult(RowRef(row, Action.ADD, UserKey(f"u{row}@x.com", "")), status, reason, code)


def _run(ledger: Ledger, rows: range, action: str = "add") -> str:
    with ledger.new_run(command=action, input_path="in.csv", input_sha256="sha", host="h", settings={}) as run_id:
        for start in range(rows.start, rows.stop, 300):  # recorded a chunk at a time, in one transaction
            ledger.add_rows_here(run_id, [(r, action, f"u{r}@x.com", "", f"u{r}@x.com", "h1")
                                          for r in range(start, min(start + 300, rows.stop))], [])
    return run_id


def test_earlier_successes_are_asked_by_key_and_the_latest_change_wins(tmp_path):
    """More keys than one query binds (500): each key's latest change decides -- added, then removed: an add
    of it again is not skipped."""
    with contextlib.closing(Ledger(tmp_path)) as ledger:
        first = _run(ledger, range(2, 1202))
        ledger.mark_done(first, [_result(r, Status.SUCCESS) for r in range(2, 1202)])
        later = _run(ledger, range(2, 4), "remove")
        ledger.mark_done(later, [_result(r, Status.SUCCESS) for r in (2, 3)])
        found = ledger.earlier_successes("h", [(f"u{r}@x.com", "add", "h1") for r in range(2, 1202)])
    assert len(found) == 1198
    assert ("u2@x.com", "add", "h1") not in found and ("u3@x.com", "add", "h1") not in found
    assert found[("u700@x.com", "add", "h1")][0] == first


def test_an_outcome_not_yet_final_is_kept_beside_a_pending_row_and_a_resume_forgets_it(tmp_path):
    with contextlib.closing(Ledger(tmp_path)) as ledger:
        run_id = _run(ledger, range(2, 5))
        ledger.mark_done(run_id, [_result(2, Status.SUCCESS), _result(3, Status.NOT_ATTEMPTED, "interrupted", "stop"),
                                  _result(4, Status.FAILED, "unverified", "no reply")])
        records = {r.row: r for r in ledger.rows(run_id)}
        assert [(records[r].state, records[r].status) for r in (2, 3, 4)] == [
            ("done", "success"), ("pending", "not_attempted"), ("pending", "failed")]
        assert ledger.resume_state(run_id) == ({2}, set())  # sent again by a resume: only row 2 is done
        ledger.forget_unsettled(run_id)
        assert [r.status for r in ledger.rows(run_id)] == ["success", None, None]
