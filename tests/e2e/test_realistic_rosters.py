"""The realistic roster the benchmark measures (bench/rosters.py) is what it says it is, and bulkprov reads it
as HR means it: its proportions, the 2 % of rows that are invalid and why, the same results from CSV and
xlsx, and its valid rows added for real against the emulator with their roles, groups and bot tasks."""

from __future__ import annotations

import collections
from pathlib import Path

from bench.rosters import HEADERS, INVALID_EVERY, realistic_row, write_csv, write_xlsx
from bulkprov.jobs import JobSettings, run_job
from tests.conftest import read_sheet, results_by_row

N = 2_000
COL = {h: i for i, h in enumerate(HEADERS)}


def test_the_roster_has_every_column_kind_in_the_proportions_of_issue_30() -> None:
    rows = [realistic_row(i) for i in range(N)]
    roles = [r[COL["roles"]].split(";") for r in rows if r[COL["roles"]]]
    assert all(1 <= len(r) <= 3 for r in roles)
    entries = [e for r in roles for e in r]
    pairs = sum("@" in e for e in entries) / len(entries)
    assert 0.25 <= pairs <= 0.35, pairs
    groups = [len(r[COL["groups"]].split(";")) if r[COL["groups"]] else 0 for r in rows]
    assert set(groups) == {0, 1, 2, 3, 4}
    tasks = sum(bool(r[COL["botTasks"]]) for r in rows) / N
    assert 0.07 <= tasks <= 0.13, tasks
    booleans = [r[COL[c]] for r in rows for c in ("canCreateBot", "isDeveloper")]
    words = sum(isinstance(b, str) for b in booleans) / len(booleans)
    assert 0.16 <= words <= 0.24, words
    local = sum(not r[COL["Last Name"]].isascii() for r in rows) / N
    assert 0.25 <= local <= 0.35, local
    assert all(isinstance(r[COL["Phone"]], int) and isinstance(r[COL["Zip Code"]], int) for r in rows)


def test_two_percent_of_rows_are_invalid_for_the_reasons_hr_makes(tmp_path: Path) -> None:
    outcome = run_job(write_csv(tmp_path / "roster.csv", N), JobSettings(command="validate", output=tmp_path / "v.xlsx"))
    results = results_by_row(outcome.results_path)
    invalid = {row: r["error_code"] for row, r in results.items() if r["status"] == "invalid"}
    assert len(invalid) == N // INVALID_EVERY, "2 % invalid"
    assert set(invalid) == {i + 2 for i in range(N) if i % INVALID_EVERY == INVALID_EVERY - 1}
    codes = collections.Counter(code.split(";")[0].strip() for code in invalid.values())
    assert {"invalid-email", "invalid-boolean", "duplicate-email", "too-long"} <= set(codes), codes
    assert outcome.exit_code == 1


def test_csv_and_xlsx_of_the_roster_give_the_same_results(tmp_path: Path) -> None:
    csv_results = read_sheet(run_job(write_csv(tmp_path / "r.csv", 600),
                                     JobSettings(command="validate", output=tmp_path / "c.xlsx")).results_path, "Results")
    xlsx_results = read_sheet(run_job(write_xlsx(tmp_path / "r.xlsx", 600),
                                      JobSettings(command="validate", output=tmp_path / "x.xlsx")).results_path, "Results")
    assert csv_results == xlsx_results


def test_its_valid_rows_are_added_with_their_roles_groups_and_tasks(make_emulator, creds, tmp_path: Path) -> None:
    emu = make_emulator()
    roster = write_xlsx(tmp_path / "r.xlsx", 300)
    settings = JobSettings(command="add", host=emu.url, rate="none", state_dir=tmp_path / "state", send_email=False,
                           allow_builder=300, output=tmp_path / "add.xlsx")
    outcome = run_job(roster, settings, credentials=creds)
    totals = outcome.summary.status_totals()
    assert totals["success"] == 300 - 300 // INVALID_EVERY and totals["invalid"] == 300 // INVALID_EVERY
    users = {u["userInfo"]["emailId"]: u for u in emu.state()["users"]}
    first = realistic_row(0)
    stored = users[first[0]]
    assert {g for g in first[COL["groups"]].split(";") if g} == {g["groupId"] for g in stored.get("groups") or []}
    held = stored["roles"]["adminRoles"] + stored["roles"]["btRoles"]
    assert sorted(r["roleId"] for r in held) == sorted(e.split("@")[0] for e in first[COL["roles"]].split(";"))
