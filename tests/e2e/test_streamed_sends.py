"""Sending in constant memory (#30): the checked rows wait on disk, are sent chunk by chunk, and the
workbook and undo file are written from the ledger -- and a run sent in many chunks is the run sent whole.

The chunk is 5,000 rows in a real run; here it is a few rows (``SEND_CHUNK``), so that a small file crosses
many chunk edges: a batch never cut short at an edge, a stop between chunks, a resume after it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from bulkprov.emulator import EmulatorConfig
from bulkprov.jobs import JobSettings, run_job
from bulkprov.kore.auth import Credentials
from bulkprov.send import chunked as sending
from tests.conftest import read_sheet, results_by_row, write_roster

CFG = EmulatorConfig()
CREDS = Credentials(client_id=CFG.client_id, client_secret=CFG.client_secret)
INVALID = {3: {"Email": "not-an-email"}, 40: {"Email": ""}, 77: {"canCreateBot": "perhaps"}}
NOTED = {10: {"First Name": "Zero\u200bWidth"}}  # goes through with its invisible character removed: a note


def add(path: Path, emu, out: Path, state: Path, **extra) -> object:
    settings = JobSettings(command="add", host=emu.url, rate="none", batch_size=5, concurrency=2, output=out,
                           state_dir=state, send_email=False, **extra)
    return run_job(path, settings, credentials=CREDS)


def results(out: Path) -> list[tuple]:
    return [(r["row"], r["status"], r["reason"], r["error_code"], r["batch"]) for r in read_sheet(out, "Results")]


def test_a_run_sent_in_many_chunks_is_the_run_sent_whole(make_emulator, tmp_path, monkeypatch):
    roster = tmp_path / "roster.csv"
    write_roster(roster, 95, invalid=INVALID, extra=NOTED)
    whole_emu, chunked_emu = make_emulator(), make_emulator()
    whole = add(roster, whole_emu, tmp_path / "whole.xlsx", tmp_path / "s1")
    monkeypatch.setattr(sending, "SEND_CHUNK", 7)  # 92 valid rows: 13 chunk edges, none on a batch's edge
    chunked = add(roster, chunked_emu, tmp_path / "chunked.xlsx", tmp_path / "s2")
    assert (whole.exit_code, chunked.exit_code) == (1, 1)  # the three invalid rows
    assert results(tmp_path / "chunked.xlsx") == results(tmp_path / "whole.xlsx")
    noted = results_by_row(tmp_path / "chunked.xlsx")[12]
    assert noted["status"] == "success" and noted["reason"], "the row's note is in its reason, as when held"
    assert [r.status for r in chunked.rows_needing_attention()] == ["invalid"] * 3
    # Exactly the requests a whole plan makes: ceil(92 / 5) = 19, no batch cut short at a chunk's edge.
    assert chunked_emu.state()["counts"]["add_calls"] == whole_emu.state()["counts"]["add_calls"] == 19
    assert read_sheet(tmp_path / "chunked.undo.xlsx", "Users") == read_sheet(tmp_path / "whole.undo.xlsx", "Users")
    assert len(read_sheet(tmp_path / "chunked.undo.xlsx", "Users")) == 92


def test_a_stop_between_chunks_leaves_the_rest_pending_and_resume_sends_it(make_emulator, tmp_path, monkeypatch):
    monkeypatch.setattr(sending, "SEND_CHUNK", 10)
    emu = make_emulator(latency=0.1)
    roster, out, state = tmp_path / "roster.csv", tmp_path / "out.xlsx", tmp_path / "state"
    emails = write_roster(roster, 120)
    first = add(roster, emu, out, state, max_runtime=1.0)
    assert first.exit_code == 3
    rows = results_by_row(out)
    sent = {r for r, v in rows.items() if v["status"] == "success"}
    left = {r for r, v in rows.items() if v["status"] != "success"}
    assert sent and left and len(rows) == 120
    assert {rows[r]["error_code"] for r in left} == {"interrupted"}, "rows of chunks never sent say why, as sent ones"
    assert len(emu.state()["users"]) == len(sent), "every success is a user the server holds"
    second = add(roster, emu, out, state, resume=True)
    assert second.exit_code == 0
    assert {v["status"] for v in results_by_row(out).values()} == {"success"}
    counts = emu.state()["counts"]
    assert set(counts["created_per_email"]) == set(emails)
    assert all(n == 1 for n in counts["create_attempts_per_email"].values()), "nothing sent twice"


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="reads /proc/self/fd")
def test_the_rows_waiting_to_be_sent_are_owner_only_and_leave_no_file(make_emulator, tmp_path):
    emu = make_emulator()
    roster, out, state = tmp_path / "roster.csv", tmp_path / "out.xlsx", tmp_path / "state"
    write_roster(roster, 30)
    seen: list[tuple[str, int]] = []

    def spools(_progress: dict) -> None:  # while the run sends: what does it hold open in the state directory?
        for fd in os.listdir("/proc/self/fd"):
            try:
                target = os.readlink(f"/proc/self/fd/{fd}")
                mode = os.fstat(int(fd)).st_mode
            except OSError:
                continue
            if target.startswith(str(state)) and "ledger" not in target and not target.endswith("/lock"):
                seen.append((target, stat.S_IMODE(mode)))

    settings = JobSettings(command="add", host=emu.url, rate="none", output=out, state_dir=state, send_email=False)
    assert run_job(roster, settings, credentials=CREDS, progress=spools).exit_code == 0
    assert seen, "the checked rows wait in a file in the state directory"
    assert all(mode == 0o600 for _target, mode in seen)
    assert all(target.endswith("(deleted)") for target, _mode in seen), seen
    assert not [p.name for p in state.iterdir() if "rows" in p.name]


@pytest.mark.parametrize("command", ["add", "sync"])
def test_a_disk_too_full_for_the_waiting_rows_is_exit_2_and_nothing_is_sent(make_emulator, tmp_path, command):
    """The spool fills before anything leaves: one clear line, exit 2, no request; with room, the same run works
    (sync waits in the same spool as add)."""
    from tests.cli.test_cli import bulkprov, kore_env
    from tests.e2e.test_integrity import _limit_file_size, start

    emu = make_emulator()
    roster, out = tmp_path / "roster.csv", tmp_path / "out.xlsx"
    write_roster(roster, 3000)  # ~1.4 MB of checked rows waiting; files may not pass 400 KB
    proc = start(command, emu, roster, out, "--rate", "none", preexec=_limit_file_size(400_000))
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2, err
    assert "Traceback" not in err and "state-dir-unusable" in err
    assert emu.state()["requests"] == []
    again = bulkprov(command, str(roster), "-o", str(out), "--rate", "none", "--settle", "0", env=kore_env(emu))
    assert again.returncode == 0, again.stderr
    assert len(emu.state()["users"]) == 3000


def test_an_add_never_holds_its_rows(make_emulator, tmp_path, monkeypatch):
    """What the README promises for a million-row add: its checked rows go to the spool on disk, never into a
    list in memory (the bench measures what that saves)."""
    from bulkprov.jobs import frame

    def held(self, raw, row):
        raise AssertionError("a row held in memory")

    monkeypatch.setattr(frame.Checked, "take", held)
    roster = tmp_path / "roster.csv"
    write_roster(roster, 20, invalid={4: {"Email": "not-an-email"}})
    emu = make_emulator()
    outcome = add(roster, emu, tmp_path / "out.xlsx", tmp_path / "state")
    assert outcome.exit_code == 1 and emu.state()["counts"]["created"] == 19
    assert [r["status"] for r in read_sheet(tmp_path / "out.xlsx", "Results")].count("success") == 19
