"""Four eyes on the command line, and the audit chain: real ``bulkprov`` subprocesses against the emulator.

``sync`` over the guard writes a pending request and exits 4; the requester cannot approve it, nor can
someone who is not an approver; another person approves it with ``bulkprov approve ID``; the next
``sync`` goes ahead.  The person on the command line is the OS user — here the one who ran ``sudo``
(``SUDO_USER`` with a ``SUDO_UID`` other than ours, as sudo sets them).  Then one record of the audit
trail is edited and ``bulkprov audit verify`` names it.
"""

from __future__ import annotations

import contextlib
import csv
import http.server
import json
import os
import re
import threading
from pathlib import Path

from bulkprov.jobs.audit import AuditTrail
from tests.test_cli import bulkprov, kore_env

OTHER_UID = str(os.getuid() + 4242)


def as_person(emu, name: str) -> dict[str, str]:
    return {**kore_env(emu), "SUDO_USER": name, "SUDO_UID": OTHER_UID}


def roster(path: Path, n: int) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["Email", "First Name", "Last Name"])
        for i in range(n):
            writer.writerow([f"emp{i:03d}@acme-corp.com", f"First{i}", f"Last{i}"])
    return path


@contextlib.contextmanager
def webhook_catcher():
    """A loopback endpoint that keeps what is POSTed to it."""
    received: list[dict] = []

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (the stdlib's name)
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    finally:
        server.shutdown()


def test_sync_over_the_guard_waits_for_a_second_person(make_emulator, tmp_path):
    with webhook_catcher() as (hook_url, received):
        _four_eyes_sync(make_emulator, tmp_path, hook_url)
    approvals = [b for b in received if b.get("event", "").startswith("approval")]  # the rest: run summaries
    assert [(b["event"], b["state"]) for b in approvals] == [("approval-request", "pending"),
                                                             ("approval-decision", "approved")], received
    assert approvals[0]["reasons"] and approvals[0]["requester"] == "carol" and "removals" not in approvals[0]
    assert approvals[1]["decided_by"] == "alice" and approvals[1]["comment"]


def _four_eyes_sync(make_emulator, tmp_path, hook_url):
    emu = make_emulator()
    state = tmp_path / "state"
    config = tmp_path / "bulkprov.toml"
    config.write_text(f'[profiles.nightly]\nstate_dir = "{state}"\nrate = "none"\nsettle = 0\nmax_deletes = 5\n'
                      f'max_delete_percent = 100\napprovers = ["alice", "carol", "dave"]\nwebhook = "{hook_url}"\n',
                      encoding="utf-8")
    common = ["--config", str(config), "--profile", "nightly"]
    full = roster(tmp_path / "roster.csv", 30)
    first = bulkprov("sync", str(full), *common, env=as_person(emu, "carol"), cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert len(emu.state()["users"]) == 30

    truncated = roster(tmp_path / "roster.csv", 18)  # 12 removals, over the guard of 5
    pending = bulkprov("sync", str(truncated), *common, env=as_person(emu, "carol"), cwd=tmp_path)
    assert pending.returncode == 4, pending.stderr
    request_id = re.search(r"request (\w+) waits for approval", pending.stderr).group(1)
    assert "bulkprov approve ID" in pending.stderr
    assert len(emu.state()["users"]) == 30, "nothing changed while the request waits"
    again = bulkprov("sync", str(truncated), *common, env=as_person(emu, "carol"), cwd=tmp_path)
    assert again.returncode == 4 and request_id in again.stderr, "the same plan reuses its pending request"

    # carol is an approver herself, and still cannot approve her own request
    own = bulkprov("approve", request_id, *common, env=as_person(emu, "carol"), cwd=tmp_path)
    assert own.returncode == 2 and "someone else must decide it" in own.stderr
    stranger = bulkprov("approve", request_id, *common, env=as_person(emu, "mallory"), cwd=tmp_path)
    assert stranger.returncode == 2 and "not an approver" in stranger.stderr
    listed = bulkprov("approvals", *common, env=as_person(emu, "alice"), cwd=tmp_path)
    assert request_id in listed.stdout and "pending" in listed.stdout and "12 users would be removed" in listed.stdout

    ok = bulkprov("approve", request_id, "--comment", "leavers of Q3, checked with HR", *common,
                  env=as_person(emu, "alice"), cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert f"request {request_id} approved by alice" in ok.stdout
    twice = bulkprov("reject", request_id, "--comment", "no", *common, env=as_person(emu, "dave"), cwd=tmp_path)
    assert twice.returncode == 2 and "already approved" in twice.stderr

    done = bulkprov("sync", str(truncated), *common, env=as_person(emu, "carol"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert len(emu.state()["users"]) == 18
    stored = json.loads((state / "approvals" / f"{request_id}.json").read_text())
    assert stored["state"] == "used" and stored["decided_by"] == "alice" and stored["requester"] == "carol"

    # the audit trail saw it all, in order, and its chain holds
    events = [(r["event"], r["who"]) for r in AuditTrail(state).records()]
    assert ("request", "carol") in events and ("approval", "alice") in events and ("run", "carol") in events
    assert events.index(("request", "carol")) < events.index(("approval", "alice")) < events.index(("run", "carol"))
    verified = bulkprov("audit", "verify", *common, cwd=tmp_path)
    assert verified.returncode == 0 and "the chain holds" in verified.stdout
    exported = bulkprov("audit", "export", "--format", "csv", *common, cwd=tmp_path)
    assert exported.stdout.splitlines()[0].startswith("seq,time,who,where,event") and "alice" in exported.stdout


def test_a_rejected_request_never_runs_and_needs_a_comment(make_emulator, tmp_path):
    emu = make_emulator()
    state = tmp_path / "state"
    config = tmp_path / "bulkprov.toml"
    config.write_text(f'[profiles.p]\nstate_dir = "{state}"\nrate = "none"\nsettle = 0\nmax_deletes = 2\nmax_delete_percent = 100\n'
                      f'approvers = ["alice"]\n', encoding="utf-8")
    common = ["--config", str(config), "--profile", "p"]
    assert bulkprov("sync", str(roster(tmp_path / "r.csv", 10)), *common, env=as_person(emu, "bob"),
                    cwd=tmp_path).returncode == 0
    pending = bulkprov("sync", str(roster(tmp_path / "r.csv", 5)), *common, env=as_person(emu, "bob"), cwd=tmp_path)
    request_id = re.search(r"request (\w+) waits", pending.stderr).group(1)
    blank = bulkprov("reject", request_id, *common, env=as_person(emu, "alice"), cwd=tmp_path)
    assert blank.returncode == 2 and "needs a comment" in blank.stderr
    assert bulkprov("reject", request_id, "--comment", "wrong file", *common, env=as_person(emu, "alice"),
                    cwd=tmp_path).returncode == 0
    after = bulkprov("sync", str(tmp_path / "r.csv"), *common, env=as_person(emu, "bob"), cwd=tmp_path)
    assert after.returncode == 4 and request_id not in after.stderr, "a rejected plan asks again, anew"
    assert len(emu.state()["users"]) == 10
    allow = bulkprov("sync", str(tmp_path / "r.csv"), "--allow-deletes", "5", *common, env=as_person(emu, "bob"),
                     cwd=tmp_path)
    assert allow.returncode == 2 and "bulkprov approve ID" in allow.stderr, "no one-person bypass with approvers"


def test_audit_verify_names_an_edited_record(tmp_path):
    trail = AuditTrail(tmp_path)
    for i in range(6):
        trail.append("upload", f"user{i}", "203.0.113.9", input_sha256=f"{i:064x}", rows=i * 10)
    assert bulkprov("audit", "verify", "--state-dir", str(tmp_path)).returncode == 0
    lines = trail.path.read_text().splitlines()
    record = json.loads(lines[3])
    record["what"]["rows"] = 9999  # someone hides what was really uploaded
    lines[3] = json.dumps(record)
    trail.path.write_text("\n".join(lines) + "\n")
    proc = bulkprov("audit", "verify", "--state-dir", str(tmp_path))
    assert proc.returncode == 1
    assert "record 4 (line 4)" in proc.stderr and "changed" in proc.stderr and "3 records before it hold" in proc.stderr
    del lines[3]  # removing it instead is named too: the next record no longer follows
    trail.path.write_text("\n".join(lines) + "\n")
    proc = bulkprov("audit", "verify", "--state-dir", str(tmp_path))
    assert proc.returncode == 1 and "record 5 (line 4)" in proc.stderr and "does not follow" in proc.stderr
