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
import itertools
import json
import logging
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from bulkprov import schema
from bulkprov.approvals.options import GuardOptions
from bulkprov.bodies import LIST_FIELDS, list_change, role_text, task_texts, user_to_cells
from bulkprov.errors import N_, OUTCOME_CODES, GuardStopped, RowError
from bulkprov.i18n import gettext as _
from bulkprov.model import SYNTHETIC_ROW_BASE, Action, CheckedRow, RowResult, Status, match_key
from bulkprov.sync.options import SyncOptions
from bulkprov.sync.rows import AddRows, InvalidRows, Rows, RowSource

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
    items: list[PlanItem]                     # every user the plan does not add: updates, removals, unchanged
    adds: AddRows                             # the users it adds, read back from the roster's rows
    invalid: InvalidRows                      # the rows it will not apply (invalid, or held)
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
    roster_hash: RosterHash = field(default_factory=lambda: RosterHash())  # the roster rows' part of the fingerprint

    def of(self, action: str) -> list[PlanItem]:
        """The items of ``action`` (not ``add``: the adds are :attr:`adds`, rows never held)."""
        return [i for i in self.items if i.action == action]

    def changed_rows(self) -> list[CheckedRow]:
        """The rows of the updates and removals (what the plan changes besides its adds), in plan order."""
        return [i.row for i in self.items if i.action in ("update", "remove")]

    def count(self, action: str) -> int:
        return len(self.adds) if action == "add" else sum(1 for i in self.items if i.action == action)

    @property
    def emails(self) -> int:
        """Activation emails the adds would send: a row's sendEmail, else the run's setting."""
        return self.adds.emails

    @property
    def builders(self) -> int:
        """Users the plan would give Builder access: adds and updates."""
        return self.adds.builders + sum(1 for i in self.items if i.grants_builder)

    def builder_keys(self, limit: int) -> list[str]:
        keys = self.adds.builder_keys + [i.row.email or i.row.org_user_id for i in self.items if i.grants_builder]
        return keys[:limit]


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


def hold_ambiguous_rows(valid: Iterable[Any], invalid: Iterable[CheckedRow], previous: list[tuple[str, str, str]],
                        current: dict[str, dict[str, Any]] | None = None) -> dict[int, list[RowError]]:
    """The valid rows sync cannot apply without guessing who they mean, and why: row → its new errors (the
    plan holds them as invalid).  ``valid``: the rows' plain fields (row, key, email, orgUserId) suffice.

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
    for row in invalid:
        for error in row.errors:
            if error.code == "duplicate-email" and row.key.email_id:
                later.setdefault(("emailId", row.key.email_id), row.row)
            elif error.code == "duplicate-org-user-id" and row.key.org_id:
                later.setdefault(("orgUserId", row.key.org_id), row.row)
    by_email = {match_key(email): (key, email, org) for key, email, org in previous if email}
    by_org = {match_key(org): (key, email, org) for key, email, org in previous if org}
    if not later and not by_email and not by_org:  # a first sync without duplicates: nothing to hold
        return {}
    held: dict[int, list[RowError]] = {}
    for row in valid:
        key, errors = row.key, []
        for column, code, norm, value in (("emailId", "duplicate-email", key.email_id, row.email),
                                          ("orgUserId", "duplicate-org-user-id", key.org_id, row.org_user_id)):
            if norm and (column, norm) in later:
                errors.append(RowError.of(row.row, column, value, code, "later", value=value,
                                          later=later[(column, norm)]))
        if not errors and key.org_id and not _account_pairs(current.get(key.id), key.org_id):
            conflict = _key_conflict(row, key, by_email, by_org)
            if conflict is not None:
                errors.append(conflict)
        if errors:
            held[row.row] = errors
    return held


def _key_conflict(row: Any, key: Any, by_email: dict[str, tuple[str, str, str]],
                  by_org: dict[str, tuple[str, str, str]]) -> RowError | None:
    owner_of_email, owner_of_org = by_email.get(key.email_id), by_org.get(key.org_id)
    if owner_of_org is not None and owner_of_org[0] != (owner_of_email or ("",))[0]:
        return RowError.of(row.row, "orgUserId", row.org_user_id, "key-conflict", "org-elsewhere",
                           org=row.org_user_id, other=owner_of_org[1], email=row.email)
    if owner_of_email is not None and owner_of_email[2] and match_key(owner_of_email[2]) != key.org_id:
        return RowError.of(row.row, "orgUserId", row.org_user_id, "key-conflict", "email-elsewhere",
                           email=row.email, other=owner_of_email[2], org=row.org_user_id)
    return None


def _account_pairs(user: dict[str, Any] | None, org_id: str) -> bool:
    """The account's user (usersInfo) carries this orgUserId (a reply without orgUserId confirms nothing)."""
    found = str(((user or {}).get("userInfo") or {}).get("orgUserId") or "")
    return bool(found) and match_key(found) == org_id


KEPT_NOTE = N_("kept: their row is invalid tonight (row {row})")


def roster_keys(valid: RowSource, held: Iterable[int] = ()) -> set[str]:
    """The users the roster's applicable rows name (only asked when some user was applied before: a
    first sync has nobody to remove, and a set of a million keys is ~100 MB)."""
    held = set(held)
    return {f.key.id for f in valid.fields() if f.row not in held}


def build_plan(valid: RowSource, invalid: Rows, held: dict[int, list[RowError]], managed: set[str],
               current: dict[str, dict[str, Any]], previous: list[tuple[str, str, str]], previous_run: str | None,
               settings: SyncOptions, remembered: dict[str, dict[str, Any]] | None = None,
               keys: set[str] | None = None) -> Plan:
    """The plan, in one pass over the roster's valid rows (read back from ``valid``, a chunk at a time).

    ``invalid``: the rows the checks refused; ``held``: the valid rows sync cannot apply and their errors
    (:func:`hold_ambiguous_rows`); ``previous``: (key, email, orgUserId) of the roster sync applied;
    ``remembered``: the fields bulkprov last applied per user (for the fields usersInfo does not return);
    ``keys``: :func:`roster_keys`, when already known.  An add is one byte of the plan (:class:`AddRows`),
    its part of the fingerprint hashed as it goes by."""
    remembered = remembered or {}
    held_rows: dict[int, CheckedRow] = {}
    plan = Plan([], AddRows(valid), InvalidRows(invalid, held_rows), {}, previous_run, len(previous),
                send_email=bool(settings.send_email))
    for chunk in valid.chunks():
        for row in chunk:
            _plan_row(plan, row, held, held_rows, current, managed, settings, remembered)
    if previous:
        keys = keys if keys is not None else roster_keys(valid, held)
        leaving = [(key, email, org) for key, email, org in previous if key not in keys]
        _plan_leavers(plan, leaving, _first_rows_naming(itertools.chain(valid.fields(), invalid), leaving),
                      current, settings)
    plan.guards = guard_violations(plan, settings)
    plan.fingerprint = fingerprint(plan)
    return plan


def _plan_row(plan: Plan, row: CheckedRow, held: dict[int, list[RowError]], held_rows: dict[int, CheckedRow],
              current: dict[str, dict[str, Any]], managed: set[str], settings: SyncOptions,
              remembered: dict[str, dict[str, Any]]) -> None:
    """One valid roster row into the plan: held, an add, or an item (update or unchanged)."""
    errors = held.get(row.row)
    if errors:
        row.errors.extend(errors)
        held_rows[row.row] = row
        plan.adds.note(None, plan.send_email)
        return
    key = row.key.id
    found = current.get(key)
    if found is None:
        plan.adds.note(row, plan.send_email)
        plan.roster_hash.add(["add", key, row.user])
        return
    plan.adds.note(None, plan.send_email)
    plan.current[key] = found
    item = diff_user(row, found, managed, is_protected(row.email, settings.protected, row.org_user_id),
                     remembered.get(key))
    item.desired = row.user
    plan.items.append(item)
    if item.action != "unchanged":
        plan.roster_hash.add([item.action, item.row.key.id, item.row.user])


def _plan_leavers(plan: Plan, leaving: list[tuple[str, str, str]], named_by: dict[str, int],
                  current: dict[str, dict[str, Any]], settings: SyncOptions) -> None:
    """The applied users no applicable row names tonight: removed, or kept (an invalid row names them, or
    they are protected)."""
    next_row = SYNTHETIC_ROW_BASE
    for key, email, org_user_id in leaving:
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
                                                              "{run_id})").format(run_id=plan.previous_run)]))


def _first_rows_naming(rows: Iterable[Any], leaving: list[tuple[str, str, str]]) -> dict[str, int]:
    """The first row (valid or not) naming each email or orgUserId of the ``leaving`` users: only theirs, so
    a first sync (nobody leaving) builds nothing (two keys a row were ~300 B a row for a moment, #30)."""
    wanted = {match_key(v) for _key, email, org in leaving for v in (email, org) if v}
    named_by: dict[str, int] = {}
    if wanted:
        for row in rows:
            for key in (row.key.email_id, row.key.org_id):
                if key and key in wanted:
                    named_by[key] = min(named_by.get(key, row.row), row.row)  # valid and invalid rows come apart
    return named_by


def guard_violations(plan: Plan, settings: GuardOptions) -> list[GuardStopped]:
    out: list[GuardStopped] = []
    limit = removal_limit(plan.previous_size, settings.max_deletes, settings.max_delete_percent)
    removals = plan.count("remove")
    if removals > limit and (settings.allow_deletes is None or settings.allow_deletes < removals):
        out.append(GuardStopped("deletes", count=removals, limit=limit, max_deletes=settings.max_deletes,
                                percent=settings.max_delete_percent, previous=plan.previous_size))
    demoted = sum(1 for i in plan.items if i.removes_roles)
    role_limit = removal_limit(max(plan.previous_size, len(plan.items) + len(plan.adds)), settings.max_deletes,
                               settings.max_delete_percent)
    allow_roles = settings.allow_role_removals
    if demoted > role_limit and (allow_roles is None or allow_roles < demoted):
        out.append(GuardStopped("roles", count=demoted, limit=role_limit))
    builders = plan.builders
    if builders > settings.builder_confirm and (settings.allow_builder is None or settings.allow_builder < builders):
        out.append(GuardStopped("builder", count=builders, limit=settings.builder_confirm))
    return out


class RosterHash:
    """The roster rows' part of a plan's fingerprint, hashed as the plan is built (the adds are never held):
    the opening of ``json.dumps([parts, state])`` and the part of every roster row the plan changes, in
    row order -- the removals, which follow them, and the account's state are hashed by :func:`fingerprint`."""

    def __init__(self) -> None:
        self.digest = hashlib.sha256(b"[[")
        self.parts = 0

    def add(self, part: list[Any]) -> None:
        _hash_item(self.digest, part, self.parts)
        self.parts += 1


def fingerprint(plan: Plan) -> str:
    """Identity of a plan: its actions and payloads, and the account state it was computed from.

    The SHA-256 of ``json.dumps([parts, state])`` (``parts``: action, key and payload of every change, in
    the plan's order -- the roster's rows, then the removals; ``state``: every current user, sorted by key),
    hashed item by item as that text is made: one blob of a million payloads was ~2.4 KB a row at once
    (#30), and the digest is the same byte for byte, so an approved plan's fingerprint stays valid."""
    digest, n = plan.roster_hash.digest.copy(), plan.roster_hash.parts
    for item in plan.items:  # the roster's changes are in the roster's hash; the removals follow
        if item.action != "unchanged" and item.row.ref.synthetic:
            _hash_item(digest, [item.action, item.row.key.id, item.row.user], n)
            n += 1
    digest.update(b"], [")
    for i, k in enumerate(sorted(plan.current)):
        _hash_item(digest, [k, json.dumps(plan.current[k], sort_keys=True, default=str)], i)
    digest.update(b"]]")
    return digest.hexdigest()


def _hash_item(digest: Any, item: Any, n: int) -> None:
    """Feed ``digest`` the ``n``-th item of the text ``json.dumps(list, ...)`` makes of a list."""
    if n:
        digest.update(b", ")
    digest.update(json.dumps(item, sort_keys=True, default=str, ensure_ascii=False).encode("utf-8"))


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
