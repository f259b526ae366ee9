"""Undo files: every run that changes the account writes how to change it back.

The undo workbook is an ``apply`` input file (an ``action`` column plus the template's columns):

* a user the run **added** gets a ``remove`` row;
* a user the run **removed** gets an ``add`` row built from the user as it was just before deleting:
  usersInfo's details (names, roles, groups, bot tasks, Builder flags) merged with what only the
  account listing knows (the orgUserId); a field no reply carries (the documented usersInfo has no
  ``dept``, no address, no phones) is listed in the ``About`` sheet as not restorable;
* a user the run **updated** gets an ``update`` row with the previous values of the fields the run
  changed, and the group/role entries it added prefixed with ``-`` (removed again) and those it
  removed prefixed with ``+`` (added back).

``bulkprov apply RESULTS.undo.xlsx`` restores the account.  A field that was blank before an
update cannot be blanked again through the API (blank cells mean "no change"); such fields are
listed in the undo file's ``About`` sheet.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from bulkprov import schema
from bulkprov._faults import fault_point
from bulkprov.bodies import undo_lists, user_to_cells
from bulkprov.i18n import gettext as _
from bulkprov.io.writers.xlsx import AtomicFile
from bulkprov.io.writers.xlsxstream import ALERT_HEADER, Sheet, StreamingWorkbook
from bulkprov.model import Action, CheckedRow, RowResult, Status
from bulkprov.outputs.names import Names

UNDO_HEADERS = ["action", *schema.USER_SHEET_COLUMNS, *schema.NAME_COLUMNS]


def undo_path(results_path: Path) -> Path:
    return results_path.with_name(f"{results_path.stem}.undo.xlsx")


def undo_update(row: CheckedRow, before: dict[str, Any], notes: list[str]) -> dict[str, str]:
    info_before = before.get("userInfo") or {}
    cells = {"action": "update", "emailId": row.email, "orgUserId": row.org_user_id if not row.email else ""}
    for name in (row.user.get("userInfo") or {}):
        if name in ("emailId", "orgUserId"):
            continue
        old = info_before.get(name)
        if old in (None, ""):
            notes.append(_("row {row} ({key}): {column} was blank before; set it by hand to undo").format(
                row=row.row, key=row.key, column=name))
        cells[name] = "" if old is None else str(old)
    cells.update(undo_lists(row.user, before))
    for name in schema.BOOL_COLUMNS:
        if name in row.user and name in before:
            cells[name] = "TRUE" if before[name] else "FALSE"
    return cells


class UndoRows:
    """The undo rows of a run's changes, one changed row at a time (a million added users never sit in
    memory as undo rows), and at the end the notes on what cannot be undone.  ``before``: the users as they
    were before the run changed or removed them, by row."""

    def __init__(self, before: dict[int, dict[str, Any]]) -> None:
        self.before = before
        self.names = Names(before.values())  # the names of the roles, bots and groups the users had
        self.count = 0
        self._notes: list[str] = []
        self._unsure = 0
        self._added_back: list[tuple[dict[str, Any], dict[str, str]]] = []

    def of(self, row: CheckedRow, result: RowResult | None) -> dict[str, str] | None:
        """The undo row of one changed row (None: nothing to undo, or it cannot be: a note says so)."""
        if result is None or not undoable(result):
            return None
        if result.status != Status.SUCCESS:
            self._unsure += 1
        cells = self._cells(row)
        if cells is not None:
            cells.update(self.names.cells(cells))
            self.count += 1
        return cells

    def _cells(self, row: CheckedRow) -> dict[str, str] | None:
        before = self.before
        if row.action == Action.ADD:
            return {"action": "remove", "emailId": row.email}
        if row.action == Action.REMOVE:
            if row.row not in before:
                self._notes.append(_("row {row} ({key}): its details could not be fetched before removal").format(
                    row=row.row, key=row.key))
                return None
            cells = user_to_cells(before[row.row])
            if not cells.get("orgUserId") and row.org_user_id:  # removed by it: the key it had
                cells["orgUserId"] = row.org_user_id
            self._added_back.append((before[row.row], cells))
            return {"action": "add", **cells}
        if row.action == Action.UPDATE and row.row in before:
            return undo_update(row, before[row.row], self._notes)
        if row.action == Action.UPDATE:
            self._notes.append(_("row {row} ({key}): its values before the update could not be fetched; set them "
                                 "back by hand").format(row=row.row, key=row.key))
        return None

    def notes(self) -> list[str]:
        """What the rows so far cannot undo (read after the last row)."""
        notes = list(self._notes)
        if self._unsure:
            notes.append(_("{count} rows of this file undo changes whose outcome is unknown (the run stopped, or the "
                           "server did not say, while their request was out): applying the undo of a change that did "
                           "not happen is refused harmlessly (not found, already exists)").format(count=self._unsure))
        return notes + not_restorable(self._added_back)


def undo_rows(rows: Iterable[CheckedRow], results: dict[int, RowResult],
              before: dict[int, dict[str, Any]]) -> tuple[list[dict[str, str]], list[str]]:
    """The undo rows of a run's successful changes, and notes on what cannot be undone (held in memory)."""
    undo = UndoRows(before)
    out = [cells for row in rows if (cells := undo.of(row, results.get(row.row))) is not None]
    return out, undo.notes()


def undoable(result: RowResult) -> bool:
    """A change the undo file covers: done, or sent with no known outcome (it may have been applied)."""
    return result.status == Status.SUCCESS or (result.status == Status.FAILED and result.error_code == "unverified")


def not_restorable(added_back: list[tuple[dict[str, Any], dict[str, str]]]) -> list[str]:
    """What the add rows of removed users cannot restore: fields no reply carried (none of the users'
    before-images has them), and orgUserIds that could not be learnt."""
    if not added_back:
        return []
    carried = {name for image, _cells in added_back for name in (image.get("userInfo") or {})}
    fields = [f for f in schema.USER_INFO_FIELDS if f not in carried and f not in ("emailId", "orgUserId")]
    notes = []
    if fields:
        notes.append(_("not restorable: {fields} -- no reply bulkprov reads carries them (usersInfo, the account "
                       "listing), so the {count} users this file adds back get them blank; set them by hand").format(
            fields=", ".join(fields), count=len(added_back)))
    without_org = [cells["emailId"] for _image, cells in added_back if not cells.get("orgUserId")]
    if without_org:
        notes.append(_("orgUserId not known for {count} users (usersInfo does not give it and the account listing "
                       "could not be read, or they have none): they come back without one: {emails}").format(
            count=len(without_org), emails=", ".join(without_org[:20]) + (" …" if len(without_org) > 20 else "")))
    return notes


def write_undo(path: Path, rows: Iterable[dict[str, str]], notes: list[str] | Callable[[], list[str]],
               run_id: str) -> Path | None:
    """The undo workbook: a Users sheet that is itself an input file, and an About sheet. Written by
    our streaming writer (every value text, never a formula), as the result workbook is.  ``rows`` may be
    a stream (``notes`` then a function read after it); no file is left when there is no row."""
    target = AtomicFile(path)
    users = Sheet("Users", list(UNDO_HEADERS), [(1, len(UNDO_HEADERS), 18)], header_style=ALERT_HEADER,
                  selected=True)
    about = Sheet("About", widths=[(1, 1, 120)], freeze=False, autofilter=False)
    book = StreamingWorkbook(target.temp, [users, about], primary="Users")
    try:
        for part in _parts(rows):  # None: a blank cell
            users.add_rows([[row.get(name) for name in UNDO_HEADERS] for row in part])
        if not users.count:
            book.abandon()
            target.discard()
            return None
        lines = [_("Undo file of run {run_id}. To restore the account, apply this file (the 'apply' command, or "
                   "the page's 'apply' action); check it first with a dry run.").format(run_id=run_id), ""]
        for line in lines + (notes() if callable(notes) else notes):
            about.add([line])
        fault_point("undo")
        book.close()
    except BaseException:
        book.abandon()
        target.discard()
        raise
    target.commit()
    return path


def _parts(rows: Iterable[dict[str, str]], size: int = 4096) -> Iterator[list[dict[str, str]]]:
    it = iter(rows)
    while part := list(itertools.islice(it, size)):
        yield part
