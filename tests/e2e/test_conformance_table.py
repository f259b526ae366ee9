"""Issue #27 item 8: every command x every reply kind, against the emulator, -> each row's status and the exit code.

The emulator answers in the vendor's documented shapes (``replies="documented"``) and, per reply kind, one
of the odd ways a real server may answer on a bad day (:mod:`bulkprov.emulator.odd`, a fault setting, or
a per-user refusal).  Each cell runs the command end to end and compares the Results sheet's statuses
(in row order) and the exit code with the table.  Beside the table, one invariant is checked in every
cell: **a row is ``success`` only if the account shows it** (an add's user is there, a removed user is
gone, an update's new name is in place), and a row the run says was not done is not in the account.

Reading the table: ``success`` is the server's word (or a usersInfo entry naming the user);
``failed/unverified`` means nothing the server said settles it; ``failed/not-applied`` means the
server's reply did not say and usersInfo shows it was not done; ``export`` cells give the users
exported and the exit code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openpyxl
import pytest

from bulkprov.jobs import JobSettings, run_job
from bulkprov.jobs.export import export_account
from tests.conftest import read_sheet

# -- the account and the input of each command --------------------------------------------------------------------

ACCOUNT = [{"userInfo": {"emailId": f"emp{i:02d}@acme-corp.com", "orgUserId": f"E{i:03d}", "firstName": f"First{i}",
                         "lastName": f"Last{i}"}, "canCreateBot": False, "isDeveloper": False} for i in range(4)]
HEAD = "Email,First Name,Last Name,Employee ID"
INPUTS = {
    "add": f"{HEAD}\nnew0@acme-corp.com,New0,Joiner,N000\nnew1@acme-corp.com,New1,Joiner,N001\n",
    "update": "Email,First Name\nemp00@acme-corp.com,Renamed0\nemp01@acme-corp.com,Renamed1\n",
    "remove": "Email\nemp00@acme-corp.com\nemp01@acme-corp.com\n",
    "lookup": "Employee ID\nE000\nE001\n",
    "apply": ("action,Email,First Name,Last Name,Employee ID\nadd,new0@acme-corp.com,New0,Joiner,N000\n"
              "update,emp00@acme-corp.com,Renamed0,,\nremove,emp01@acme-corp.com,,,\n"),
    "sync": (f"{HEAD}\nemp00@acme-corp.com,Renamed0,Last0,E000\nemp01@acme-corp.com,First1,Last1,E001\n"
             "emp02@acme-corp.com,First2,Last2,E002\nemp03@acme-corp.com,First3,Last3,E003\n"
             "new0@acme-corp.com,New0,Joiner,N000\n"),
}
COMMANDS = (*INPUTS, "export")

# -- the reply kinds: emulator settings -----------------------------------------------------------------------------

KINDS: dict[str, dict[str, Any]] = {
    "documented": {},
    "documented-refused-removal": {"refuse_remove_pattern": "^emp01@"},   # the remove page's failure
    "documented-whole-request-refusal": {"poison_pattern": "^(new0|emp00)@"},  # {"errors": [...]}, HTTP 400
    "write-empty": {"odd": ["write-empty"]},
    "write-status-error": {"odd": ["write-status-error"]},
    "write-error": {"odd": ["write-error"]},
    "write-failed-string": {"odd": ["write-failed-string"]},
    "write-queued": {"odd": ["write-queued"]},
    "write-other-msg": {"odd": ["write-other-msg"]},
    "write-html": {"odd": ["write-html"]},
    "write-empty-body": {"odd": ["write-empty-body"]},
    "write-stranger": {"odd": ["write-stranger"]},
    "write-400-partial": {"odd": ["write-400-partial"]},
    "lost-reply": {"commit_then_drop": 1.0},
    "write-stranger+info-omit": {"odd": ["write-stranger", "info-omit"]},
    "write-400-partial+info-omit": {"odd": ["write-400-partial", "info-omit"]},
    "info-omit-one": {"odd": ["info-omit"], "odd_pattern": "^emp00@"},
    "info-wrong-user": {"odd": ["info-wrong-user"]},
    "list-skip-one": {"odd": ["list-skip-one"]},
    "list-stop-early": {"odd": ["list-stop-early"]},
    "list-doubled": {"odd": ["list-doubled"]},
    "list-removed-between": {"odd": ["list-removed-between"]},
    "list-added-between": {"odd": ["list-added-between"]},
}

# -- the table: kind -> command -> "row statuses | exit code" -------------------------------------------------------

OK2, OK5 = "success success | 0", "success success success success success | 0"
SYNC_OK = "success skipped/unchanged skipped/unchanged skipped/unchanged success | 0"
UNVERIFIED2 = "failed/unverified failed/unverified | 1"
NOT_APPLIED2 = "failed/not-applied failed/not-applied | 1"
APPLY_NOT_APPLIED = "failed/not-applied failed/unverified failed/not-applied | 1"  # add, update, remove
SYNC_NOT_APPLIED = ("failed/unverified skipped/unchanged skipped/unchanged skipped/unchanged failed/not-applied | 1")
UNTOUCHED = {"lookup": OK2, "export": "4 | 0"}  # a write reply does not change a read

TABLE: dict[str, dict[str, str]] = {
    "documented": {"add": OK2, "update": OK2, "remove": OK2, "apply": "success success success | 0", "sync": SYNC_OK,
                   **UNTOUCHED},
    "documented-refused-removal": {
        "add": OK2, "update": OK2, "remove": "success failed/server-refused | 1",
        "apply": "success success failed/server-refused | 1", "sync": SYNC_OK, **UNTOUCHED},
    "documented-whole-request-refusal": {
        "add": "failed/request-refused success | 1", "update": "failed/request-refused success | 1",
        "remove": "failed/request-refused success | 1",
        "apply": "failed/request-refused failed/request-refused success | 1",
        "sync": ("failed/request-refused skipped/unchanged skipped/unchanged skipped/unchanged "
                 "failed/request-refused | 1"), **UNTOUCHED},
    # nothing done, and the reply does not say: the check (usersInfo) shows it was not done
    **{kind: {"add": NOT_APPLIED2, "update": UNVERIFIED2, "remove": NOT_APPLIED2, "apply": APPLY_NOT_APPLIED,
              "sync": SYNC_NOT_APPLIED, **UNTOUCHED}
       for kind in ("write-empty", "write-status-error", "write-error", "write-failed-string")},
    # queued: not done when asked is not "not done"
    "write-queued": {"add": UNVERIFIED2, "update": UNVERIFIED2, "remove": UNVERIFIED2,
                     "apply": "failed/unverified failed/unverified failed/unverified | 1",
                     "sync": ("failed/unverified skipped/unchanged skipped/unchanged skipped/unchanged "
                              "failed/unverified | 1"), **UNTOUCHED},
    # done behind a reply that does not say, or cannot be read: usersInfo confirms it
    **{kind: {"add": OK2, "update": OK2, "remove": OK2, "apply": "success success success | 0", "sync": SYNC_OK,
              **UNTOUCHED}
       for kind in ("write-other-msg", "write-html", "write-empty-body", "lost-reply")},
    # a failure naming someone we did not send, nothing done: the check shows it was not
    "write-stranger": {"add": "failed/server-refused failed/server-refused | 1", "update": UNVERIFIED2,
                       "remove": "failed/server-refused failed/server-refused | 1",
                       "apply": "failed/server-refused failed/unverified failed/server-refused | 1",
                       "sync": ("failed/unverified skipped/unchanged skipped/unchanged skipped/unchanged "
                                "failed/server-refused | 1"), **UNTOUCHED},
    # HTTP 400 naming the first user only, the others done: the check confirms them
    "write-400-partial": {"add": "failed/server-refused success | 1", "update": "failed/server-refused success | 1",
                          "remove": "failed/server-refused success | 1",
                          "apply": "failed/server-refused failed/server-refused failed/server-refused | 1",  # 1 a batch
                          "sync": ("failed/server-refused skipped/unchanged skipped/unchanged skipped/unchanged "
                                   "failed/server-refused | 1"), **UNTOUCHED},
    # ... and the check's reply leaves the users out: nothing settles them
    "write-stranger+info-omit": {
        "add": UNVERIFIED2, "update": UNVERIFIED2, "remove": UNVERIFIED2,
        "apply": "failed/unverified failed/unverified failed/unverified | 1",
        "sync": "not_attempted/not-attempted " * 4 + "not_attempted/not-attempted | 3",
        "lookup": UNVERIFIED2, "export": "4 | 1"},
    "write-400-partial+info-omit": {
        "add": "failed/server-refused failed/unverified | 1", "update": "failed/server-refused failed/unverified | 1",
        "remove": "failed/server-refused failed/unverified | 1",
        "apply": "failed/server-refused failed/server-refused failed/server-refused | 1",
        "sync": "not_attempted/not-attempted " * 4 + "not_attempted/not-attempted | 3",
        "lookup": UNVERIFIED2, "export": "4 | 1"},
    # usersInfo leaves emp00 out: a lookup cannot say, sync cannot plan, export marks it
    "info-omit-one": {"add": OK2, "update": OK2, "remove": OK2, "apply": "success success success | 0",
                      "sync": "not_attempted/not-attempted " * 4 + "not_attempted/not-attempted | 3",
                      "lookup": "failed/unverified success | 1", "export": "4 | 1"},
    # usersInfo by orgUserId answers with others: paired through the listing, the right users
    "info-wrong-user": {"add": OK2, "update": OK2, "remove": OK2, "apply": "success success success | 0",
                        "sync": SYNC_OK, **UNTOUCHED},
    # the listing leaves emp01 out on every read: the lookup by E001 cannot be paired; export is short
    "list-skip-one": {"add": OK2, "update": OK2, "remove": OK2, "apply": "success success success | 0",
                      "sync": "success success skipped/unchanged skipped/unchanged success | 0",
                      "lookup": "success failed/unverified | 1", "export": "3 | 1"},
    **{kind: {"add": OK2, "update": OK2, "remove": OK2, "apply": "success success success | 0", "sync": SYNC_OK,
              "lookup": OK2, "export": users}
       for kind, users in (("list-stop-early", "4 | 0"), ("list-doubled", "4 | 0"), ("list-added-between", "5 | 0"))},
    # another admin removes emp00 while a later page of the listing is read (the listing is read for the undo
    # file's orgUserIds, for sync's, and to pair a lookup by orgUserId): the server's own words follow
    "list-removed-between": {
        "add": OK2, "update": OK2, "remove": "failed/not-found success | 1",
        "apply": "success success success | 0",  # emp00 was renamed, then removed by the other admin
        "sync": "failed/not-found skipped/unchanged skipped/unchanged skipped/unchanged success | 1",
        "lookup": "failed/unverified success | 1", "export": "3 | 0"},
}
CHANGED_BY_ANOTHER_ADMIN = ("list-removed-between", "list-added-between")  # the end state is not the run's alone


def test_the_table_covers_every_command_and_every_kind():
    assert set(TABLE) == set(KINDS)
    assert all(set(row) == set(COMMANDS) for row in TABLE.values()), [k for k, r in TABLE.items()
                                                                      if set(r) != set(COMMANDS)]


def _statuses(path: Path) -> list[str]:
    rows = read_sheet(path, "Results")
    return [r["status"] + (f"/{r['error_code']}" if r["error_code"] and r["status"] != "success" else "")
            for r in rows]


def _shown(account: dict[str, dict], action: str, email: str, first_name: str | None) -> bool:
    """Does the account show the row's change?"""
    user = account.get(email)
    if action == "add":
        return user is not None
    if action == "remove":
        return user is None
    return user is not None and (first_name is None or user["userInfo"].get("firstName") == first_name)


def _wanted(command: str) -> dict[str, tuple[str, str, str | None]]:
    """row -> (action, email, new first name) for the commands that change the account."""
    lines = INPUTS[command].splitlines()
    header = lines[0].split(",")
    out = {}
    for n, line in enumerate(lines[1:], start=2):
        cells = dict(zip(header, line.split(","), strict=True))
        action = {"add": "add", "update": "update", "remove": "remove"}.get(command) or cells.get("action", "")
        out[str(n)] = (action, cells["Email"], cells.get("First Name") or None)
    return out


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("kind", list(KINDS))
def test_every_command_against_every_reply_kind(make_emulator, creds, tmp_path, kind, command):
    emu = make_emulator(replies="documented", users=ACCOUNT, page_limit=2, **KINDS[kind])
    common = {"host": emu.url, "rate": "none", "max_attempts": 2, "batch_size": 2}
    if command == "export":
        out = export_account(JobSettings(command="export", output=tmp_path / "export.xlsx", **common), creds)
        assert f"{out.users} | {out.exit_code}" == TABLE[kind][command]
        return
    roster = tmp_path / f"{command}.csv"
    roster.write_text(INPUTS[command], encoding="utf-8")
    out = run_job(roster, JobSettings(command=command, output=tmp_path / "out.xlsx", state_dir=tmp_path / "state",
                                      **common), credentials=creds)
    got = " ".join(_statuses(out.results_path)) + f" | {out.exit_code}"
    assert got == TABLE[kind][command]
    if command == "lookup" or kind in CHANGED_BY_ANOTHER_ADMIN:
        return
    if kind == "info-omit-one" and command in ("update", "remove", "apply"):  # no before-image of emp00
        about = [r[0] for r in openpyxl.load_workbook(out.undo_path)["About"].iter_rows(values_only=True)]
        assert any("emp00@acme-corp.com" in str(line) and "could not be fetched" in str(line) for line in about)
    account = {u["userInfo"]["emailId"]: u for u in emu.state()["users"]}
    rows = {str(r["row"]): r for r in read_sheet(out.results_path, "Results") if r["row"]}
    wanted = _wanted(command) if command != "sync" else {
        "2": ("update", "emp00@acme-corp.com", "Renamed0"), "6": ("add", "new0@acme-corp.com", None)}
    for row, (action, email, first) in wanted.items():
        status, code = rows[row]["status"], rows[row]["error_code"]
        if status == "success":
            assert _shown(account, action, email, first), f"row {row} is success but the account does not show it"
        elif code in ("not-applied", "server-refused", "request-refused") or status == "not_attempted":
            assert not _shown(account, action, email, first), f"row {row} says not done, but it was"
