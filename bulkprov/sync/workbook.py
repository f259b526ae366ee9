"""The plan workbook: what a sync would do, for a person to review (and its fingerprint to approve)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bulkprov import i18n
from bulkprov.errors import N_, InputError, PlanFileInvalid
from bulkprov.i18n import gettext as _
from bulkprov.io.writers.xlsx import HEADER_FORMAT, AtomicFile, close_workbook, new_workbook, write_sheet
from bulkprov.outputs.names import Names
from bulkprov.sync.plan import Change, Plan
from bulkprov.sync.rows import grants_builder
from bulkprov.units import format_duration


def describe(plan: Plan, *, guards: bool = True) -> list[str]:
    lines = [_("{add} to add, {update} to update, {unchanged} unchanged, {remove} to remove, {invalid} invalid "
               "rows").format(add=plan.count("add"), update=plan.count("update"),
                              unchanged=plan.count("unchanged"), remove=plan.count("remove"),
                              invalid=len(plan.invalid)),
             _("activation emails that would be sent: {count}").format(count=plan.emails),
             _("requests: {count} ≈ {eta} under the rate budget").format(count=plan.requests,
                                                                         eta=format_duration(plan.eta))]
    if plan.strays is not None:
        lines.append(_("users in the account that the roster does not mention (strays): {count}").format(
            count=len(plan.strays)) + (f" -- {plan.strays_problem}" if plan.strays_problem else ""))
    return lines + ([_("GUARD: {message}").format(message=g.message) for g in plan.guards] if guards else [])


# The plan workbook's Summary labels; the fingerprint's is read back in any language.
FINGERPRINT = N_("plan fingerprint")


def write_plan(path: Path, plan: Plan, roster: Path, roster_sha: str) -> Path:
    target = AtomicFile(path)
    wb = new_workbook(target.temp, constant_memory=True)  # each sheet is written whole, in order: the adds stream
    head = wb.add_format(HEADER_FORMAT)

    def sheet(name: str, headers: list[str], rows: Iterable[list[Any]]) -> None:
        write_sheet(wb, name, headers, rows, head=head)

    summary = [[_("roster"), str(roster)], [_("roster SHA-256"), roster_sha], [_(FINGERPRINT), plan.fingerprint],
               [_("previously applied roster"), _("run {run_id} ({count} users)").format(
                   run_id=plan.previous_run, count=plan.previous_size)
                if plan.previous_run else _("none (first sync: nothing will be removed)")],
               *[["", line] for line in describe(plan)],
               ["", _("To run exactly this plan, give this file to sync as the approved plan: it refuses to run if "
                      "the roster or the account changed since.")]]
    sheet("Summary", [_("item"), _("value")], summary)
    sheet("Add", ["row", "emailId", "orgUserId", "firstName", "lastName", "dept", _("builder access")],
          ([r.row, r.email, r.org_user_id, r.user["userInfo"].get("firstName", ""),
            r.user["userInfo"].get("lastName", ""), r.user["userInfo"].get("dept", ""),
            _("yes") if grants_builder(r.user) else ""] for r in plan.adds))
    names = Names(plan.current.values())
    sheet("Update", ["row", "emailId", "field", "old", "new", "note", "old (ids)", "new (ids)"],
          [[i.row.row, i.row.email, c.field, *_named(names, c), "; ".join(i.notes), *_ids(c)]
           for i in plan.of("update") for c in i.changes])
    sheet("Unchanged", ["row", "emailId", "note"],
          [["" if i.row.ref.synthetic else i.row.row, i.row.email, "; ".join(i.notes)]
           for i in plan.of("unchanged")])
    sheet("Remove", ["emailId", "orgUserId", "reason"],
          [[i.row.email, i.row.org_user_id, "; ".join(i.notes)] for i in plan.of("remove")])
    sheet("Invalid", ["row", "emailId", "reason"],
          ([r.row, r.email, "; ".join(str(e) for e in r.errors)] for r in plan.invalid))
    if plan.strays is not None:
        from bulkprov.sync.strays import strays_sheet

        sheet("Strays", *strays_sheet(plan))
    try:
        close_workbook(wb)
    except BaseException:
        target.discard()
        raise
    target.commit()
    return path


_NAMERS = {"groups": Names.group, "roles": Names.role, "botTasks": Names.bot_task}


def _named(names: Names, change: Change) -> tuple[str, str]:
    """A change as a person reads it: role, bot and group names instead of ids (ids in their own columns)."""
    namer = _NAMERS.get(change.field)
    if namer is None:
        return change.old, change.new
    return tuple("; ".join(namer(names, e.strip()) for e in v.split(";") if e.strip()) for v in (change.old, change.new))


def _ids(change: Change) -> tuple[str, str]:
    return (change.old, change.new) if change.field in _NAMERS else ("", "")


def read_plan_fingerprint(path: Path) -> str:
    from bulkprov.io import open_table

    try:
        table = open_table(path, sheet="Summary", required_any=())
        labels = {i18n.gettext_in(lang, FINGERPRINT) for lang in i18n.LANGUAGES}
        for raw in table.rows:
            if raw.cells and raw.cells[0] in labels:
                return raw.cells[1]
    except InputError as exc:
        raise PlanFileInvalid(plan=str(path), reason=exc.message) from None
    raise PlanFileInvalid(plan=str(path), reason=_("no plan fingerprint"))
