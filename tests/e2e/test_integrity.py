"""Run integrity at the edges a nightly job meets (#14, #13): SIGTERM and the run-time limit then
--resume, a rate window spent by another client, unknown outcomes, undo after a crash, full disks,
a stop request while the workbook is written, sync's diff, internal errors, and a crash at every
ledger commit point -- each followed by the resume.
"""

from __future__ import annotations

import os
import resource
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from bulkprov.emulator import EmulatorConfig, demo_seed
from bulkprov.kore import KoreClient, RateRefused
from bulkprov.kore.auth import Credentials
from tests.cli.test_cli import bulkprov, kore_env
from tests.conftest import ROOT, read_sheet, results_by_row, write_roster
from tests.state.test_ledger import kill9, wait_for

SEED = demo_seed()


def start(command: str, emu, path: Path, out: Path, *extra: str, env: dict | None = None,
          preexec=None) -> subprocess.Popen:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("KORE_", "BULKPROV_FAULT"))}
    full.update(kore_env(emu))
    full.update(env or {})
    return subprocess.Popen([sys.executable, "-m", "bulkprov", command, str(path), "-o", str(out), "--timeout", "10",
                             "--settle", "0", *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=full, cwd=ROOT,
                            preexec_fn=preexec)


def run_state(tmp_path: Path) -> list[str]:
    listing = bulkprov("runs", "--state-dir", str(tmp_path / ".bulkprov"))
    return [line.split()[3] for line in listing.stdout.splitlines()[1:]]


def created_once(emu, emails) -> None:
    counts = emu.state()["counts"]
    assert set(counts["created_per_email"]) == set(emails), "exactly these users exist"
    assert all(n == 1 for n in counts["created_per_email"].values()), "each created once"
    assert all(n == 1 for n in counts["create_attempts_per_email"].values()), "no add applied twice"


# -- 1. interrupted means resumable ----------------------------------------------------------------------


def test_sigterm_then_resume_sends_the_rest(make_emulator, tmp_path):
    emu = make_emulator(latency=0.05)
    roster, out = tmp_path / "roster.csv", tmp_path / "out.xlsx"
    emails = write_roster(roster, 200)
    proc = start("add", emu, roster, out, "--batch-size", "10", "--concurrency", "1", "--rate", "4/1")
    wait_for(lambda: len(emu.state()["users"]) >= 40)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 3, err
    assert "Traceback" not in err
    first = results_by_row(out)
    assert {r["status"] for r in first.values()} <= {"success", "not_attempted"}
    assert any(r["status"] == "not_attempted" and r["error_code"] == "interrupted" for r in first.values())
    assert run_state(tmp_path) == ["interrupted"], "bulkprov runs shows the run as interrupted"
    resumed = bulkprov("add", str(roster), "-o", str(out), "--resume", "--rate", "none", env=kore_env(emu))
    assert resumed.returncode == 0, resumed.stderr
    assert {r["status"] for r in results_by_row(out).values()} == {"success"}
    created_once(emu, emails)
    assert run_state(tmp_path) == ["finished"]


def test_max_runtime_twice_finishes_a_file_in_two_goes(make_emulator, tmp_path):
    emu = make_emulator(latency=0.02)
    roster, out = tmp_path / "roster.csv", tmp_path / "out.xlsx"
    emails = write_roster(roster, 120)
    codes = []
    for _night in range(4):
        proc = bulkprov("add", str(roster), "-o", str(out), "--resume", "--max-runtime", "2", "--batch-size", "5",
                        "--concurrency", "1", "--rate", "3/1", env=kore_env(emu))
        codes.append(proc.returncode)
        if proc.returncode == 0:
            break
        assert proc.returncode == 3 and "--max-runtime" in proc.stderr, proc.stderr
    assert codes[0] == 3 and codes[-1] == 0, codes
    created_once(emu, emails)
    assert {r["status"] for r in results_by_row(out).values()} == {"success"}


def test_resume_is_safe_to_pass_always(make_emulator, tmp_path):
    emu = make_emulator(latency=0.3)
    roster, out = tmp_path / "roster.csv", tmp_path / "out.xlsx"
    emails = write_roster(roster, 60)
    first = bulkprov("add", str(roster), "-o", str(out), "--resume", "--rate", "none", "--batch-size", "60",
                     env=kore_env(emu))
    assert first.returncode == 0 and "no interrupted run of this file" in first.stderr, first.stderr
    emails = write_roster(roster, 60, domain="second.example", extra={i: {"Employee ID": f"S{i:05d}"} for i in range(60)})
    proc = start("add", emu, roster, out, "--resume", "--batch-size", "10", "--rate", "none", "--concurrency", "1")
    wait_for(lambda: any(e.endswith("second.example") for e in emu.state()["counts"]["created_per_email"]))
    kill9(proc)
    time.sleep(0.5)
    second = bulkprov("add", str(roster), "-o", str(out), "--resume", "--rate", "none", env=kore_env(emu))
    assert second.returncode == 0 and "resuming run" in second.stderr, second.stderr
    third = bulkprov("add", str(roster), "-o", str(out), "--resume", "--rate", "none", env=kore_env(emu))
    assert third.returncode == 0 and "no interrupted run" in third.stderr
    assert {r["status"] for r in results_by_row(out).values()} == {"skipped"}, "done rows are not sent again"
    counts = emu.state()["counts"]
    assert all(n == 1 for n in counts["created_per_email"].values())
    assert set(emails) <= set(counts["created_per_email"])


# -- 2. a rate window spent by another client ----------------------------------------------------------------


class Spender(threading.Thread):
    """Another client on the same account: spends the rate window at the start and once more later."""

    def __init__(self, url: str, bursts: list[float], per_burst: int) -> None:
        super().__init__(daemon=True)
        self.url, self.bursts, self.per_burst = url, bursts, per_burst
        self.refused = 0

    def run(self) -> None:
        import asyncio

        asyncio.run(self._spend())

    async def _spend(self) -> None:
        config = EmulatorConfig()
        creds = Credentials(client_id=config.client_id, client_secret=config.client_secret)
        started = time.monotonic()
        async with KoreClient(self.url, creds) as client:
            for at in self.bursts:
                await _sleep_until(started + at)
                for _ in range(self.per_burst):
                    try:
                        await client.users_info(email_ids=["someone@else.example"])
                    except RateRefused:
                        self.refused += 1


async def _sleep_until(when: float) -> None:
    import asyncio

    await asyncio.sleep(max(0.0, when - time.monotonic()))


@pytest.mark.parametrize("style", ["400-message", "429"])
def test_a_window_spent_by_another_client_is_outlasted_without_retry_after(make_emulator, tmp_path, style):
    emu = make_emulator(rate_windows=[(6, 2.0)], rate_refusal=style)
    spender = Spender(emu.url, bursts=[0.0, 2.5], per_burst=6)
    spender.start()
    spender.join(0.3)  # the window is spent before our run starts
    roster, out = tmp_path / "roster.csv", tmp_path / "out.xlsx"
    emails = write_roster(roster, 90)
    proc = bulkprov("add", str(roster), "-o", str(out), "--batch-size", "5", "--rate", "6/2", "--concurrency", "2",
                    "--rate-wait-cap", "30",
                    env=kore_env(emu), timeout=180)
    spender.join(10)
    assert proc.returncode == 0, proc.stderr
    assert emu.state()["counts"]["rate_refusals"] > 0, "the other client really made the server refuse us"
    assert "rate window" in proc.stderr, "the user is told why the run waits"
    assert {r["status"] for r in results_by_row(out).values()} == {"success"}
    created_once(emu, emails)


def test_rate_refusals_are_reported_only_after_the_wall_clock_cap(make_emulator, tmp_path):
    emu = make_emulator(fail_rate=1.0, rate_refusal="429")
    roster, out = tmp_path / "roster.csv", tmp_path / "out.xlsx"
    write_roster(roster, 5)
    started = time.monotonic()
    proc = bulkprov("add", str(roster), "-o", str(out), "--rate", "100/1", "--max-attempts", "2",
                    "--rate-wait-cap", "4", env=kore_env(emu))
    waited = time.monotonic() - started
    assert proc.returncode == 1
    assert {r["error_code"] for r in results_by_row(out).values()} == {"rate-limited"}
    assert emu.state()["counts"]["rate_refusals"] > 2, "rate refusals did not use up --max-attempts 2"
    assert waited >= 4, "nothing is reported rate-limited before the cap"


# -- 3. unknown outcomes are verified; our own uncertain adds are successes ---------------------------------


def _killed_run_with_drops(make_emulator, tmp_path):
    emu = make_emulator(commit_then_drop=0.3, latency=0.05, seed=3)
    roster, out = tmp_path / "roster.csv", tmp_path / "out.xlsx"
    emails = write_roster(roster, 150)
    proc = start("add", emu, roster, out, "--batch-size", "5", "--concurrency", "2", "--rate", "6/1")
    wait_for(lambda: emu.state()["counts"]["drops"] >= 3 and len(emu.state()["users"]) >= 30)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)
    emu.emulator.reconfigure(commit_then_drop=0.0)
    return emu, roster, out, emails


def test_uncertain_adds_after_drops_and_sigterm_are_verified_on_resume(make_emulator, tmp_path):
    emu, roster, out, emails = _killed_run_with_drops(make_emulator, tmp_path)
    resumed = bulkprov("add", str(roster), "-o", str(out), "--resume", "--rate", "none", env=kore_env(emu))
    assert resumed.returncode == 0, resumed.stderr
    results = results_by_row(out)
    assert {r["status"] for r in results.values()} == {"success"}, "no row left unverified or already-exists"
    created_once(emu, emails)


def test_a_later_run_calls_our_own_uncertain_adds_confirmed_not_already_exists(make_emulator, tmp_path):
    emu, roster, out, emails = _killed_run_with_drops(make_emulator, tmp_path)
    uncertain = [r["row"] for r in results_by_row(out).values() if r["error_code"] == "unverified"]
    assert uncertain, "the killed run left rows whose outcome it did not know"
    forced = bulkprov("add", str(roster), "-o", str(tmp_path / "forced.xlsx"), "--force", "--rate", "none",
                      env=kore_env(emu))
    assert forced.returncode == 1  # --force re-sends rows the killed run knew it had created
    results = results_by_row(tmp_path / "forced.xlsx")
    for row in uncertain:
        assert results[row]["status"] == "success" and "confirmed" in results[row]["reason"], results[row]
    attempts = emu.state()["counts"]["create_attempts_per_email"]
    assert all(attempts[results[row]["emailId"]] == 1 for row in uncertain), "checked, not sent again"
    assert all(n == 1 for n in emu.state()["counts"]["created_per_email"].values())


def test_an_unverified_add_is_checked_on_resume_before_anything_is_sent(make_emulator, tmp_path):
    emu = make_emulator(commit_then_drop=1.0)
    roster, out = tmp_path / "roster.csv", tmp_path / "out.xlsx"
    emails = write_roster(roster, 20)
    proc = start("add", emu, roster, out, "--batch-size", "10", "--rate", "none", "--max-attempts", "1")
    proc.communicate(timeout=60)
    first = results_by_row(out)
    assert {r["status"] for r in first.values()} == {"success"}, "checked once more at the end of the run"
    assert all("confirmed" in r["reason"] for r in first.values())
    created_once(emu, emails)


# -- 4. undo survives a crash ---------------------------------------------------------------------------------


def test_kill_9_during_a_remove_then_resume_gives_an_undo_file_with_every_removed_user(make_emulator, tmp_path):
    users = [{"userInfo": {"emailId": f"leaver{i:03d}@acme-corp.com", "firstName": f"L{i}"},
              "groups": [SEED["groups"][i % 3]["groupId"]]} for i in range(120)]
    emu = make_emulator(users=users, latency=0.05)
    leavers, out = tmp_path / "leavers.csv", tmp_path / "out.xlsx"
    leavers.write_text("emailId\n" + "".join(f"leaver{i:03d}@acme-corp.com\n" for i in range(120)), encoding="utf-8")
    proc = start("remove", emu, leavers, out, "--batch-size", "10", "--concurrency", "1", "--rate", "5/1")
    wait_for(lambda: len(emu.state()["users"]) <= 80)
    kill9(proc)
    time.sleep(0.3)
    resumed = bulkprov("remove", str(leavers), "-o", str(out), "--resume", "--rate", "none", env=kore_env(emu))
    assert resumed.returncode == 0, resumed.stderr
    assert emu.state()["users"] == []
    undo = out.with_name(out.stem + ".undo.xlsx")
    rows = read_sheet(undo, "Users")
    assert len(rows) == 120 and {r["action"] for r in rows} == {"add"}, "every removal of the whole run"
    state_dir = tmp_path / ".bulkprov"
    run_id = bulkprov("runs", "--state-dir", str(state_dir)).stdout.splitlines()[1].split()[0]
    again = bulkprov("runs", "show", run_id, "--undo", "--state-dir", str(state_dir), "-o", str(tmp_path / "u2.xlsx"))
    assert again.returncode == 0, again.stderr
    assert len(read_sheet(tmp_path / "u2.xlsx", "Users")) == 120
    # the removed users had Builder access (the server's default): giving it back passes the Builder guard
    restored = bulkprov("apply", str(undo), "-o", str(tmp_path / "restore.xlsx"), "--rate", "none",
                        "--allow-builder", "120", env=kore_env(emu))
    assert restored.returncode == 0, restored.stderr
    assert {u["userInfo"]["emailId"] for u in emu.state()["users"]} == {u["userInfo"]["emailId"] for u in users}


# -- 5. disks -----------------------------------------------------------------------------------------------------


def _mount_tmpfs(path: Path, size: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        return False
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    return done.returncode == 0


def test_a_1_mb_state_directory_refuses_before_sending(make_emulator, tmp_path):
    emu = make_emulator()
    state = tmp_path / "small"
    if not _mount_tmpfs(state, "1m"):
        pytest.skip("cannot mount a tmpfs here (not root, or no permission): the room check is also unit-tested")
    try:
        roster, out = tmp_path / "roster.csv", tmp_path / "out.xlsx"
        write_roster(roster, 2000)
        proc = bulkprov("add", str(roster), "-o", str(out), "--state-dir", str(state), "--rate", "none",
                        env=kore_env(emu))
        assert proc.returncode == 2, proc.stderr
        assert "state-dir-unusable" in proc.stderr and "Traceback" not in proc.stderr
        assert emu.state()["requests"] == [], "nothing was sent"
    finally:
        subprocess.run(["umount", str(state)], capture_output=True)


def test_the_room_check_refuses_a_state_directory_without_space(make_emulator, tmp_path, monkeypatch):
    from bulkprov import cli
    from bulkprov.state import room

    emu = make_emulator()
    roster = tmp_path / "roster.csv"
    write_roster(roster, 2000)
    monkeypatch.setattr(room, "_free", lambda path: 1 << 20)  # a 1 MB disk
    for key, value in kore_env(emu).items():
        monkeypatch.setenv(key, value)
    code = cli.main(["add", str(roster), "-o", str(tmp_path / "out.xlsx"), "--rate", "none", "-q"])
    assert code == 2
    assert emu.state()["requests"] == []


def _limit_file_size(limit: int):
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))  # CPython ignores SIGXFSZ: writes fail EFBIG
    return apply


def test_a_disk_that_fills_up_during_the_run_stops_it_cleanly_and_resume_finishes(make_emulator, tmp_path):
    emu = make_emulator()
    roster, out = tmp_path / "roster.csv", tmp_path / "out.xlsx"
    emails = write_roster(roster, 1500)
    proc = start("add", emu, roster, out, "--batch-size", "20", "--rate", "none", preexec=_limit_file_size(1_000_000))
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 3, err
    assert "Traceback" not in err
    aborted = [line for line in err.splitlines() if "[disk-full]" in line]
    assert len(aborted) == 1 and "run ledger could not be written" in aborted[0], err
    db = sqlite3.connect(tmp_path / ".bulkprov" / "ledger.sqlite3")
    states = dict(db.execute("SELECT state, COUNT(*) FROM rows GROUP BY state").fetchall())
    db.close()
    assert states.get("pending", 0) > 0, "rows the ledger could not record were not sent"
    created = set(emu.state()["counts"]["created_per_email"])
    assert len(created) < 1500
    resumed = bulkprov("add", str(roster), "-o", str(out), "--resume", "--rate", "none", env=kore_env(emu))
    assert resumed.returncode == 0, resumed.stderr
    created_once(emu, emails)
    assert len(results_by_row(out)) == 1500


def test_an_unusable_state_directory_is_exit_2_before_sending(make_emulator, tmp_path):
    emu = make_emulator()
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the state directory should be")
    roster = tmp_path / "roster.csv"
    write_roster(roster, 5)
    proc = bulkprov("add", str(roster), "--state-dir", str(blocker / "state"), "--rate", "none", env=kore_env(emu))
    assert proc.returncode == 2 and "state-dir-unusable" in proc.stderr and "Traceback" not in proc.stderr
    assert emu.state()["requests"] == []


# -- 6. a stop request while the workbook is written -----------------------------------------------------------


def test_sigterm_while_the_workbook_is_written_lets_the_write_finish(make_emulator, tmp_path):
    emu = make_emulator()
    roster, out = tmp_path / "roster.csv", tmp_path / "out.xlsx"
    write_roster(roster, 400)
    proc = start("add", emu, roster, out, "--rate", "none", env={"BULKPROV_FAULT": "results:term"})
    _, err = proc.communicate(timeout=60)
    assert proc.returncode in (0, 3), err
    assert len(results_by_row(out)) == 400, "the workbook is whole"
    assert not list(tmp_path.glob(".*.tmp")), "no temporary file is left behind"
    assert run_state(tmp_path) == ["finished"]


# -- 7. sync diffs what it can know ----------------------------------------------------------------------------


def test_plan_right_after_sync_shows_no_updates_when_usersinfo_returns_few_fields(make_emulator, tmp_path):
    emu = make_emulator(users_info_fields=["emailId", "userId", "firstName", "lastName"])
    roster = tmp_path / "roster.csv"
    roster.write_text("emailId,firstName,lastName,dept,companyName,worknumber,canCreateBot\n" + "".join(
        f"u{i}@acme-corp.com,F{i},L{i},Sales,Acme,555{i:04d},FALSE\n" for i in range(40)), encoding="utf-8")
    env = kore_env(emu)
    first = bulkprov("sync", str(roster), "-o", str(tmp_path / "s1.xlsx"), "--rate", "none", "--settle", "0", env=env)
    assert first.returncode == 0, first.stderr
    plan = bulkprov("plan", str(roster), "-o", str(tmp_path / "p.xlsx"), "--rate", "none", env=env)
    assert plan.returncode == 0, plan.stderr
    assert read_sheet(tmp_path / "p.xlsx", "Update") == [], "nothing changed since the sync"
    updates_before = emu.state()["counts"]["updated"]
    again = bulkprov("sync", str(roster), "-o", str(tmp_path / "s2.xlsx"), "--rate", "none", "--settle", "0", env=env)
    assert again.returncode == 0 and emu.state()["counts"]["updated"] == updates_before
    changed = roster.read_text(encoding="utf-8").replace("u3@acme-corp.com,F3,L3,Sales", "u3@acme-corp.com,F3,L3,HR")
    roster.write_text(changed, encoding="utf-8")
    plan = bulkprov("plan", str(roster), "-o", str(tmp_path / "p2.xlsx"), "--rate", "none", env=env)
    lines = read_sheet(tmp_path / "p2.xlsx", "Update")
    assert [(r["emailId"], r["field"], r["old"], r["new"]) for r in lines] == [("u3@acme-corp.com", "dept", "Sales", "HR")]


# -- #13: an internal error is never "some rows failed" ------------------------------------------------------


def test_an_injected_internal_error_gets_its_own_exit_code_a_file_and_a_workbook(make_emulator, tmp_path):
    emu = make_emulator()
    roster, out = tmp_path / "roster.csv", tmp_path / "out.xlsx"
    write_roster(roster, 12, invalid={2: {"Email": "broken"}})
    proc = start("add", emu, roster, out, "--rate", "none", env={"BULKPROV_FAULT": "dispatch:internal"})
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 70, err
    assert "internal error" in err and "please report it" in err and "Traceback" not in err
    files = list((tmp_path / ".bulkprov" / "internal-errors").glob("*.txt"))
    assert len(files) == 1 and "RuntimeError" in files[0].read_text() and str(files[0]) in err
    assert oct(files[0].stat().st_mode & 0o777) == "0o600"
    results = results_by_row(out)
    assert len(results) == 12 and results[4]["status"] == "invalid"
    assert all(r["status"] == "not_attempted" for row, r in results.items() if row != 4)


def test_a_bug_outside_a_run_is_one_line_and_exit_70(tmp_path, monkeypatch, capsys):
    from bulkprov import cli
    from bulkprov.outputs import template

    def broken(path, **kwargs):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(template, "write_template", broken)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["template", "-o", str(tmp_path / "t.xlsx")]) == 70
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "internal error: ZeroDivisionError" in err


# -- #13: a crash at every ledger commit point, then the resume -------------------------------------------------


CRASH_POINTS = ["sending:2", "replied:2", "results", "undo"]


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_add_survives_a_crash_at_each_commit_point(make_emulator, tmp_path, point):
    emu = make_emulator()
    roster, out = tmp_path / "roster.csv", tmp_path / "out.xlsx"
    emails = write_roster(roster, 60, invalid={5: {"Email": "x"}})
    proc = start("add", emu, roster, out, "--batch-size", "10", "--rate", "none", "--concurrency", "1",
                 env={"BULKPROV_FAULT": f"{point}:kill"})
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    resumed = bulkprov("add", str(roster), "-o", str(out), "--resume", "--rate", "none", env=kore_env(emu))
    assert resumed.returncode == 1, resumed.stderr  # the one invalid row
    valid = [e for i, e in enumerate(emails) if i != 5]
    created_once(emu, valid)
    results = results_by_row(out)
    assert sorted(results) == list(range(2, 62)), "every row of the file exactly once"
    assert {r["status"] for row, r in results.items() if row != 7} <= {"success", "skipped"}
    assert not list(tmp_path.glob(".*.tmp"))
    if point == "undo":
        assert len(read_sheet(out.with_name(out.stem + ".undo.xlsx"), "Users")) == 59


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_update_and_remove_survive_a_crash_at_each_commit_point(make_emulator, tmp_path, point):
    users = [{"userInfo": {"emailId": f"u{i:02d}@acme-corp.com", "dept": "Sales"}} for i in range(40)]
    emu = make_emulator(users=users)
    upd, out = tmp_path / "upd.csv", tmp_path / "upd.xlsx"
    upd.write_text("emailId,dept\n" + "".join(f"u{i:02d}@acme-corp.com,HR\n" for i in range(40)), encoding="utf-8")
    proc = start("update", emu, upd, out, "--batch-size", "8", "--rate", "none", "--concurrency", "1",
                 env={"BULKPROV_FAULT": f"{point}:kill"})
    proc.communicate(timeout=60)
    resumed = bulkprov("update", str(upd), "-o", str(out), "--resume", "--rate", "none", env=kore_env(emu))
    assert resumed.returncode == 0, resumed.stderr
    state = emu.state()
    assert {u["userInfo"]["dept"] for u in state["users"]} == {"HR"}
    assert all(n == 1 for n in state["counts"]["updated_per_email"].values()), "each user updated once"
    assert len(results_by_row(out)) == 40
    undo_rows = read_sheet(out.with_name(out.stem + ".undo.xlsx"), "Users")
    assert len(undo_rows) == 40 and {r["dept"] for r in undo_rows} == {"Sales"}

    leavers, rout = tmp_path / "leavers.csv", tmp_path / "rem.xlsx"
    leavers.write_text("emailId\n" + "".join(f"u{i:02d}@acme-corp.com\n" for i in range(40)), encoding="utf-8")
    proc = start("remove", emu, leavers, rout, "--batch-size", "8", "--rate", "none", "--concurrency", "1",
                 env={"BULKPROV_FAULT": f"{point}:kill"})
    proc.communicate(timeout=60)
    resumed = bulkprov("remove", str(leavers), "-o", str(rout), "--resume", "--rate", "none", env=kore_env(emu))
    assert resumed.returncode == 0, resumed.stderr
    assert emu.state()["users"] == []
    assert {r["status"] for r in results_by_row(rout).values()} == {"success"}
    assert len(read_sheet(rout.with_name(rout.stem + ".undo.xlsx"), "Users")) == 40


@pytest.mark.parametrize("point", ["sending:1", "replied:1", "results", "undo"])
def test_sync_survives_a_crash_at_each_commit_point(make_emulator, tmp_path, point):
    emu = make_emulator()
    roster = tmp_path / "roster.csv"
    emails = write_roster(roster, 30)
    proc = start("sync", emu, roster, tmp_path / "s1.xlsx", "--batch-size", "10", "--rate", "none",
                 env={"BULKPROV_FAULT": f"{point}:kill"})
    proc.communicate(timeout=60)
    again = bulkprov("sync", str(roster), "-o", str(tmp_path / "s2.xlsx"), "--rate", "none", "--settle", "0",
                     env=kore_env(emu))
    assert again.returncode == 0, again.stderr
    created_once(emu, emails)
    results = results_by_row(tmp_path / "s2.xlsx")
    assert sorted(results) == list(range(2, 32))
    plan = bulkprov("plan", str(roster), "-o", str(tmp_path / "p.xlsx"), "--rate", "none", env=kore_env(emu))
    assert plan.returncode == 0 and read_sheet(tmp_path / "p.xlsx", "Add") == []
