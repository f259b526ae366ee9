"""A fortnight of ``bulkprov sync roster.csv --profile nightly`` (#34), shortened: 300 rows, a fast rate.

The roster changes like a real HR feed -- joiners, leavers, attribute changes, bad rows, a truncated
file, a file still being written, a flaky server, a budget eaten by another client, SIGTERM one night
and kill -9 another, two overlapping cron runs, edits made in the console during the day, a no-op
night -- and each night is the one command line a scheduler runs, as a real process.

What every night must show (a "night" is one scheduled invocation; the overlapping night has two):

* the exit code the README documents for what happened;
* the account equal to the roster once the night has finished its work -- a guard's night changes
  nothing, an interrupted night is finished by the next one;
* nothing done twice: every user created once (but the one deleted in the console, created again);
* one run summary on the webhook per invocation that was not killed -9 (exit 2 included), under the
  run id every one of its JSON lines carries;
* every invocation in ``bulkprov runs``, its state true (interrupted ones say which night finished them).
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

from bulkprov.jobs import JobSettings, run_job
from tests.cli.test_cli import kore_env
from tests.conftest import ROOT, bare_env
from tests.e2e.test_nightly import HEADERS, WRITER, Hooks, _creds, accounts, changes_sent, staff
from tests.state.test_ledger import wait_for

WINDOWS = [(40, 1.0), (400, 10.0)]  # the emulator's budget, and the profile's rate: the same windows


class Feed:
    """The HR feed: who works here tonight, and what the account should look like after a night."""

    def __init__(self, n: int) -> None:
        self.people = {i: staff(i) for i in range(n)}
        self.next = n
        self.bad: dict[int, dict[str, str]] = {}
        self.extra: list[dict[str, str]] = []
        self.expected: dict[str, tuple[str, str]] = {}

    def join(self, count: int) -> list[int]:
        ids = list(range(self.next, self.next + count))
        for i in ids:
            self.people[i] = staff(i)
        self.next += count
        return ids

    def leave(self, ids) -> None:
        for i in ids:
            del self.people[i]

    def change(self, ids, night: int) -> None:
        for i in (i for i in ids if i in self.people):
            self.people[i] = dict(self.people[i], Department=f"Dept{night}", **{"First Name": f"F{i}n{night}"})

    def rows(self) -> list[dict[str, str]]:
        rows = [dict(p, **self.bad.get(i, {})) for i, p in sorted(self.people.items())]
        return rows + self.extra

    def applied(self) -> None:
        """The night finished: the account is the roster, but for the users only invalid rows name."""
        kept = {self.people[i]["Email"] for i in self.bad}
        self.expected = {p["Email"]: self.expected[p["Email"]] if p["Email"] in kept else (p["First Name"],
                                                                                           p["Department"])
                         for p in self.people.values()}


def write(path: Path, rows: list[dict[str, str]], *, age: float = 3600) -> None:
    temp = path.with_name(".roster.csv.part")  # the HR export writes, then renames (README)
    with open(temp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=HEADERS)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(temp, path)
    if age:
        os.utime(path, (time.time() - age, time.time() - age))


class Schedule:
    """The scheduler: one command line, every night; what each invocation printed and posted."""

    def __init__(self, tmp_path: Path, emu, hooks: Hooks) -> None:
        self.dir, self.emu, self.hooks = tmp_path, emu, hooks
        self.config = tmp_path / "bulkprov.toml"
        self.config.write_text(
            "[profiles.nightly]\n"
            f'host = "{emu.url}"\nstate_dir = "{tmp_path / "state"}"\nrate = "40/1,400/10"\nbatch_size = 25\n'
            f'concurrency = 2\nlog_format = "json"\nwebhook = "{hooks.url}"\nsettle = 3\nmax_deletes = 50\n'
            'max_delete_percent = 10\napprovers = ["hr-lead"]\nmax_runtime = 600\n', encoding="utf-8")
        self.invocations: list[dict] = []

    def start(self, *extra: str, env: dict | None = None) -> subprocess.Popen:
        full = bare_env()
        full.update(kore_env(self.emu))
        full.update(env or {})
        argv = [sys.executable, "-m", "bulkprov", "sync", "roster.csv", "--profile", "nightly", "--config",
                str(self.config), "--resume", *extra]
        return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                text=True, env=full, cwd=self.dir)

    def finish(self, proc: subprocess.Popen, night: int, killed: bool = False) -> dict:
        hooks_before = len(self._summaries())
        out, err = proc.communicate(timeout=300)
        lines = [json.loads(line) for line in (out + err).splitlines() if line.strip()]  # every line is JSON
        run_ids = {line["run_id"] for line in lines}
        assert len(run_ids) == 1 and "" not in run_ids, (night, run_ids, err)
        if not killed:  # a process killed -9 posts nothing: it is gone
            wait_for(lambda: len(self._summaries()) == hooks_before + 1, timeout=10)
        summaries = self._summaries()
        assert len(summaries) == hooks_before + (0 if killed else 1), f"night {night}: one webhook"
        record = {"night": night, "code": proc.returncode, "run_id": run_ids.pop(), "lines": lines,
                  "hook": None if killed else summaries[-1]}
        if record["hook"] is not None:
            assert record["hook"]["run_id"] == record["run_id"] and record["hook"]["exit_code"] == proc.returncode
        self.invocations.append(record)
        return record

    def night(self, night: int, *extra: str) -> dict:
        return self.finish(self.start(*extra), night)

    def _summaries(self) -> list[dict]:
        return [h for h in self.hooks.received if "event" not in h]

    def runs(self) -> dict[str, str]:
        proc = subprocess.run([sys.executable, "-m", "bulkprov", "runs", "--profile", "nightly", "--config",
                               str(self.config)], capture_output=True, text=True, cwd=ROOT, timeout=60)
        assert proc.returncode == 0, proc.stderr
        return {line.split()[0]: line for line in proc.stdout.splitlines()[1:]}


def assert_account(emu, feed: Feed, *, strangers: set[str] = frozenset()) -> None:
    now = accounts(emu)
    assert set(now) - set(strangers) == set(feed.expected), (
        sorted(set(now) ^ set(feed.expected))[:10])
    for email, (first, dept) in feed.expected.items():
        info = now[email]["userInfo"]
        assert (info.get("firstName"), info.get("dept")) == (first, dept), (email, info)


def console(emu, tmp_path: Path, command: str, rows: list[dict[str, str]]) -> None:
    """Someone edits the account in the console during the day (no ledger: not bulkprov's work)."""
    path = tmp_path / f"console-{command}.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    out = run_job(path, JobSettings(command=command, host=emu.url, rate="none", use_ledger=False,
                                    output=tmp_path / f"console-{command}.xlsx"), credentials=_creds())
    assert out.exit_code == 0


def test_a_fortnight_of_nightly_syncs(make_emulator, tmp_path):
    emu = make_emulator(rate_windows=WINDOWS, seed=34)
    roster = tmp_path / "roster.csv"
    feed = Feed(300)
    with Hooks() as hooks:
        night = Schedule(tmp_path, emu, hooks)

        # 1: the first night.
        write(roster, feed.rows())
        assert night.night(1)["code"] == 0
        feed.applied()
        assert_account(emu, feed)

        # 2: joiners, leavers, attribute changes.
        feed.join(10)
        feed.leave([3, 17, 29, 44, 58, 61, 77, 90])
        feed.change([1, 2, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16], 2)
        write(roster, feed.rows())
        assert night.night(2)["code"] == 0
        feed.applied()
        assert_account(emu, feed)

        # 3: bad rows keep their people; a joiner who copied a colleague's number changes neither.
        feed.bad = {20: {"groups": "Salse"}, 21: {"canCreateBot": "maybe"}, 22: {"Email": "emp022@@acme-corp.com"},
                    23: {}}
        feed.extra = [staff(900, **{"Employee ID": feed.people[23]["Employee ID"]})]
        feed.change([20, 21, 22, 24], 3)
        feed.join(5)
        write(roster, feed.rows())
        third = night.night(3)
        assert third["code"] == 1 and third["hook"]["totals"]["invalid"] == 5
        feed.applied()
        assert_account(emu, feed)
        feed.bad, feed.extra = {}, []

        # 4: a truncated export: 40% would be removed, the guard stops everything (a request waits).
        write(roster, feed.rows()[:185])
        guard = night.night(4)
        assert guard["code"] == 4 and guard["hook"]["codes"] == ["pending-approval"]
        assert_account(emu, feed)  # nothing changed

        # 5: the export is still being written when the scheduler starts (paused 1.5 s mid-line, less than
        # the profile's settle time of 3 s): read whole, once it settles.
        feed.join(3)
        feed.change([30, 31, 32, 33, 34], 5)
        write(roster, feed.rows())
        text = roster.read_text(encoding="utf-8")
        cut = len(text) - 150
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(roster), text[:cut], text[cut:], "1.5"],
                                  stdout=subprocess.PIPE, text=True)
        assert writer.stdout.readline().strip() == "paused"
        fifth = night.night(5)
        writer.wait(10)
        assert fifth["code"] == 0, [line["message"] for line in fifth["lines"]]
        assert any("waiting until roster.csv has not changed" in line["message"] for line in fifth["lines"])
        feed.applied()
        assert_account(emu, feed)

        # 6: a flaky server (one request in five answers 503): retried, nothing twice.
        emu.reconfigure(fail_5xx=0.2)
        feed.join(5)
        feed.leave([100, 101, 102])
        feed.change(range(40, 50), 6)
        write(roster, feed.rows())
        faults = emu.state()["counts"]["faults_5xx"]
        assert night.night(6)["code"] == 0
        assert emu.state()["counts"]["faults_5xx"] > faults, "the server did fail"
        emu.reconfigure(fail_5xx=0.0)
        feed.applied()
        assert_account(emu, feed)

        # 7: another client eats most of the account's budget (39 of every 40 requests a second: the night's few
        # requests cannot all fit in the one left, whatever the machine's load).
        emu.reconfigure(other_client_rate=39.0)
        feed.join(4)
        feed.change(range(50, 60), 7)
        write(roster, feed.rows())
        refusals = emu.state()["counts"]["rate_refusals"]
        seventh = night.night(7)
        assert seventh["code"] == 0
        assert emu.state()["counts"]["rate_refusals"] > refusals, "the account's windows were full"
        emu.reconfigure(other_client_rate=0.0)
        feed.applied()
        assert_account(emu, feed)

        # 8: SIGTERM in the middle of the night's joiners (exit 3); 9: the next night finishes it.
        emu.reconfigure(latency=0.3)
        feed.join(120)
        write(roster, feed.rows())
        created = len(accounts(emu))
        proc = night.start()
        wait_for(lambda: len(accounts(emu)) >= created + 20, timeout=60)
        proc.send_signal(signal.SIGTERM)
        termed = night.finish(proc, 8)
        assert termed["code"] == 3 and termed["hook"]["codes"] == ["interrupted"]
        emu.reconfigure(latency=0.0)
        feed.change(range(60, 65), 9)
        write(roster, feed.rows())
        ninth = night.night(9)
        assert ninth["code"] == 0
        feed.applied()
        assert_account(emu, feed)

        # 10: kill -9 while joiners are being added; 11: some of them leave before the next night.
        emu.reconfigure(latency=0.3)
        joiners = feed.join(120)
        write(roster, feed.rows())
        created = len(accounts(emu))
        proc = night.start()
        wait_for(lambda: len(accounts(emu)) >= created + 25, timeout=60)
        proc.kill()
        killed = night.finish(proc, 10, killed=True)
        assert killed["code"] == -signal.SIGKILL
        emu.reconfigure(latency=0.0)
        feed.leave(joiners[:30])  # among them, users whose add the killed night never recorded
        write(roster, feed.rows())
        eleventh = night.night(11)
        assert eleventh["code"] == 0, [line["message"] for line in eleventh["lines"]][-5:]
        feed.applied()
        assert_account(emu, feed)

        # 12: two overlapping cron runs: the second finds the state directory held (exit 2), posts it.
        emu.reconfigure(latency=0.5)  # the first run holds the state directory for several seconds
        feed.join(5)
        feed.change(range(70, 90), 12)
        write(roster, feed.rows())
        before = len(emu.state()["requests"])
        first = night.start()
        wait_for(lambda: len(emu.state()["requests"]) > before, timeout=30)  # it reads the account, lock held
        second = night.finish(night.start(), 12)
        assert second["code"] == 2 and second["hook"]["codes"] == ["state-locked"]
        assert night.finish(first, 12)["code"] == 0
        emu.reconfigure(latency=0.0)
        feed.applied()
        assert_account(emu, feed)

        # 13: edits in the console during the day: put back as the roster says; a stranger left alone.
        gone = feed.people[120]["Email"]
        console(emu, tmp_path, "update", [{"emailId": feed.people[i]["Email"], "dept": "Console"}
                                          for i in (110, 111, 112)])
        console(emu, tmp_path, "remove", [{"emailId": gone}])
        console(emu, tmp_path, "add", [{"emailId": "contractor@acme-corp.com", "firstName": "Con",
                                        "lastName": "Tractor"}])
        assert night.night(13)["code"] == 0
        feed.applied()
        assert_account(emu, feed, strangers={"contractor@acme-corp.com"})

        # 14: a no-op night: nothing sent but the account's read.
        sent = len(changes_sent(emu))
        assert night.night(14)["code"] == 0
        assert len(changes_sent(emu)) == sent, "a night with no change sends no change"
        assert_account(emu, feed, strangers={"contractor@acme-corp.com"})

    codes = [(r["night"], r["code"]) for r in night.invocations]
    assert codes == [(1, 0), (2, 0), (3, 1), (4, 4), (5, 0), (6, 0), (7, 0), (8, 3), (9, 0), (10, -9), (11, 0),
                     (12, 2), (12, 0), (13, 0), (14, 0)], codes
    created = emu.state()["counts"]["created_per_email"]
    assert {e: n for e, n in created.items() if n != 1} == {gone: 2}, "nothing created twice but the console's"
    assert all(n == 1 for e, n in emu.state()["counts"]["create_attempts_per_email"].items() if e != gone)
    listing = night.runs()
    for record in night.invocations:
        assert record["run_id"] in listing, f"night {record['night']} is in runs"
    state = {r["night"]: listing[r["run_id"]] for r in night.invocations}
    assert "awaiting approval" in state[4]
    assert " interrupted " in state[8] and f"(finished by {ninth['run_id']})" in state[8]
    assert " interrupted " in state[10] and f"(finished by {eleventh['run_id']})" in state[10]
    assert "refused" in listing[second["run_id"]] and "[state-locked]" in listing[second["run_id"]]
    assert sum(" finished " in line for line in listing.values()) == 11
