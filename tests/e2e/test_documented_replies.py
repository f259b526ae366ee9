"""Issue 18's three findings, end to end against the emulator answering as Kore.ai documents.

1. A removal by orgUserId that the server refuses (HTTP 400, the failure naming the user by emailId
   only) is ``failed``, never ``success``, and leaves no undo entry.
2. The Korean page's usersInfo failure (one object, not an array) is ``not-found`` in one request.
3. Lookups by orgUserId work when replies omit ``orgUserId``.
"""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest

from bulkprov.jobs import JobSettings, run_job
from tests.conftest import read_sheet, results_by_row


def settings(emu, tmp_path: Path, command: str, **kw) -> JobSettings:
    kw.setdefault("rate", "none")
    return JobSettings(command=command, host=emu.url, output=tmp_path / f"{command}.xlsx",
                       state_dir=tmp_path / "state", **kw)


def people(n: int) -> list[dict]:
    return [{"userInfo": {"emailId": f"user{i:02d}@corp.com", "orgUserId": f"E{100 + i}", "firstName": f"F{i}",
                          "lastName": f"L{i}"}, "canCreateBot": False, "isDeveloper": False} for i in range(n)]


@pytest.mark.parametrize("batch_size", [1, 10])
def test_refused_remove_by_org_user_id_is_failed_with_no_undo_entry(make_emulator, creds, tmp_path, batch_size):
    emu = make_emulator(replies="documented", users=people(3), refuse_remove_pattern="^user00@")
    leavers = tmp_path / "leavers.csv"
    leavers.write_text("Employee ID\nE100\nE101\n", encoding="utf-8")
    out = run_job(leavers, settings(emu, tmp_path, "remove", batch_size=batch_size), credentials=creds)
    res = results_by_row(out.results_path)
    assert res[2]["status"] == "failed", res[2]
    assert res[2]["error_code"] == "server-refused" and "Unauthorized to perform this activity" in res[2]["reason"]
    # Alone in its request the refusal is the documented HTTP 400; beside a removal that worked, a 200.
    assert res[2]["http_status"] == (400 if batch_size == 1 else 200)
    assert res[3]["status"] == "success" and res[3]["http_status"] == 200
    assert out.exit_code == 1
    emails = {u["userInfo"]["emailId"] for u in emu.state()["users"]}
    assert emails == {"user00@corp.com", "user02@corp.com"}, "the refused user is still there"
    # The undo file brings back only what was removed: user01, with its details from before.
    undo = read_sheet(out.undo_path, "Users")
    assert [(r["action"], r["emailId"], r["orgUserId"]) for r in undo] == [("add", "user01@corp.com", "E101")]


def test_korean_single_object_failure_is_not_found_in_one_request(make_emulator, creds, tmp_path):
    emu = make_emulator(replies="documented")
    roster = tmp_path / "who.csv"
    roster.write_text("Email\ntest@test.com\n", encoding="utf-8")
    out = run_job(roster, settings(emu, tmp_path, "lookup"), credentials=creds)
    (row,) = results_by_row(out.results_path).values()
    assert (row["status"], row["error_code"]) == ("failed", "not-found")
    infos = [r for r in emu.state()["requests"] if r["path"] == "/api/public/usersInfo"]
    assert len(infos) == 1 and infos[0]["status"] == 400, "one request: the documented failure is not retried"


def test_lookups_by_org_user_id_work_when_replies_omit_it(make_emulator, creds, tmp_path):
    emu = make_emulator(replies="documented", users=people(30))
    roster = tmp_path / "ids.csv"
    roster.write_text("Employee ID\n" + "".join(f"E{100 + i}\n" for i in range(30)) + "E999\n", encoding="utf-8")
    out = run_job(roster, settings(emu, tmp_path, "lookup", batch_size=10), credentials=creds)
    res = results_by_row(out.results_path)
    assert [res[r]["status"] for r in range(2, 32)] == ["success"] * 30
    assert (res[32]["status"], res[32]["error_code"]) == ("failed", "not-found")
    users = read_sheet(out.results_path, "Users")
    assert [(u["emailId"], u["orgUserId"]) for u in users] == [(f"user{i:02d}@corp.com", f"E{100 + i}")
                                                              for i in range(30)]
    listed = [r for r in emu.state()["requests"] if r["path"] == "/api/public/alluserroles"]
    assert len(listed) == 1, "the account listing is read once for the whole run"


def test_update_by_org_user_id_snapshots_the_right_user(make_emulator, creds, tmp_path):
    emu = make_emulator(replies="documented", users=people(4))
    change = tmp_path / "change.csv"
    change.write_text("Employee ID,First Name\nE102,Renamed\nE103,Also\n", encoding="utf-8")
    out = run_job(change, settings(emu, tmp_path, "update"), credentials=creds)
    assert out.exit_code == 0, read_sheet(out.results_path, "Results")
    wb = openpyxl.load_workbook(out.undo_path, read_only=True)
    rows = [r for r in wb["Users"].iter_rows(min_row=2, values_only=True)]
    headers = [c.value for c in next(wb["Users"].iter_rows(max_row=1))]
    undo = [dict(zip(headers, r, strict=False)) for r in rows]
    assert {(u["orgUserId"], u["firstName"]) for u in undo} == {("E102", "F2"), ("E103", "F3")}
