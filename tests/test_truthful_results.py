"""Issue #27: no row, undo line or export is ever more certain than the server's own words.

Each case of the issue's table, played against the emulator answering the odd way, end to end.
(The whole command x reply-kind table is tests/test_conformance_table.py.)
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bulkprov.jobs import JobSettings, run_job
from tests.conftest import read_sheet, results_by_row, write_roster
from tests.test_cli import bulkprov, kore_env


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

    from bulkprov.jobs import runner

    frozen = dt.datetime(2026, 11, 23, 10, 50, tzinfo=dt.UTC)
    monkeypatch.setattr(runner, "now", lambda: frozen)  # every run starts in the same second
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
