"""The API's user bodies (``bodies.py``), one round trip for every list column.

A cell is built into an add body, sent, and read back from the account as cells (``user_to_cells``); a
change cell is built into an update change, resolved against the user as usersInfo shows it, sent, and
checked (``update_applied``); the undo file's cells (the inverse) are applied, and the account's list is
what it was before.  The emulator is the server: it applies ``addTo``/``removeFrom`` and replaces
``assignBotTasks`` itself, so the test checks our bodies against its reading of them, not against ours.
"""

from __future__ import annotations

import pytest

from bulkprov import schema
from bulkprov.bodies import resolve_update, update_applied, user_to_cells
from bulkprov.check.validator import Validator
from bulkprov.emulator import demo_seed
from bulkprov.io import open_table
from bulkprov.jobs import JobSettings, run_job
from tests.conftest import read_sheet

SEED = demo_seed()
GROUPS = {g["name"]: g["groupId"] for g in SEED["groups"]}
ROLES = {r["name"]: r["roleId"] for r in SEED["roles"]}
BOTS = {b["name"]: b for b in SEED["bots"]}
SUPPORT, HR, IT = (BOTS[n]["botId"] for n in ("Support Bot", "HR Assistant", "IT Helpdesk"))


def _dialog(bot: str, i: int) -> str:
    return next(b for b in SEED["bots"] if b["botId"] == bot)["dialogs"][i]


# column -> (the cell on add, the change cell on update, the entries after the update)
CASES = {
    "groups": (
        f"{GROUPS['Support Agents']}; {GROUPS['Sales']}",
        f"-{GROUPS['Sales']}; +{GROUPS['HR']}; {GROUPS['Managers']}",
        {GROUPS["Support Agents"], GROUPS["HR"], GROUPS["Managers"]},
    ),
    "roles": (
        f"{ROLES['Bot Tester']}@{SUPPORT}; {ROLES['Bot Admin']}",
        f"-{ROLES['Bot Tester']}@{SUPPORT}; {ROLES['Bot Developer']}@{HR}; +{ROLES['Master Admin']}",
        {ROLES["Bot Admin"], f"{ROLES['Bot Developer']}@{HR}", ROLES["Master Admin"]},
    ),
    "botTasks": (
        f"{SUPPORT}:{_dialog(SUPPORT, 0)},{_dialog(SUPPORT, 1)}; {HR}:{_dialog(HR, 0)}",
        f"-{SUPPORT}; {SUPPORT}:{_dialog(SUPPORT, 2)}; {IT}:{_dialog(IT, 0)}",
        {f"{SUPPORT}:{_dialog(SUPPORT, 2)}", f"{HR}:{_dialog(HR, 0)}", f"{IT}:{_dialog(IT, 0)}"},
    ),
}
EMAIL = "kim.minji@acme-corp.com"


def _entries(cell: str) -> set[str]:
    return {e.strip() for e in cell.split(";") if e.strip()}


def _account_entries(emu, column: str) -> set[str]:
    (user,) = emu.state()["users"]
    return _entries(user_to_cells(user)[column])


def _body(path, command: str) -> dict:
    table = open_table(path, required_any=("emailId", "orgUserId"))
    (row,) = [Validator(table, command).check(raw) for raw in table.rows]
    assert row.valid, row.errors
    return row.user


def _run(emu, creds, tmp_path, command: str, path, name: str):
    settings = JobSettings(command=command, host=emu.url, rate="none", output=tmp_path / f"{name}.xlsx",
                           state_dir=tmp_path / "state", send_email=False)
    outcome = run_job(path, settings, credentials=creds)
    assert outcome.exit_code == 0, read_sheet(outcome.results_path, "Results")
    return outcome


def test_every_list_column_is_a_list_column_here() -> None:
    assert set(CASES) == {c.name for c in schema.COLUMNS if c.is_list}


@pytest.mark.parametrize("column", sorted(CASES))
def test_a_list_column_round_trips_through_add_update_and_undo(column, make_emulator, creds, tmp_path):
    before_cell, change_cell, after = CASES[column]
    emu = make_emulator()
    added = tmp_path / "add.csv"
    added.write_text(f"Email,First Name,Last Name,{column}\n{EMAIL},Minji,Kim,\"{before_cell}\"\n", encoding="utf-8")
    _run(emu, creds, tmp_path, "add", added, "add")
    before = _entries(before_cell)
    assert _account_entries(emu, column) == before  # build (add) -> the account -> to cells

    change = tmp_path / "change.csv"
    change.write_text(f"Email,{column}\n{EMAIL},\"{change_cell}\"\n", encoding="utf-8")
    update = _body(change, "update")
    (current,) = emu.state()["users"]
    sent = resolve_update(update, current)
    assert update_applied(sent, current) is False
    updated = _run(emu, creds, tmp_path, "update", change, "update")
    assert _account_entries(emu, column) == after  # build (change) -> resolve -> the account
    (now,) = emu.state()["users"]
    # applied?  Groups and roles are confirmed from usersInfo; a task change never is (it is sent again).
    assert update_applied(sent, now) is (column != "botTasks")

    undo = {r["emailId"]: r for r in read_sheet(updated.undo_path, "Users")}[EMAIL]
    assert _entries(undo[column] or "") and undo["action"] == "update"
    _run(emu, creds, tmp_path, "apply", updated.undo_path, "undo")
    assert _account_entries(emu, column) == before  # the inverse -> the account as it was
