"""The batch job end to end: the real pipeline and client against the emulator on loopback.

Each test asserts the server's final state (from the emulator's admin state) and the result
workbook row by row, twice: against the emulator answering with every field bulkprov could wish
for, and answering exactly as Kore.ai's pages document (``replies="documented"``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bulkprov.jobs import JobSettings, run_job
from tests.conftest import read_sheet, results_by_row, write_roster


@pytest.fixture(params=["full", "documented"])
def replies(request) -> str:
    return request.param


@pytest.fixture
def make_emulator(make_emulator, replies):
    def start(**config):
        config.setdefault("replies", replies)
        return make_emulator(**config)
    return start


INVALID = {5: {"Email": "not-an-email"}, 17: {"Email": "user00003@acme-corp.com"},
           40: {"canCreateBot": "maybe"}, 77: {"groups": "No Such Group"}}


def settings(emu, tmp_path: Path, command: str = "add", **kw) -> JobSettings:
    kw.setdefault("rate", "none")
    kw.setdefault("timeout", 5.0)
    kw.setdefault("batch_size", 50)
    kw.setdefault("concurrency", 4)
    return JobSettings(command=command, host=emu.url, output=tmp_path / f"{command}.xlsx", **kw)


def assert_each_created_once(state: dict, emails: set[str]) -> None:
    created = state["counts"]["created_per_email"]
    attempts = state["counts"]["create_attempts_per_email"]
    assert set(created) == emails, "exactly the valid users exist, nothing else"
    assert all(n == 1 for n in created.values())
    assert all(attempts[e] == 1 for e in emails), "no add was blindly re-sent after it had been applied"
    assert {u["userInfo"]["emailId"] for u in state["users"]} == emails


@pytest.mark.slow
def test_2000_users_through_5xx_drops_and_a_rate_window(make_emulator, creds, tmp_path):
    emu = make_emulator(fail_5xx=0.10, commit_then_drop=0.05, rate_windows=[(40, 1.0)], seed=11)
    roster = tmp_path / "roster.csv"
    emails = write_roster(roster, 2000, invalid=INVALID)
    outcome = run_job(roster, settings(emu, tmp_path, rate="40/1", batch_size=50), credentials=creds)
    results = results_by_row(outcome.results_path)
    assert len(results) == 2000
    invalid_rows = {i + 2 for i in INVALID}
    for row, r in results.items():
        if row in invalid_rows:
            assert r["status"] == "invalid" and r["reason"], r
        else:
            assert r["status"] == "success", r
    valid = {e for i, e in enumerate(emails) if i not in INVALID}
    state = emu.state()
    assert_each_created_once(state, valid)
    assert state["counts"]["drops"] > 0 and state["counts"]["faults_5xx"] > 0, "the faults really happened"
    confirmed = [r for r in results.values() if "confirmed" in (r["reason"] or "")]
    assert confirmed, "rows whose reply was dropped are reported as confirmed"
    assert outcome.exit_code == 1  # some rows invalid


@pytest.mark.parametrize("style", ["429-retry-after", "429", "400-message"])
def test_rate_refusals_in_every_shape_are_retried(make_emulator, creds, tmp_path, style):
    emu = make_emulator(rate_windows=[(4, 0.5)], rate_refusal=style)
    roster = tmp_path / "roster.csv"
    emails = write_roster(roster, 300)
    outcome = run_job(roster, settings(emu, tmp_path, batch_size=20, concurrency=4), credentials=creds)
    assert outcome.exit_code == 0
    assert {r["status"] for r in results_by_row(outcome.results_path).values()} == {"success"}
    state = emu.state()
    assert state["counts"]["rate_refusals"] > 0, "the client was really refused (no --rate given)"
    assert_each_created_once(state, set(emails))


def test_a_poisoned_user_fails_alone(make_emulator, creds, tmp_path):
    emu = make_emulator(poison_pattern=r"^user00042@")
    roster = tmp_path / "roster.csv"
    emails = write_roster(roster, 100)
    outcome = run_job(roster, settings(emu, tmp_path, batch_size=50), credentials=creds)
    results = results_by_row(outcome.results_path)
    failed = {row for row, r in results.items() if r["status"] != "success"}
    assert failed == {44}
    assert results[44]["error_code"] == "request-refused"
    assert "Invalid user data" in results[44]["reason"]
    (failure,) = read_sheet(outcome.results_path, "Failures")  # cells read again from the input
    assert failure["Email"] == "user00042@acme-corp.com" and failure["First Name"] == "First42"
    assert failure["status"] == "failed"
    assert_each_created_once(emu.state(), set(emails) - {"user00042@acme-corp.com"})
    assert outcome.exit_code == 1


def test_server_max_batch_smaller_than_batch_size(make_emulator, creds, tmp_path):
    emu = make_emulator(max_users_per_request=30)
    roster = tmp_path / "roster.csv"
    emails = write_roster(roster, 500)
    outcome = run_job(roster, settings(emu, tmp_path, batch_size=100), credentials=creds)
    assert outcome.exit_code == 0
    assert_each_created_once(emu.state(), set(emails))
    notes = " ".join(outcome.summary.warnings)
    assert "refused 100 users in one request" in notes and "at most" in notes
    summary = read_sheet(outcome.results_path, "Summary")
    assert any("at most 25 users" in str(v) for row in summary for v in row.values())


def test_wrong_secret_aborts_after_at_most_concurrency_requests(make_emulator, tmp_path):
    from bulkprov.kore.auth import Credentials

    emu = make_emulator()
    roster = tmp_path / "roster.csv"
    write_roster(roster, 400)
    bad = Credentials(client_id=emu.emulator.config.client_id, client_secret="wrong-secret-value")
    outcome = run_job(roster, settings(emu, tmp_path, batch_size=20, concurrency=3), credentials=bad)
    assert outcome.exit_code == 3
    state = emu.state()
    assert len(state["requests"]) <= 3
    assert state["users"] == []
    results = results_by_row(outcome.results_path)
    assert len(results) == 400
    assert {r["status"] for r in results.values()} == {"not_attempted"}
    assert "credentials" in results[2]["reason"]


def test_rate_budget_matching_the_server_gets_no_refusals(make_emulator, creds, tmp_path):
    emu = make_emulator(rate_windows=[(10, 1.0), (25, 4.0)], rate_refusal="429")
    roster = tmp_path / "roster.csv"
    write_roster(roster, 600)
    outcome = run_job(roster, settings(emu, tmp_path, batch_size=20, rate="10/1,25/4", concurrency=6),
                      credentials=creds)
    assert outcome.exit_code == 0
    assert emu.state()["counts"]["rate_refusals"] == 0


def test_update_remove_lookup_and_apply(make_emulator, creds, tmp_path, replies):
    emu = make_emulator()
    roster = tmp_path / "roster.csv"
    write_roster(roster, 30, extra={0: {"groups": "Sales", "roles": "Bot Tester@Support Bot"}})
    lookups = tmp_path / "lookups.xlsx"
    _write_lookups(lookups)
    assert run_job(roster, settings(emu, tmp_path, lookups_file=lookups), credentials=creds).exit_code == 0
    users = {u["userInfo"]["emailId"]: u for u in emu.state()["users"]}
    assert users["user00000@acme-corp.com"]["canCreateBot"] is False, "blank builder access sends false"
    assert users["user00000@acme-corp.com"]["groups"][0]["groupName"] == "Sales"

    update = tmp_path / "update.csv"
    update.write_text("Email,Department,groups\nuser00000@acme-corp.com,Finance,-Sales\n"
                      "user00001@acme-corp.com,Legal,\nnobody@acme-corp.com,X,\n", encoding="utf-8")
    out = run_job(update, settings(emu, tmp_path, "update", lookups_file=lookups), credentials=creds)
    res = results_by_row(out.results_path)
    assert [res[r]["status"] for r in (2, 3, 4)] == ["success", "success", "failed"]
    assert res[4]["error_code"] == "not-found"
    users = {u["userInfo"]["emailId"]: u for u in emu.state()["users"]}
    assert users["user00000@acme-corp.com"]["userInfo"]["dept"] == "Finance"
    assert users["user00000@acme-corp.com"]["groups"] == []
    assert users["user00001@acme-corp.com"]["userInfo"]["firstName"] == "First1", "blank cells unchanged"

    out = run_job(roster, settings(emu, tmp_path, "lookup"), credentials=creds)
    assert out.exit_code == 0
    looked = read_sheet(out.results_path, "Users")
    assert len(looked) == 30 and looked[0]["emailId"] == "user00000@acme-corp.com"
    assert looked[0]["firstName"] == "First0"
    # A documented usersInfo reply carries no department: lookup cannot report what it is not told.
    assert looked[0]["dept"] == ("Finance" if replies == "full" else None)

    # The lookup workbook is an input file: migrate the account to a second emulator.
    target = make_emulator()
    migrated = run_job(out.results_path, JobSettings(command="add", host=target.url, rate="none",
                                                     output=tmp_path / "migrate.xlsx"), credentials=creds)
    assert migrated.exit_code == 0
    assert len(target.state()["users"]) == 30

    apply_file = tmp_path / "apply.csv"
    apply_file.write_text("User Status,Email,First Name\nDelete,user00000@acme-corp.com,\n"
                          "New,newbie@acme-corp.com,Newbie\nUpdate,user00002@acme-corp.com,Renamed\n"
                          "Launch,user00003@acme-corp.com,\n", encoding="utf-8")
    out = run_job(apply_file, settings(emu, tmp_path, "apply"), credentials=creds)
    res = results_by_row(out.results_path)
    assert [(res[r]["action"], res[r]["status"]) for r in (2, 3, 4)] == [
        ("remove", "success"), ("add", "success"), ("update", "success")]
    assert res[5]["status"] == "invalid" and res[5]["error_code"] == "unknown-action"
    emails = {u["userInfo"]["emailId"] for u in emu.state()["users"]}
    assert "user00000@acme-corp.com" not in emails and "newbie@acme-corp.com" in emails

    out = run_job(roster, settings(emu, tmp_path, "remove"), credentials=creds)
    res = results_by_row(out.results_path)
    # Removed by the apply run already: the ledger knows, so it is skipped and the reason names that run.
    assert res[2]["status"] == "skipped" and "already done by run" in res[2]["reason"]
    assert sum(r["status"] == "success" for r in res.values()) == 29
    assert {u["userInfo"]["emailId"] for u in emu.state()["users"]} == {"newbie@acme-corp.com"}


def test_dry_run_sends_nothing(make_emulator, creds, tmp_path):
    emu = make_emulator()
    roster = tmp_path / "roster.csv"
    write_roster(roster, 20, invalid={3: {"Email": "bad"}})
    out = run_job(roster, settings(emu, tmp_path, dry_run=True), credentials=creds)
    assert emu.state()["requests"] == []
    statuses = [r["status"] for r in results_by_row(out.results_path).values()]
    assert statuses.count("valid") == 19 and statuses.count("invalid") == 1
    assert any("activation emails that will be sent: 19" in line for line in out.summary.plan)


def _write_lookups(path: Path) -> None:
    import xlsxwriter

    from bulkprov.emulator import demo_seed

    seed = demo_seed()
    wb = xlsxwriter.Workbook(str(path))
    for sheet, items, key in (("Roles", seed["roles"], "roleId"), ("Bots", seed["bots"], "botId"),
                              ("Groups", seed["groups"], "groupId")):
        ws = wb.add_worksheet(sheet)
        ws.write_row(0, 0, ["name", key])
        for r, item in enumerate(items, start=1):
            ws.write_row(r, 0, [item["name"], item[key]])
    wb.close()


def test_dropped_remove_is_resolved_not_silently_resent(make_emulator, creds, tmp_path):
    """aiohttp would re-send a DELETE whose keep-alive connection dropped; the re-send of a committed
    removal then reads "not found".  The drop must surface and be resolved through usersInfo."""
    emu = make_emulator()
    roster = tmp_path / "roster.csv"
    write_roster(roster, 6)
    assert run_job(roster, settings(emu, tmp_path), credentials=creds).exit_code == 0
    leavers = tmp_path / "leavers.csv"
    leavers.write_text("Email\nuser00001@acme-corp.com\nuser00002@acme-corp.com\nnever.hired@acme-corp.com\n",
                       encoding="utf-8")
    emu.emulator.reconfigure(commit_then_drop=1.0)
    out = run_job(leavers, settings(emu, tmp_path, "remove", batch_size=3), credentials=creds)
    deletes = [r for r in emu.state()["requests"] if r["method"] == "DELETE"]
    assert len(deletes) == 1, "one DELETE: neither aiohttp nor the dispatcher re-sent it"
    res = results_by_row(out.results_path)
    assert res[2]["status"] == res[3]["status"] == "success" and "confirmed" in res[2]["reason"]
    assert res[4]["status"] == "failed" and res[4]["error_code"] == "not-found"
    assert {u["userInfo"]["emailId"] for u in emu.state()["users"]} == {
        "user00000@acme-corp.com", "user00003@acme-corp.com", "user00004@acme-corp.com", "user00005@acme-corp.com"}


def test_unreachable_host_aborts_quickly_with_a_clear_reason(creds, tmp_path):
    import socket
    import time

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    roster = tmp_path / "roster.csv"
    write_roster(roster, 30)
    start = time.monotonic()
    out = run_job(roster, JobSettings(command="add", host=f"http://127.0.0.1:{port}", rate="none", batch_size=10,
                                      output=tmp_path / "r.xlsx", state_dir=tmp_path / "s"), credentials=creds)
    assert out.exit_code == 3 and "cannot reach the server" in out.summary.aborted
    assert time.monotonic() - start < 10
    assert {r["status"] for r in results_by_row(out.results_path).values()} == {"not_attempted"}


def test_back_to_back_runs_share_the_rate_budget(make_emulator, creds, tmp_path):
    """The second run starts while the first one's requests still count in the server's windows;
    the ledger remembers them, so the second run waits instead of being refused."""
    emu = make_emulator(rate_windows=[(4, 3.0)], rate_refusal="429")
    for name in ("a", "b"):
        roster = tmp_path / f"{name}.csv"
        write_roster(roster, 20, domain=f"{name}.acme-corp.com",
                     extra={i: {"Employee ID": f"{name.upper()}{i}"} for i in range(20)})
        job = settings(emu, tmp_path, batch_size=5, rate="4/3")
        job.output = tmp_path / f"{name}.xlsx"
        out = run_job(roster, job, credentials=creds)
        assert out.exit_code == 0
    assert emu.state()["counts"]["rate_refusals"] == 0
    assert len(emu.state()["users"]) == 40


def test_input_deleted_during_the_run_still_gets_every_row_a_result(make_emulator, creds, tmp_path, monkeypatch):
    from bulkprov.send import dispatcher

    emu = make_emulator(poison_pattern=r"^user00002@")
    roster = tmp_path / "roster.csv"
    write_roster(roster, 6)
    real = dispatcher.dispatch_chunks  # (how a ledgered run sends)

    async def delete_input_then_dispatch(*args, **kwargs):
        roster.unlink()  # the user moves the file away while the run is sending
        return await real(*args, **kwargs)

    monkeypatch.setattr(dispatcher, "dispatch_chunks", delete_input_then_dispatch)
    out = run_job(roster, settings(emu, tmp_path), credentials=creds)
    assert out.exit_code == 1
    results = results_by_row(out.results_path)
    assert len(results) == 6 and results[4]["status"] == "failed"
    assert read_sheet(out.results_path, "Failures") == []
