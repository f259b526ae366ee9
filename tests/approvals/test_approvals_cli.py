"""Four eyes on the command line: real ``bulkprov`` processes against the emulator, each run by a person the
system names.

Who a person is comes from the login uid the kernel keeps for a process (``/proc/self/loginuid``, set
at login and kept across sudo): each process here is started with the login uid of one of the machine's
accounts (``daemon`` asks, ``bin`` and ``games`` approve, ``sys`` is a stranger), as the login of that
person would set it.  Writing a login uid needs root: these tests skip elsewhere, loudly.

Each test proves one row of issue 29's table the other way round.
"""

from __future__ import annotations

import contextlib
import csv
import http.server
import json
import os
import pwd
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from bulkprov.approvals.audit import AuditTrail
from bulkprov.emulator import EmulatorConfig
from tests.cli.test_cli import kore_env
from tests.conftest import ROOT, guide


def _loginuid_settable() -> bool:
    if os.geteuid() != 0:
        return False
    probe = subprocess.run([sys.executable, "-c", "print(open('/proc/self/loginuid').read())"], capture_output=True,
                           text=True, preexec_fn=lambda: _set_loginuid(1))
    return probe.returncode == 0 and probe.stdout.strip() == "1"


def _set_loginuid(uid: int) -> None:
    with open("/proc/self/loginuid", "w") as fh:
        fh.write(str(uid))


as_root = pytest.mark.skipif(not _loginuid_settable(), reason="needs root to give each process a login uid")


class Person:
    def __init__(self, name: str) -> None:
        self.name, self.uid = name, pwd.getpwnam(name).pw_uid


CAROL, ALICE, MALLORY, DAVE = Person("daemon"), Person("bin"), Person("sys"), Person("games")  # asks, approves, …


def bulkprov(person: Person | None, *args: str, env: dict | None = None, cwd: Path | None = None,
             timeout: float = 120) -> subprocess.CompletedProcess:
    """``bulkprov ARGS`` in a process whose login uid is ``person``'s (None: the test's own, unset)."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("KORE_", "SUDO_"))}
    full_env.update(env or {})
    become = (lambda: _set_loginuid(person.uid)) if person is not None else None
    return subprocess.run([sys.executable, "-m", "bulkprov", *args], capture_output=True, text=True, env=full_env,
                          cwd=cwd or ROOT, timeout=timeout, preexec_fn=become)


def roster(path: Path, n: int, *, extra: dict[int, dict[str, str]] | None = None) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["Email", "First Name", "Last Name", "Employee ID", "canCreateBot"])
        for i in range(n):
            cells = {"canCreateBot": "", **(extra or {}).get(i, {})}
            writer.writerow([f"emp{i:03d}@acme-corp.com", f"First{i}", f"Last{i}", f"E{i:05d}", cells["canCreateBot"]])
    return path


def emails(emu) -> set[str]:
    return {u["userInfo"]["emailId"] for u in emu.state()["users"]}


def trail(emu) -> AuditTrail:
    from bulkprov.approvals.policy import Account

    return AuditTrail.of(Account(emu.url, EmulatorConfig().client_id))


def events(emu) -> list[tuple[str, str]]:
    return [(r["event"], r["who"]) for r in trail(emu).records()]


def profile(tmp_path: Path, name: str, **keys) -> list[str]:
    """A profile of its own config file; returns the ``--config … --profile …`` arguments."""
    lines = [f"[profiles.{name}]", f'state_dir = "{tmp_path / "state"}"', 'rate = "none"', 'settle = 0']
    lines += [f"{k} = {json.dumps(v)}" for k, v in keys.items()]
    path = tmp_path / f"{name}.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return ["--config", str(path), "--profile", name]


def policy(records: Path, emu, **keys) -> Path:
    """The account's policy file at its fixed place (root's, 0644: nobody else may write it)."""
    folder = records.parent / "policy.d"
    folder.mkdir(mode=0o755, exist_ok=True)
    path = folder / "acme.toml"
    body = [f'host = "{emu.url}"', f'client_id = "{EmulatorConfig().client_id}"']
    body += [f"{k} = {json.dumps(v)}" for k, v in keys.items()]
    path.write_text("\n".join(body) + "\n", encoding="utf-8")
    path.chmod(0o644)
    return path


def request_id(proc: subprocess.CompletedProcess) -> str:
    found = re.search(r"request (\w+) waits for approval", proc.stderr)
    assert found, proc.stderr
    return found.group(1)


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


# -- the whole flow ---------------------------------------------------------------------------------------------------


@as_root
def test_sync_over_the_guard_waits_for_a_second_person(make_emulator, tmp_path):
    emu = make_emulator()
    with webhook_catcher() as (hook_url, received):
        common = profile(tmp_path, "nightly", max_deletes=5, max_delete_percent=100.0,
                         approvers=[ALICE.name, CAROL.name, DAVE.name], webhook=hook_url)
        env = kore_env(emu)
        first = bulkprov(CAROL, "sync", str(roster(tmp_path / "roster.csv", 30)), *common, env=env, cwd=tmp_path)
        assert first.returncode == 0, first.stderr
        truncated = roster(tmp_path / "roster.csv", 18)  # 12 removals, over the guard of 5
        pending = bulkprov(CAROL, "sync", str(truncated), *common, env=env, cwd=tmp_path)
        assert pending.returncode == 4, pending.stderr
        rid = request_id(pending)
        assert "bulkprov approve ID" in pending.stderr and len(emails(emu)) == 30, "nothing changed while it waits"
        again = bulkprov(CAROL, "sync", str(truncated), *common, env=env, cwd=tmp_path)
        assert again.returncode == 4 and rid in again.stderr, "the same plan reuses its pending request"

        own = bulkprov(CAROL, "approve", rid, *common, cwd=tmp_path)  # an approver, and still not her own
        assert own.returncode == 2 and "someone else must decide it" in own.stderr
        stranger = bulkprov(MALLORY, "approve", rid, *common, cwd=tmp_path)
        assert stranger.returncode == 2 and "sys may not approve" in stranger.stderr
        listed = bulkprov(ALICE, "approvals", *common, cwd=tmp_path)
        assert rid in listed.stdout and "pending" in listed.stdout and "12 users would be removed" in listed.stdout
        ok = bulkprov(ALICE, "approve", rid, "--comment", "leavers of Q3, checked with HR", *common, cwd=tmp_path)
        assert ok.returncode == 0 and f"request {rid} approved by bin" in ok.stdout, ok.stderr
        twice = bulkprov(DAVE, "reject", rid, "--comment", "no", *common, cwd=tmp_path)
        assert twice.returncode == 2 and "already approved" in twice.stderr

        done = bulkprov(CAROL, "sync", str(truncated), *common, env=env, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert len(emails(emu)) == 18
        used = bulkprov(CAROL, "sync", str(truncated), *common, env=env, cwd=tmp_path)
        assert used.returncode == 0, "nothing left to remove: no guard, no request"
    seen = events(emu)
    approved_at = seen.index(("approval", "bin"))
    assert seen.index(("request", "daemon")) < approved_at and ("run", "daemon") in seen[approved_at:]
    approvals = [b for b in received if b.get("event", "").startswith("approval")]
    assert [(b["event"], b["state"]) for b in approvals] == [("approval-request", "pending"),
                                                             ("approval-decision", "approved")]
    assert approvals[0]["requester"] == "daemon" and approvals[1]["decided_by"] == "bin"
    runs = [b for b in received if "run_id" in b]
    head = runs[-1]["audit_head"]
    assert head["records"] <= len(list(trail(emu).records())) and len(head["hash"]) == 64
    assert all(b["audit_head"]["records"] > 0 for b in approvals), "every notification carries the trail's head"


# -- row 1: a removal over the guard, a protected user among the rows ---------------------------------------------


@as_root
def test_remove_over_the_guard_with_a_protected_user_waits_for_approval(make_emulator, records, tmp_path):
    emu = make_emulator(users=[{"emailId": f"emp{i:03d}@acme-corp.com", "orgUserId": f"E{i:05d}"} for i in range(6)])
    leavers = tmp_path / "leavers.csv"
    leavers.write_text("Email\nemp000@acme-corp.com\nemp001@acme-corp.com\nemp002@acme-corp.com\n"
                       "emp003@acme-corp.com\n", encoding="utf-8")
    strict = profile(tmp_path, "strict", max_deletes=2, approvers=[ALICE.name], protected=["emp002@acme-corp.com"])
    proc = bulkprov(CAROL, "remove", str(leavers), *strict, env=kore_env(emu), cwd=tmp_path)
    assert proc.returncode == 4, proc.stderr
    assert "4 users would be removed, over the limit of 2" in proc.stderr
    assert "1 protected users would be changed or removed (emp002@acme-corp.com)" in proc.stderr
    assert len(emails(emu)) == 6, "nobody was removed, the protected user least of all"
    stored = json.loads((records / "approvals" / f"{request_id(proc)}.json").read_text())
    assert stored["summary"]["protected"] == ["emp002@acme-corp.com"] and len(stored["summary"]["removals"]) == 4
    assert stored["requester"] == "daemon" and stored["approvers"] == ["bin"] and stored["client_id"]
    listed = bulkprov(ALICE, "approvals", *strict, cwd=tmp_path)
    assert request_id(proc) in listed.stdout and "protected" in listed.stdout


# -- row 2: Builder grants and removals on add/remove, and every run in the audit trail ------------------------------


@as_root
def test_builder_grants_and_removals_ask_on_every_sending_command(make_emulator, tmp_path):
    emu = make_emulator(users=[{"emailId": f"old{i}@acme-corp.com"} for i in range(6)])
    nightly = profile(tmp_path, "nightly", max_deletes=5, approvers=[ALICE.name])
    builders = roster(tmp_path / "builder.csv", 12, extra={i: {"canCreateBot": "yes"} for i in range(12)})
    added = bulkprov(CAROL, "add", str(builders), *nightly, env=kore_env(emu), cwd=tmp_path)
    assert added.returncode == 4, added.stderr
    assert "12 users would get Builder access" in added.stderr and len(emails(emu)) == 6
    leavers = tmp_path / "leavers.csv"
    leavers.write_text("Email\n" + "".join(f"old{i}@acme-corp.com\n" for i in range(6)), encoding="utf-8")
    removed = bulkprov(CAROL, "remove", str(leavers), *nightly, env=kore_env(emu), cwd=tmp_path)
    assert removed.returncode == 4 and "6 users would be removed, over the limit of 5" in removed.stderr
    assert len(emails(emu)) == 6
    seen = [(r["event"], r["who"], r["what"].get("exit_code")) for r in trail(emu).records()]
    assert ("request", "daemon", None) in seen and ("run", "daemon", 4) in seen
    assert sum(1 for e in seen if e[0] == "run") == 2 and sum(1 for e in seen if e[0] == "request") == 2


# -- row 3: a rejected plan is never run by an override, and an override is recorded -------------------------------


@as_root
def test_a_rejected_request_never_runs_by_an_override(make_emulator, tmp_path):
    emu = make_emulator()
    env = kore_env(emu)
    p = profile(tmp_path, "p", max_deletes=2, max_delete_percent=100.0, approvers=[ALICE.name])
    assert bulkprov(CAROL, "sync", str(roster(tmp_path / "r.csv", 10)), *p, env=env, cwd=tmp_path).returncode == 0
    pending = bulkprov(CAROL, "sync", str(roster(tmp_path / "r.csv", 5)), *p, env=env, cwd=tmp_path)
    rid = request_id(pending)
    blank = bulkprov(ALICE, "reject", rid, *p, cwd=tmp_path)
    assert blank.returncode == 2 and "needs a comment" in blank.stderr
    assert bulkprov(ALICE, "reject", rid, "--comment", "wrong file", *p, cwd=tmp_path).returncode == 0
    after = bulkprov(CAROL, "sync", str(tmp_path / "r.csv"), *p, env=env, cwd=tmp_path)
    assert after.returncode == 4 and rid not in after.stderr, "a rejected plan asks again, anew"
    allow = bulkprov(CAROL, "sync", str(tmp_path / "r.csv"), "--allow-deletes", "5", *p, env=env, cwd=tmp_path)
    assert allow.returncode == 2 and "bulkprov approve ID" in allow.stderr, "no one-person bypass with approvers"
    # the same plan without the profile (so without its approvers): still never run
    bare = bulkprov(CAROL, "sync", str(tmp_path / "r.csv"), "--state-dir", str(tmp_path / "state"), "--rate", "none",
                    "--allow-deletes", "10", env=env, cwd=tmp_path)
    assert bare.returncode == 3 and f"request {rid} for this same plan was rejected by bin" in bare.stderr, bare.stderr
    assert len(emails(emu)) == 10, "nobody was removed"
    assert not [e for e in events(emu) if e[0] == "override"]


@as_root
def test_without_approvers_a_guard_names_its_override_and_the_override_is_recorded(make_emulator, tmp_path):
    emu = make_emulator()
    env = kore_env(emu)
    p = profile(tmp_path, "solo", max_deletes=2, max_delete_percent=100.0)
    assert bulkprov(CAROL, "sync", str(roster(tmp_path / "r.csv", 10)), *p, env=env, cwd=tmp_path).returncode == 0
    stopped = bulkprov(CAROL, "sync", str(roster(tmp_path / "r.csv", 5)), *p, env=env, cwd=tmp_path)
    assert stopped.returncode == 3 and "[guard]" in stopped.stderr
    assert "approve it with --allow-deletes 5" in stopped.stderr and "waits for approval" not in stopped.stderr
    ok = bulkprov(CAROL, "sync", str(tmp_path / "r.csv"), "--allow-deletes", "5", *p, env=env, cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    overrides = [r for r in trail(emu).records() if r["event"] == "override"]
    assert len(overrides) == 1 and overrides[0]["who"] == "daemon"
    assert overrides[0]["what"]["guard"] == "deletes" and overrides[0]["what"]["allowed"] == 5
    runs = [r for r in trail(emu).records() if r["event"] == "run"]
    assert runs[-1]["what"]["overrides"] == {"allow_deletes": 5}


# -- row 4: who the person is -----------------------------------------------------------------------------------------


@as_root
def test_sudo_variables_typed_by_hand_name_nobody(make_emulator, tmp_path):
    emu = make_emulator()
    env = kore_env(emu)
    p = profile(tmp_path, "p", max_deletes=2, max_delete_percent=100.0, approvers=[ALICE.name])
    assert bulkprov(CAROL, "sync", str(roster(tmp_path / "r.csv", 10)), *p, env=env, cwd=tmp_path).returncode == 0
    rid = request_id(bulkprov(CAROL, "sync", str(roster(tmp_path / "r.csv", 5)), *p, env=env, cwd=tmp_path))
    forged = {"SUDO_USER": ALICE.name, "SUDO_UID": str(ALICE.uid)}
    # no login uid (as in a container): the real uid, root — not the sudo caller someone typed
    as_typed = bulkprov(None, "approve", rid, "--comment", "ok", *p, env=forged, cwd=tmp_path)
    assert as_typed.returncode == 2 and "root may not approve" in as_typed.stderr, as_typed.stderr
    with_login = bulkprov(MALLORY, "approve", rid, "--comment", "ok", *p, env=forged, cwd=tmp_path)
    assert with_login.returncode == 2 and "sys may not approve" in with_login.stderr, "the login uid names sys"
    assert f"{rid}  pending" in bulkprov(ALICE, "approvals", *p, cwd=tmp_path).stdout


@as_root
def test_a_real_sudo_names_its_caller(tmp_path):
    """Without a login uid, a real sudo among the ancestors — set-uid root, run by SUDO_UID — is believed."""
    script = tmp_path / "fake_sudo.py"
    script.write_text(
        "import os, subprocess, sys\n"
        "open('/proc/self/comm', 'w').write('sudo')\n"
        "uid = int(sys.argv[1])\n"
        "os.setresuid(uid, 0, 0)  # sudo runs as root for the person who typed it\n"
        "code = 'from bulkprov.approvals.identity import cli_person; p = cli_person(); print(p.name, p.how)'\n"
        "env = dict(os.environ, SUDO_USER=sys.argv[2], SUDO_UID=str(uid))\n"
        "become_root = lambda: os.setresuid(0, 0, 0)  # and runs the command as root (sudo's default target)\n"
        "sys.exit(subprocess.run([sys.executable, '-c', code], env=env, preexec_fn=become_root).returncode)\n",
        encoding="utf-8")
    real = subprocess.run([sys.executable, str(script), str(ALICE.uid), ALICE.name], capture_output=True, text=True,
                          cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert real.stdout.split() == ["bin", "sudo"], real.stderr
    lying = subprocess.run([sys.executable, str(script), str(ALICE.uid), DAVE.name], capture_output=True, text=True,
                           cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert lying.stdout.split() == ["root", "uid"], "SUDO_USER must be SUDO_UID's own name"


# -- row 5: who may approve is the account's, never the caller's config ---------------------------------------------


@as_root
def test_an_approver_named_in_my_own_config_may_not_approve(make_emulator, records, tmp_path):
    emu = make_emulator()
    env = kore_env(emu)
    p = profile(tmp_path, "p", max_deletes=2, max_delete_percent=100.0, approvers=[ALICE.name])
    assert bulkprov(CAROL, "sync", str(roster(tmp_path / "r.csv", 10)), *p, env=env, cwd=tmp_path).returncode == 0
    rid = request_id(bulkprov(CAROL, "sync", str(roster(tmp_path / "r.csv", 5)), *p, env=env, cwd=tmp_path))
    mine = profile(tmp_path, "mine", approvers=[MALLORY.name])
    proc = bulkprov(MALLORY, "approve", rid, "--comment", "fine", *mine, cwd=tmp_path)
    assert proc.returncode == 2 and "sys may not approve" in proc.stderr, proc.stderr
    # with a policy file, it is the policy as it is now that decides (here: dave, not alice any more)
    policy(records, emu, approvers=[DAVE.name], max_deletes=2, max_delete_percent=100.0)
    assert "bin may not approve" in bulkprov(ALICE, "approve", rid, "--comment", "ok", cwd=tmp_path).stderr
    assert bulkprov(DAVE, "approve", rid, "--comment", "ok", *mine, cwd=tmp_path).returncode == 0


# -- row 6: the account's policy holds whatever config a run brings ------------------------------------------------


@as_root
def test_the_accounts_policy_holds_for_a_run_with_its_own_config(make_emulator, records, tmp_path):
    emu = make_emulator()
    env = kore_env(emu)
    policy(records, emu, approvers=[ALICE.name], max_deletes=3, max_delete_percent=100.0)
    own = profile(tmp_path, "own", host=emu.url)  # host and state dir, no approvers, no guards of its own
    assert bulkprov(CAROL, "sync", str(roster(tmp_path / "r.csv", 30)), *own, env=env, cwd=tmp_path).returncode == 0
    proc = bulkprov(CAROL, "sync", str(roster(tmp_path / "r.csv", 6)), *own, env=env, cwd=tmp_path)
    assert proc.returncode == 4 and "24 users would be removed, over the limit of 3" in proc.stderr, proc.stderr
    assert len(emails(emu)) == 30
    loose = profile(tmp_path, "loose", max_deletes=50)
    refused = bulkprov(CAROL, "sync", str(tmp_path / "r.csv"), *loose, env=env, cwd=tmp_path)
    assert refused.returncode == 2 and "max_deletes = 50 would loosen the policy" in refused.stderr
    override = bulkprov(CAROL, "sync", str(tmp_path / "r.csv"), *own, "--allow-deletes", "30", env=env, cwd=tmp_path)
    assert override.returncode == 2 and "names approvers" in override.stderr, "refused for everyone"


@as_root
def test_a_profile_acting_as_the_policy_says_so(make_emulator, tmp_path):
    emu = make_emulator()
    p = profile(tmp_path, "p", max_deletes=5)
    proc = bulkprov(CAROL, "add", str(roster(tmp_path / "r.csv", 2)), *p, env=kore_env(emu), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "the profile's max_deletes act as this account's policy; move them to a policy file in" in proc.stderr


# -- row 9: an approval is for one account --------------------------------------------------------------------------


@as_root
def test_an_approval_for_one_host_is_not_used_on_another(make_emulator, tmp_path):
    a, b = make_emulator(), make_emulator()
    p = profile(tmp_path, "p", max_deletes=2, max_delete_percent=100.0, approvers=[ALICE.name])
    for emu in (a, b):
        seed = bulkprov(CAROL, "sync", str(roster(tmp_path / "r.csv", 10)), *p, "--host", emu.url,
                        env=kore_env(a), cwd=tmp_path)
        assert seed.returncode == 0, seed.stderr
    rid = request_id(bulkprov(CAROL, "sync", str(roster(tmp_path / "r.csv", 5)), *p, "--host", a.url,
                              env=kore_env(a), cwd=tmp_path))
    assert bulkprov(ALICE, "approve", rid, "--comment", "A only", *p, cwd=tmp_path).returncode == 0
    on_b = bulkprov(CAROL, "sync", str(tmp_path / "r.csv"), *p, "--host", b.url, env=kore_env(a), cwd=tmp_path)
    assert on_b.returncode == 4 and rid not in on_b.stderr, on_b.stderr
    assert len(emails(b)) == 10
    on_a = bulkprov(CAROL, "sync", str(tmp_path / "r.csv"), *p, "--host", a.url, env=kore_env(a), cwd=tmp_path)
    assert on_a.returncode == 0 and len(emails(a)) == 5, on_a.stderr


# -- row 13: every command line run is in the trail ----------------------------------------------------------------


@as_root
def test_every_command_line_run_is_an_audit_record(make_emulator, tmp_path):
    emu = make_emulator()
    env = kore_env(emu)
    r = roster(tmp_path / "r.csv", 4)
    for command in ("add", "update", "lookup", "plan", "sync", "remove"):
        proc = bulkprov(CAROL, command, str(r), "--rate", "none", env=env, cwd=tmp_path)
        assert proc.returncode in (0, 1), proc.stderr
    runs = [rec["what"] for rec in trail(emu).records() if rec["event"] == "run"]
    assert [w["command"] for w in runs] == ["add", "update", "lookup", "plan", "sync", "remove"]
    assert all(w["input"] == "r.csv" and len(w["input_sha256"]) == 64 and w["host"] == emu.url for w in runs)
    assert runs[0]["counts"] == {"success": 4} and runs[0]["exit_code"] == 0
    assert {rec["who"] for rec in trail(emu).records() if rec["event"] == "run"} == {"daemon"}
    verified = bulkprov(None, "audit", "verify", "--host", emu.url, env=env, cwd=tmp_path)
    assert verified.returncode == 0 and "the chain holds" in verified.stdout, verified.stderr
    alone = bulkprov(None, "audit", "verify", cwd=tmp_path)  # the only trail on the machine: no account needed
    assert alone.returncode == 0 and str(trail(emu).path) in alone.stdout, alone.stderr
    exported = bulkprov(CAROL, "export", "-o", str(tmp_path / "account.xlsx"), "--rate", "none", env=env, cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    last = list(trail(emu).records())[-1]
    assert (last["event"], last["who"], last["what"]["kind"]) == ("export", "daemon", "account")
    assert last["what"]["users"] == len(emails(emu)) == 0, "everyone was removed by the last run"
    assert "\x1b" not in bulkprov(None, "runs", "--state-dir", str(tmp_path / ".bulkprov")).stdout


# -- row 14: what is printed cannot lie -----------------------------------------------------------------------------


@as_root
def test_control_characters_in_a_file_name_are_escaped(make_emulator, tmp_path):
    emu = make_emulator()
    p = profile(tmp_path, "p", max_deletes=0, approvers=[ALICE.name])
    hostile = tmp_path / "leavers\r\x1b[2Kapproved by bin.csv"
    hostile.write_text("Email\nemp000@acme-corp.com\n", encoding="utf-8")
    make = bulkprov(CAROL, "remove", str(hostile), *p, env=kore_env(emu), cwd=tmp_path)
    assert make.returncode == 4, make.stderr
    listed = bulkprov(ALICE, "approvals", *p, cwd=tmp_path).stdout
    assert "\r" not in listed and "\x1b" not in listed
    assert "leavers\\r<U+001B>[2Kapproved by bin.csv" in listed and "pending" in listed


# -- rows 10 and 11: the trail cannot lose its end unnoticed, and a damaged line is named --------------------------


def _trail(tmp_path: Path, n: int = 8, who: str = "user") -> AuditTrail:
    t = AuditTrail(tmp_path / "acct.jsonl")
    for i in range(n):
        t.append("upload", f"{who}{i}", "203.0.113.9", input_sha256=f"{i:064x}", rows=i * 10)
    return t


def verify(t: AuditTrail, *more: str) -> subprocess.CompletedProcess:
    return bulkprov(None, "audit", "verify", "--trail", str(t.path), *more)


def test_a_trail_whose_end_was_cut_does_not_verify(tmp_path):
    t = _trail(tmp_path)
    good = verify(t)
    assert good.returncode == 0 and "8 records, the chain holds" in good.stdout
    head = good.stdout.split("head ")[1].split()[0]
    lines = t.path.read_text().splitlines()
    t.path.write_text("\n".join(lines[:-1]) + "\n")  # its last record deleted
    cut = verify(t)
    assert cut.returncode == 1 and "ends early: its head says 8 records" in cut.stderr and "holds 7" in cut.stderr
    t.path.write_text("")  # emptied
    assert verify(t).returncode == 1
    t.path.unlink()  # deleted
    gone = verify(t)
    assert gone.returncode == 1 and "ends early" in gone.stderr
    t.head_path.unlink()  # and its head: nothing proves nothing was lost
    nothing = verify(t)
    assert nothing.returncode == 1 and "nothing proves no records were lost" in nothing.stderr
    # a head kept elsewhere: the trail rebuilt to look whole must still hold it
    # (other people: written in the same second, the same eight records would rightly be the same trail)
    t2 = _trail(tmp_path / "again", 8, who="someone-else")
    assert verify(t2, "--expect", head).returncode == 1, "another trail of 8 records is not the one kept"
    assert verify(t2, "--expect", f"8:{t2.head()['hash']}").returncode == 0
    assert verify(t2, "--expect", "nine:xyz").returncode == 2


def test_a_damaged_or_torn_line_is_named_and_the_next_record_starts_afresh(tmp_path):
    t = _trail(tmp_path, 4)
    text = t.path.read_text().splitlines()
    t.path.write_text("\n".join([*text[:2], "null", *text[2:]]) + "\n")
    proc = verify(t)
    assert proc.returncode == 1 and "line 3 (record ?) is damaged or torn" in proc.stderr, proc.stderr
    exported = bulkprov(None, "audit", "export", "--trail", str(t.path))
    assert exported.returncode == 0 and exported.stdout.count("\n") == 5 and '"event": "damaged"' in exported.stdout
    t.path.write_text("\n".join(text) + "\n" + text[0][:40])  # a torn last line (a crash mid-write)
    t.append("login", "ann", "203.0.113.9", outcome="ok")
    lines = t.path.read_text().splitlines()
    assert lines[-2] == text[0][:40] and json.loads(lines[-1])["who"] == "ann", "not glued onto the torn line"
    proc = verify(t)
    assert proc.returncode == 1 and "line 5 (record ?) is damaged or torn" in proc.stderr
    assert "record 5" not in proc.stderr.split("line 5")[0], "the records after it chain on"


def test_prune_keeps_the_chain_verifiable(make_emulator, tmp_path):
    import datetime as dt

    t = _trail(tmp_path, 6)
    old = dt.datetime.now().astimezone() + dt.timedelta(seconds=1)
    assert t.prune(old, "root", "cli@test") == 6
    t.append("login", "ann", "203.0.113.9", outcome="ok")
    verdict = t.verify()
    assert verdict.holds and verdict.count == 7, verdict.problems
    first = next(t.records())
    assert first["event"] == "pruned" and first["what"]["records"] == 6
    assert t.prune(dt.datetime.now().astimezone() + dt.timedelta(seconds=1), "root", "cli@test") == 7
    assert t.verify().holds and next(t.records())["what"]["records"] == 7


@as_root
def test_prune_removes_old_personal_data(make_emulator, tmp_path):
    emu = make_emulator()
    env = kore_env(emu)
    r = roster(tmp_path / "r.csv", 3)
    out = tmp_path / "r.add-results.xlsx"
    assert bulkprov(CAROL, "add", str(r), "--rate", "none", "-o", str(out), env=env, cwd=tmp_path).returncode == 0
    (tmp_path / "mine.xlsx").write_text("not ours")
    kept = bulkprov(CAROL, "prune", "--older-than", "1", "--state-dir", str(tmp_path / ".bulkprov"), "--host",
                    emu.url, env=env, cwd=tmp_path)
    assert kept.returncode == 0 and "0 ledger runs" in kept.stdout and out.is_file()
    gone = bulkprov(CAROL, "prune", "--older-than", "-1", "--state-dir", str(tmp_path / ".bulkprov"), "--host",
                    emu.url, env=env, cwd=tmp_path)
    assert gone.returncode == 0 and "1 ledger runs" in gone.stdout, gone.stderr
    assert not out.exists() and (tmp_path / "mine.xlsx").is_file() and r.is_file()
    assert bulkprov(None, "runs", "--state-dir", str(tmp_path / ".bulkprov")).stdout.count("\n") == 1
    records = list(trail(emu).records())
    assert records[0]["event"] == "pruned" and records[-1]["event"] == "prune" and trail(emu).verify().holds


@as_root
def test_resuming_the_run_an_approval_let_through_needs_no_second_approval(make_emulator, tmp_path):
    emu = make_emulator()
    env = kore_env(emu)
    p = profile(tmp_path, "p", approvers=[ALICE.name], builder_confirm=0, batch_size=2, concurrency=1)
    builders = roster(tmp_path / "b.csv", 8, extra={i: {"canCreateBot": "yes"} for i in range(8)})
    rid = request_id(bulkprov(CAROL, "add", str(builders), *p, env=env, cwd=tmp_path))
    assert bulkprov(ALICE, "approve", rid, "--comment", "new builders", *p, cwd=tmp_path).returncode == 0
    killed = bulkprov(CAROL, "add", str(builders), *p, env={**env, "BULKPROV_FAULT": "sending:3"}, cwd=tmp_path)
    assert killed.returncode == -9 and 0 < len(emails(emu)) < 8, killed.stderr
    resumed = bulkprov(CAROL, "add", str(builders), "--resume", *p, env=env, cwd=tmp_path)
    assert resumed.returncode == 0 and len(emails(emu)) == 8, resumed.stderr
    again = bulkprov(CAROL, "add", str(builders), *p, env=env, cwd=tmp_path)
    assert again.returncode == 4, "a new run of the same plan: one approval, one run"


@as_root
def test_a_policy_change_is_recorded_and_an_unwritable_trail_sends_nothing(make_emulator, records, tmp_path):
    emu = make_emulator()
    env = kore_env(emu)
    r = roster(tmp_path / "r.csv", 2)
    policy(records, emu, approvers=[ALICE.name], max_deletes=9)
    assert bulkprov(CAROL, "add", str(r), "--rate", "none", env=env, cwd=tmp_path).returncode == 0
    policy(records, emu, approvers=[ALICE.name], max_deletes=4)  # someone tightens it
    assert bulkprov(CAROL, "update", str(r), "--rate", "none", env=env, cwd=tmp_path).returncode == 0
    changes = [rec["what"] for rec in trail(emu).records() if rec["event"] == "policy"]
    assert [c["max_deletes"] for c in changes] == [9, 4] and changes[0]["file"].endswith("acme.toml")
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("x")
    before = len(emu.state()["requests"])
    proc = bulkprov(CAROL, "add", str(r), "--rate", "none", env={**env, "BULKPROV_RECORDS_DIR": str(blocked)},
                    cwd=tmp_path)
    assert proc.returncode == 2 and "[audit-unwritable]" in proc.stderr and "nothing was sent" in proc.stderr
    assert len(emu.state()["requests"]) == before


def test_the_deployment_examples_mount_the_policy_where_bulkprov_looks(records):
    """The guide's systemd unit and Kubernetes CronJob: the policy at the fixed place, read-only; the records
    (audit trail, requests) on persistent storage."""
    from bulkprov.approvals.policy import POLICY_DIR, RECORDS_DIR

    readme = guide("nightly-sync.md")
    unit = readme.split("# /etc/systemd/system/bulkprov.service", 1)[1].split("```", 1)[0]
    assert f"ReadOnlyPaths={POLICY_DIR}" in unit and f"StateDirectory={RECORDS_DIR.name}" in unit
    cron = readme.split("kind: CronJob", 1)[1].split("```", 1)[0]
    mounts = {m.group(1): m.group(0) for m in re.finditer(r"\{name: (\w+), mountPath: [^}]*\}", cron)}
    assert f"mountPath: {POLICY_DIR}, readOnly: true" in mounts["policy"]
    assert "configMap: {name: bulkprov-policy}" in cron
    records_mount = [m for m in re.findall(r"\{name: \w+, mountPath: [^}]*\}", cron) if str(RECORDS_DIR) in m]
    assert records_mount and "name: data" in records_mount[0], "the trail survives the pod: it is on the volume"


@as_root
def test_a_request_expires_after_the_policys_hours(make_emulator, tmp_path):
    import time

    emu = make_emulator()
    p = profile(tmp_path, "p", approvers=[ALICE.name], builder_confirm=0, approval_expiry_hours=0.0005)  # 1.8 s
    builders = roster(tmp_path / "b.csv", 1, extra={0: {"canCreateBot": "yes"}})
    rid = request_id(bulkprov(CAROL, "add", str(builders), *p, env=kore_env(emu), cwd=tmp_path))
    time.sleep(2)
    late = bulkprov(ALICE, "approve", rid, "--comment", "too late", *p, cwd=tmp_path)
    assert late.returncode == 2 and f"request {rid} expired" in late.stderr, late.stderr


# -- issue 27: what an approver reads counts the activation emails the run would really send -------------------------


@as_root
@pytest.mark.parametrize(("flag", "sent"), [("--no-send-email", 0), ("--send-email", 12)])
def test_a_request_counts_the_activation_emails_the_run_would_send(make_emulator, tmp_path, flag, sent):
    emu = make_emulator()
    nightly = profile(tmp_path, "nightly", approvers=[ALICE.name])
    builders = roster(tmp_path / "builder.csv", 12, extra={i: {"canCreateBot": "yes"} for i in range(12)})
    added = bulkprov(CAROL, "add", str(builders), flag, *nightly, env=kore_env(emu), cwd=tmp_path)
    assert added.returncode == 4, added.stderr
    listed = bulkprov(ALICE, "approvals", *nightly, cwd=tmp_path)
    assert f"activation emails it would send: {sent}" in listed.stdout, listed.stdout
    roster_file = roster(tmp_path / "roster.csv", 12, extra={i: {"canCreateBot": "yes"} for i in range(12)})
    synced = bulkprov(CAROL, "sync", str(roster_file), flag, *nightly, env=kore_env(emu), cwd=tmp_path)
    assert synced.returncode == 4, synced.stderr
    listed = bulkprov(ALICE, "approvals", *nightly, cwd=tmp_path)
    assert listed.stdout.count(f"activation emails it would send: {sent}") == 2, listed.stdout
