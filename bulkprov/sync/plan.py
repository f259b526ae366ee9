"""The plan: the diff between a roster and the account, its guards and its fingerprint.

The roster is the truth for the users it lists and for the columns it has.  ``plan`` compares it
with the account and writes a plan workbook without changing anything; ``sync`` executes exactly
that plan.

* **Current state** comes from usersInfo for the roster's users (and the account listing for the
  orgUserIds usersInfo does not give, :mod:`bulkprov.sync.listing`); a field neither carries is
  compared with what bulkprov last applied, and when that is not known either its old value is
  "not known", never blank.  **Removals** come from the roster the last successful sync
  applied (kept in the ledger, updated as each change is committed): a user bulkprov provisioned
  that no row of today's roster names is removed.  Users bulkprov never provisioned are never touched.
* **A row names its person even when it is invalid**: a row with a bad cell still carries an email
  or orgUserId, and the user it names is *kept* (not removed, not changed; the plan says so).  A row
  sync cannot apply without guessing is held like an invalid one (:func:`hold_ambiguous_rows`): two
  rows claiming one email or orgUserId (neither is applied), and a valid row whose email and
  orgUserId belong to two different applied users (``key-conflict``: a mistyped email with the
  employee number intact must not add a stranger and remove the employee).
* **Diff**: a non-blank cell that differs from the account is a change; a blank cell, or a column
  the roster does not have, is not managed.  For groups, roles and bot tasks the cell is the
  complete list (entries missing from it are removed).  ``canCreateBot``/``isDeveloper`` columns,
  when present, are managed with blank meaning ``false`` (least privilege).
* **Guards** (like Entra Connect's accidental-delete threshold): more removals than
  ``min(max_deletes, max_delete_percent × previously applied roster)`` aborts the whole sync with
  nothing changed (exit 3) unless ``allow_deletes`` approves at least that many; likewise for
  mass role removals (``allow_role_removals``) and for granting Builder access to more than
  ``builder_confirm`` users (``allow_builder``, or a yes from the front end's confirm callback).
  Protected users (emails or glob patterns) are never removed or demoted.
* **Approval**: a sync given an approved plan file refuses to run when the plan it would compute
  now (from the same roster and the account as it is now) differs from the approved one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from bulkprov import schema
from bulkprov.approvals.options import GuardOptions
from bulkprov.bodies import LIST_FIELDS, list_change, role_text, task_texts, user_to_cells
from bulkprov.errors import N_, OUTCOME_CODES, GuardStopped, RowError
from bulkprov.i18n import gettext as _
from bulkprov.model import SYNTHETIC_ROW_BASE, Action, CheckedRow, RowResult, Status, match_key
from bulkprov.sync.options import SyncOptions

log = logging.getLogger("bulkprov.sync")

MANAGED_LISTS = ("groups", "roles", "botTasks")
# The old value of a field no reply carries and bulkprov never applied: not blank, not known.
NOT_KNOWN = N_("(not known: the server's replies do not carry it)")


@dataclass(slots=True)
class Change:
    field: str
    old: str
    new: str


@dataclass(slots=True)
class PlanItem:
    action: str                     # add | update | remove | unchanged
    row: CheckedRow
    changes: list[Change] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    removes_roles: bool = False
    grants_builder: bool = False
    desired: dict[str, Any] | None = None  # the roster row's user (what sync remembers once applied)
    held: str = ""  # why a change the plan wanted is not made (a stray whose details could not be fetched)


@dataclass
class Plan:
    items: list[PlanItem]
    invalid: list[CheckedRow]
    current: dict[str, dict[str, Any]]        # key → usersInfo object, for every user the plan touches
    previous_run: str | None
    previous_size: int
    guards: list[GuardStopped] = field(default_factory=list)
    fingerprint: str = ""
    requests: int = 0
    eta: float = 0.0
    strays: list[dict[str, Any]] | None = None  # users of the account no roster row mentions (when listed)
    strays_problem: str = ""                     # why the account could not be listed
    send_email: bool = True                      # the run's setting: a row's sendEmail cell overrides it

    def of(self, action: str) -> list[PlanItem]:
        return [i for i in self.items if i.action == action]

    @property
    def emails(self) -> int:
        """Activation emails the adds would send: a row's sendEmail, else the run's setting."""
        return sum(1 for i in self.of("add") if (self.send_email if i.row.send_email is None else i.row.send_email))


# -- the diff ------------------------------------------------------------------------------------------


def _current_lists(user: dict[str, Any]) -> dict[str, set[str]]:
    cells = user_to_cells(user)
    return {name: {x.strip() for x in cells.get(name, "").split(";") if x.strip()} for name in MANAGED_LISTS}


def _desired_lists(user: dict[str, Any]) -> dict[str, set[str]]:
    return {"groups": set(user.get("groups") or []),
            "roles": {role_text(r) for r in user.get("roles") or []},
            "botTasks": set(task_texts(user.get("assignBotTasks")))}


def desired_fields(user: dict[str, Any]) -> dict[str, Any]:
    """A roster row's user in the form sync remembers after applying it (JSON-friendly)."""
    lists = _desired_lists(user)
    out: dict[str, Any] = {"userInfo": dict(user.get("userInfo") or {})}
    out.update({name: sorted(values) for name, values in lists.items()})
    out.update({name: bool(user.get(name)) for name in schema.BOOL_COLUMNS if name != "sendEmail"})
    return out


def _known_info(current: dict[str, Any], remembered: dict[str, Any], name: str) -> str | None:
    """A userInfo field as the account has it: from usersInfo when the reply carries it, else as
    bulkprov last applied it; None when neither knows (the field is then sent, and remembered)."""
    info_now = current.get("userInfo") or {}
    if name in info_now:
        return "" if info_now[name] is None else str(info_now[name])
    remembered_info = remembered.get("userInfo") or {}
    return str(remembered_info[name]) if name in remembered_info else None


_LIST_KEYS = LIST_FIELDS


def _known_list(current: dict[str, Any], remembered: dict[str, Any], name: str, now: set[str]) -> set[str] | None:
    if _LIST_KEYS[name] in current:
        return now
    return set(remembered[name]) if name in remembered else None


def diff_user(row: CheckedRow, current: dict[str, Any], managed: set[str], protected: bool,
              remembered: dict[str, Any] | None = None) -> PlanItem:
    """What must change for the account's user to match the roster row.

    A field the server's reply does not carry is compared with the value bulkprov last applied
    (``remembered``), not with blank: usersInfo may return only a few fields, and a plan that lists
    every other field as a change is useless for review and spends the rate budget on nothing.
    """
    remembered = remembered or {}
    desired = row.user
    item = PlanItem("unchanged", row)
    key_field = {"emailId": row.email} if row.email else {"orgUserId": row.org_user_id}
    payload: dict[str, Any] = {"userInfo": dict(key_field)}
    for name, new in (desired.get("userInfo") or {}).items():
        known = _known_info(current, remembered, name)
        if name in ("emailId", "orgUserId") and known is not None and match_key(known) == match_key(new):
            continue
        if name == "emailId" and known is None:
            continue  # the user was found by this email: it is the same
        if known != new:
            payload["userInfo"][name] = new
            item.changes.append(Change(name, _(NOT_KNOWN) if known is None else known, new))
    now_lists, want_lists = _current_lists(current), _desired_lists(desired)
    for name in MANAGED_LISTS:
        if name not in managed:
            continue
        known_list = _known_list(current, remembered, name, now_lists[name])
        old, new = (known_list if known_list is not None else set()), want_lists[name]
        if known_list is not None and old == new:
            continue
        removing = sorted(old - new)
        if protected and name == "roles" and removing:
            item.notes.append(_("protected user: roles not removed ({roles})").format(roles="; ".join(removing)))
            new = new | old
            removing = []
            if old == new:
                continue
        item.changes.append(Change(name, "; ".join(sorted(old)) if known_list is not None else _(NOT_KNOWN),
                                   "; ".join(sorted(new))))
        if name in ("groups", "roles"):
            payload[name] = list_change(name, sorted(new - old), removing)
            if name == "roles":
                item.removes_roles = bool(removing)
        else:
            payload["assignBotTasks"] = desired.get("assignBotTasks") or []
    for name in schema.BOOL_COLUMNS:
        if name not in managed or name == "sendEmail":
            continue
        if name in current:
            old_value: bool | None = bool(current.get(name))
        else:
            old_value = remembered.get(name)
        new_value = bool(desired.get(name))
        if old_value is not None and old_value == new_value:
            continue
        if protected and old_value and not new_value:
            item.notes.append(_("protected user: {column} not taken away").format(column=name))
            continue
        payload[name] = new_value
        item.changes.append(Change(name, _(NOT_KNOWN) if old_value is None else str(old_value).upper(),
                                   str(new_value).upper()))
        item.grants_builder = item.grants_builder or new_value
    if item.changes:
        item.action = "update"
        item.row = row.as_action(Action.UPDATE, payload)
    return item


def applied_fields(plan: Plan, results: dict[int, RowResult],
                   previous: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """What to remember per user after a sync: the roster's values for users now as the roster says
    (added, updated or unchanged), the earlier memory for the others."""
    out = dict(previous)
    for item in plan.items:
        if item.action == "remove" or item.desired is None:
            continue
        result = results.get(item.row.row)
        if item.action == "unchanged" or (result is not None and result.status == Status.SUCCESS):
            out[item.row.key.id] = desired_fields(item.desired)
    return out


# -- building the plan -----------------------------------------------------------------------------------


def is_protected(email: str, patterns: Sequence[str], org_user_id: str = "") -> bool:
    """By email (an entry with ``@``) or orgUserId (any other entry): the one rule, in the gate."""
    from bulkprov.approvals.policy import is_protected as protected

    return protected(email, org_user_id, patterns)


def removal_limit(previous_size: int, max_deletes: int, max_percent: float) -> int:
    return min(max_deletes, math.floor(previous_size * max_percent / 100))


def hold_ambiguous_rows(rows: list[CheckedRow], previous: list[tuple[str, str, str]],
                        current: dict[str, dict[str, Any]] | None = None) -> None:
    """Make invalid the valid rows sync cannot apply without guessing who they mean (they gain errors).

    * A row whose email or orgUserId a later row claims too: the validator refuses the later row; the
      earlier one is held as well, so two rows claiming one key change neither person.
    * ``key-conflict``: the row's orgUserId belongs to an applied user under another email, or its email
      to an applied user with another orgUserId -- a typo in one key, most likely, which applied as
      written would add a stranger and remove the employee.  Unless the account (``current``, from
      usersInfo) already pairs the row's email with its orgUserId: then the change was made there first,
      as it should be, and the row is simply applied.
    """
    current = current or {}
    later: dict[tuple[str, str], int] = {}
    for row in rows:
        for error in row.errors:
            if error.code == "duplicate-email" and row.key.email_id:
                later.setdefault(("emailId", row.key.email_id), row.row)
            elif error.code == "duplicate-org-user-id" and row.key.org_id:
                later.setdefault(("orgUserId", row.key.org_id), row.row)
    by_email = {match_key(email): (key, email, org) for key, email, org in previous if email}
    by_org = {match_key(org): (key, email, org) for key, email, org in previous if org}
    for row in rows:
        if row.errors:
            continue
        for column, code, key, value in (("emailId", "duplicate-email", row.key.email_id, row.email),
                                         ("orgUserId", "duplicate-org-user-id", row.key.org_id, row.org_user_id)):
            if key and (column, key) in later:
                row.errors.append(RowError.of(row.row, column, value, code, "later", value=value,
                                              later=later[(column, key)]))
        if row.errors or not row.key.org_id or _account_pairs(current.get(row.key.id), row.key.org_id):
            continue
        owner_of_email, owner_of_org = by_email.get(row.key.email_id), by_org.get(row.key.org_id)
        if owner_of_org is not None and owner_of_org[0] != (owner_of_email or ("",))[0]:
            row.errors.append(RowError.of(row.row, "orgUserId", row.org_user_id, "key-conflict", "org-elsewhere",
                                          org=row.org_user_id, other=owner_of_org[1], email=row.email))
        elif owner_of_email is not None and owner_of_email[2] and match_key(owner_of_email[2]) != row.key.org_id:
            row.errors.append(RowError.of(row.row, "orgUserId", row.org_user_id, "key-conflict", "email-elsewhere",
                                          email=row.email, other=owner_of_email[2], org=row.org_user_id))


def _account_pairs(user: dict[str, Any] | None, org_id: str) -> bool:
    """The account's user (usersInfo) carries this orgUserId (a reply without orgUserId confirms nothing)."""
    found = str(((user or {}).get("userInfo") or {}).get("orgUserId") or "")
    return bool(found) and match_key(found) == org_id


KEPT_NOTE = N_("kept: their row is invalid tonight (row {row})")


def build_plan(checked: list[CheckedRow], managed: set[str], current: dict[str, dict[str, Any]],
               previous: list[tuple[str, str, str]], previous_run: str | None, settings: SyncOptions,
               remembered: dict[str, dict[str, Any]] | None = None) -> Plan:
    """``previous``: (key, email, orgUserId) of the roster sync applied; ``remembered``: the fields
    bulkprov last applied per user (for the fields usersInfo does not return).  Rows sync cannot apply
    (:func:`hold_ambiguous_rows`) must already carry their errors."""
    remembered = remembered or {}
    valid = [r for r in checked if not r.errors]
    plan = Plan([], [r for r in checked if r.errors], {}, previous_run, len(previous),
                send_email=bool(settings.send_email))
    roster_keys = {row.key.id for row in valid} if previous else set()
    leaving = [(key, email, org) for key, email, org in previous if key not in roster_keys]
    named_by = _first_rows_naming(checked, leaving)
    for row in valid:
        key = row.key.id
        found = current.get(key)
        if found is None:
            plan.items.append(PlanItem("add", row, grants_builder=bool(row.user.get("canCreateBot")
                                                                        or row.user.get("isDeveloper")),
                                       desired=row.user))
        else:
            plan.current[key] = found
            item = diff_user(row, found, managed, is_protected(row.email, settings.protected, row.org_user_id),
                             remembered.get(key))
            item.desired = row.user
            plan.items.append(item)
    next_row = SYNTHETIC_ROW_BASE
    for key, email, org_user_id in previous:
        if key in roster_keys:
            continue
        next_row += 1
        row = CheckedRow.make(next_row, Action.REMOVE, email, org_user_id)
        named = named_by.get(match_key(email)) if email else None
        if named is None and org_user_id:
            named = named_by.get(match_key(org_user_id))
        if named is not None and key in current:  # only an invalid row names this user tonight: kept as it is
            plan.current[key] = current[key]
            plan.items.append(PlanItem("unchanged", row, notes=[_(KEPT_NOTE).format(row=named)]))
            continue
        if named is not None:
            continue  # gone from the account already (deleted, or its email changed there): nothing to keep
        if is_protected(email, settings.protected, org_user_id):
            plan.items.append(PlanItem("unchanged", row, notes=[_("protected user: not removed")]))
            continue
        if key in current:
            plan.current[key] = current[key]
            plan.items.append(PlanItem("remove", row, notes=[_("not in the roster any more (applied by run "
                                                              "{run_id})").format(run_id=previous_run)]))
    plan.guards = guard_violations(plan, settings)
    plan.fingerprint = fingerprint(plan)
    return plan


def _first_rows_naming(checked: list[CheckedRow], leaving: list[tuple[str, str, str]]) -> dict[str, int]:
    """The first row (valid or not) naming each email or orgUserId of the ``leaving`` users: only theirs, so
    a first sync (nobody leaving) builds nothing (two keys a row were ~300 B a row for a moment, #30)."""
    wanted = {match_key(v) for _key, email, org in leaving for v in (email, org) if v}
    named_by: dict[str, int] = {}
    if wanted:
        for row in checked:
            for key in (row.key.email_id, row.key.org_id):
                if key and key in wanted:
                    named_by.setdefault(key, row.row)
    return named_by


def guard_violations(plan: Plan, settings: GuardOptions) -> list[GuardStopped]:
    out: list[GuardStopped] = []
    limit = removal_limit(plan.previous_size, settings.max_deletes, settings.max_delete_percent)
    removals = len(plan.of("remove"))
    if removals > limit and (settings.allow_deletes is None or settings.allow_deletes < removals):
        out.append(GuardStopped("deletes", count=removals, limit=limit, max_deletes=settings.max_deletes,
                                percent=settings.max_delete_percent, previous=plan.previous_size))
    demoted = sum(1 for i in plan.items if i.removes_roles)
    role_limit = removal_limit(max(plan.previous_size, len(plan.items)), settings.max_deletes,
                               settings.max_delete_percent)
    allow_roles = settings.allow_role_removals
    if demoted > role_limit and (allow_roles is None or allow_roles < demoted):
        out.append(GuardStopped("roles", count=demoted, limit=role_limit))
    builders = sum(1 for i in plan.items if i.grants_builder)
    if builders > settings.builder_confirm and (settings.allow_builder is None or settings.allow_builder < builders):
        out.append(GuardStopped("builder", count=builders, limit=settings.builder_confirm))
    return out


def fingerprint(plan: Plan) -> str:
    """Identity of a plan: its actions and payloads, and the account state it was computed from.

    The SHA-256 of ``json.dumps([parts, state])`` (``parts``: action, key and payload of every change;
    ``state``: every current user, sorted by key), hashed item by item as that text is made: one blob of a
    million payloads was ~2.4 KB a row at once (#30), and the digest is the same byte for byte, so an
    approved plan's fingerprint stays valid."""
    digest = hashlib.sha256()
    parts = ([i.action, i.row.key.id, i.row.user] for i in plan.items if i.action != "unchanged")
    state = ((k, json.dumps(plan.current[k], sort_keys=True, default=str)) for k in sorted(plan.current))
    digest.update(b"[")
    _hash_list(digest, parts)
    digest.update(b", ")
    _hash_list(digest, state)
    digest.update(b"]")
    return digest.hexdigest()


def _hash_list(digest: Any, items: Any) -> None:
    """Feed ``digest`` the text ``json.dumps(list(items), ...)`` would make, one item at a time."""
    digest.update(b"[")
    for n, item in enumerate(items):
        if n:
            digest.update(b", ")
        digest.update(json.dumps(item, sort_keys=True, default=str, ensure_ascii=False).encode("utf-8"))
    digest.update(b"]")


def sync_results(plan: Plan, dispatched: dict[int, RowResult]) -> dict[int, RowResult]:
    """Every roster row once (unchanged ones skipped), plus the removals, plus invalid rows."""
    out = dict(dispatched)
    out.update((r.row, r) for r in unchanged_results(plan))
    return out


class UnchangedResults:
    """The results of the plan's unchanged rows (``skipped``, or not made when a change was held back), in
    row order, made as they are read (as often as they are read)."""

    def __init__(self, plan: Plan) -> None:
        self.items = sorted((i for i in plan.items if i.action == "unchanged"), key=lambda i: i.row.row)

    def __iter__(self) -> Iterator[RowResult]:
        unchanged = OUTCOME_CODES["unchanged"]
        for item in self.items:
            r = item.row
            ref = r.as_action(Action.REMOVE if r.row > SYNTHETIC_ROW_BASE else Action.UPDATE).ref
            if item.held:  # the plan wanted it; the sync did not make it
                yield RowResult.not_attempted(ref, item.held)
                continue
            reason = unchanged.render("note", note="; ".join(item.notes)) if item.notes else unchanged.render()
            yield RowResult.of(ref, Status.SKIPPED, reason, "unchanged")


def unchanged_results(plan: Plan) -> UnchangedResults:
    return UnchangedResults(plan)
