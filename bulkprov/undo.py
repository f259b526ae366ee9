"""Undo files: every run that changes the account writes how to change it back.

The undo workbook is an ``apply`` input file (an ``action`` column plus the template's columns):

* a user the run **added** gets a ``remove`` row;
* a user the run **removed** gets an ``add`` row built from the user's details fetched with
  usersInfo just before deleting (roles, groups, bot tasks, Builder flags included);
* a user the run **updated** gets an ``update`` row with the previous values of the fields the run
  changed, and the group/role entries it added prefixed with ``-`` (removed again) and those it
  removed prefixed with ``+`` (added back).

``bulkprov apply RESULTS.undo.xlsx`` restores the account.  A field that was blank before an
update cannot be blanked again through the API (blank cells mean "no change"); such fields are
listed in the undo file's ``About`` sheet.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bulkprov import schema
from bulkprov.results import RowResult, _AtomicFile
from bulkprov.validation import CheckedRow

UNDO_HEADERS = ["action", *schema.USER_SHEET_COLUMNS]


def undo_path(results_path: Path) -> Path:
    return results_path.with_name(f"{results_path.stem}.undo.xlsx")


def _flip(change: Any, old: set[str], text) -> str:
    """Entries that undo an addTo/removeFrom change, given what the user had before."""
    if not isinstance(change, dict):
        return ""
    entries = [f"-{text(x)}" for x in change.get("addTo") or [] if text(x) not in old]
    entries += [f"+{text(x)}" for x in change.get("removeFrom") or [] if text(x) in old]
    return "; ".join(entries)


def undo_update(row: CheckedRow, before: dict[str, Any], notes: list[str]) -> dict[str, str]:
    info_before = before.get("userInfo") or {}
    cells = {"action": "update", "emailId": row.email, "orgUserId": row.org_user_id if not row.email else ""}
    for name in (row.user.get("userInfo") or {}):
        if name in ("emailId", "orgUserId"):
            continue
        old = info_before.get(name)
        if old in (None, ""):
            notes.append(f"row {row.row} ({row.key}): {name} was blank before; set it by hand to undo")
        cells[name] = "" if old is None else str(old)
    old_groups = {g.get("groupId", "") if isinstance(g, dict) else str(g) for g in before.get("groups") or []}
    cells["groups"] = _flip(row.user.get("groups"), old_groups, str)
    cells["roles"] = _flip(row.user.get("roles"), set(schema.role_texts(before.get("roles"))), schema.role_text)
    if "assignBotTasks" in row.user:
        cells["botTasks"] = schema.user_to_cells(before).get("botTasks", "")
    for name in schema.BOOL_COLUMNS:
        if name in row.user and name in before:
            cells[name] = "TRUE" if before[name] else "FALSE"
    return cells


def undo_rows(rows: Iterable[CheckedRow], results: dict[int, RowResult],
              before: dict[int, dict[str, Any]]) -> tuple[list[dict[str, str]], list[str]]:
    """The undo rows of a run's successful changes, and notes on what cannot be undone."""
    out: list[dict[str, str]] = []
    notes: list[str] = []
    for row in rows:
        result = results.get(row.row)
        if result is None or result.status != "success":
            continue
        if row.action == "add":
            out.append({"action": "remove", "emailId": row.email})
        elif row.action == "remove":
            if row.row in before:
                out.append({"action": "add", **schema.user_to_cells(before[row.row])})
            else:
                notes.append(f"row {row.row} ({row.key}): its details could not be fetched before removal")
        elif row.action == "update" and row.row in before:
            out.append(undo_update(row, before[row.row], notes))
    return out, notes


def write_undo(path: Path, rows: list[dict[str, str]], notes: list[str], run_id: str) -> Path:
    import xlsxwriter

    target = _AtomicFile(path)
    wb = xlsxwriter.Workbook(str(target.temp), {"strings_to_formulas": False, "strings_to_numbers": False,
                                                "strings_to_urls": False})
    head = wb.add_format({"bold": True, "bg_color": "#FCE4D6", "border": 1})
    ws = wb.add_worksheet("Users")
    for col, name in enumerate(UNDO_HEADERS):
        ws.write_string(0, col, name, head)
        ws.set_column(col, col, 18)
        for r, row in enumerate(rows, start=1):
            value = row.get(name, "")
            if value:
                ws.write_string(r, col, value)
    ws.freeze_panes(1, 0)
    about = wb.add_worksheet("About")
    about.set_column(0, 0, 120)
    lines = [f"Undo file of run {run_id}. To restore the account: bulkprov apply {path.name}",
             "Check it first with: bulkprov apply --dry-run " + path.name, ""] + notes
    for r, line in enumerate(lines):
        about.write_string(r, 0, line)
    wb.close()
    target.commit()
    return path
