"""The one gate every sending command goes through, on every front end: add, update, remove, apply and sync,
from the command line, the page and unattended runs.

Before anything is sent the whole file is judged against the account's policy
(:func:`effective_policy`): removals against ``max_deletes``, role removals against the same limit,
Builder grants against ``builder_confirm`` (0: every grant), and every change or removal of a protected
user — recognised by email **or** orgUserId, the other key looked up in the account first
(:func:`resolve_keys`).  sync judges its plan the same way (its removal limit also counts the
previously applied roster).  Then :func:`judge` decides, one rule for all:

* nothing crossed: the run goes on;
* the policy names approvers (the page always has them: its approver role): a different person's
  approval of exactly this plan lets it go on once; otherwise a pending request (exit 4).  Overrides
  are refused for everyone (an approver never passes their own change);
* no approvers: each crossed guard stops the run (exit 3, code ``guard``; the command line names the
  override that passes it), unless the run's override covers it — and every override used is an
  audit record.  A plan someone rejected is never run by an override.

An approval is for one plan on one account: :func:`approval_fingerprint` covers the decoded rows to be
sent (or sync's plan and the account state it was computed from), the command, the email choice, the
encoding and the account's host and client id.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from bulkprov import i18n
from bulkprov.approvals.flow import Approvals, audit, open_request, run_actor
from bulkprov.approvals.options import GateOptions
from bulkprov.approvals.policy import Policy, is_protected, policy_for
from bulkprov.approvals.store import ApprovalStore, Request
from bulkprov.errors import GuardStopped, PendingApproval, PolicyProblem, RunStopped
from bulkprov.i18n import gettext as _
from bulkprov.model import Action, CheckedRow

log = logging.getLogger("bulkprov.approvals")

OVERRIDES = {"deletes": "allow_deletes", "deletes-count": "allow_deletes", "roles": "allow_role_removals",
             "builder": "allow_builder", "protected": "allow_protected"}
LISTED = 10_000  # users a request lists per kind (the counts are complete)


# -- the policy a run is judged by -----------------------------------------------------------------------------


def effective_policy(settings: GateOptions) -> Policy:
    """The account's policy file tightened by the run's own settings; without one, the run's settings (from
    its profile, or the library's caller) are the policy.  Read at every run: the current policy."""
    approvals: Approvals | None = getattr(settings, "approvals", None)
    limits = {k: getattr(settings, k) for k in ("max_deletes", "max_delete_percent", "builder_confirm")}
    if settings.account is not None:
        base = policy_for(settings.account, {})
        if base.file:
            policy = base.tightened(protected=settings.protected, **limits)
            if approvals is not None and approvals.approvers:  # a profile may name fewer, never others
                allowed = {a.casefold() for a in base.approvers}
                policy.approvers = [a for a in approvals.approvers if a.casefold() in allowed]
            if approvals is not None:
                policy.approval_expiry_hours = min(policy.approval_expiry_hours, approvals.expiry_hours)
            return policy
    return Policy(approvers=list(approvals.approvers) if approvals is not None else [],
                  protected=list(settings.protected), **limits,
                  approval_expiry_hours=approvals.expiry_hours if approvals is not None else 24.0)


# What of a row's user object the guards read (a check that keeps no more of each row still judges them).
GUARD_FIELDS = ("canCreateBot", "isDeveloper", "roles")


def _touches(row: CheckedRow) -> bool:
    return row.action in (Action.UPDATE, Action.REMOVE)


def _grants_builder(row: CheckedRow) -> bool:
    user = row.user or {}
    return row.action in (Action.ADD, Action.UPDATE) and bool(user.get("canCreateBot") or user.get("isDeveloper"))


def _removes_roles(row: CheckedRow) -> bool:
    roles = (row.user or {}).get("roles")
    return row.action == Action.UPDATE and isinstance(roles, dict) and bool(roles.get("removeFrom"))


class GateScan:
    """One pass over a file's valid rows for everything the gate judges and a request shows: the users to be
    removed, given Builder access, losing roles, and the protected users touched (a row naming its user by
    only one key, when the policy protects by the other, is looked up first: :attr:`lookups`), the counts and
    the first changes.  A million rows are read once (they wait on disk: see :mod:`bulkprov.state.spool`)."""

    def __init__(self, policy: Policy, send_email: bool = True) -> None:
        self.policy, self.send_email = policy, send_email
        self.by_email = any("@" in p for p in policy.protected)
        self.by_org = any("@" not in p for p in policy.protected)
        self.who: dict[str, list[str]] = {"removals": [], "builders": [], "roles": [], "protected": []}
        self.lookups: list[CheckedRow] = []  # touched rows whose other key the account must say
        self._protected: list[tuple[int, str]] = []
        self._open: dict[int, tuple[str, str, str]] = {}  # looked-up rows: (email, orgUserId, name)
        self.count = 0
        self.emails = 0
        self.changes: list[list[str]] = []

    def add(self, row: CheckedRow) -> None:
        self.count += 1
        name = row.email or row.org_user_id
        if row.action == Action.REMOVE:
            self.who["removals"].append(name)
        if _grants_builder(row):
            self.who["builders"].append(name)
        if _removes_roles(row):
            self.who["roles"].append(name)
        if _touches(row):
            if (self.by_email and not row.email) or (self.by_org and not row.org_user_id):
                self.lookups.append(CheckedRow.make(row.row, Action.LOOKUP, row.email, row.org_user_id))
                self._open[row.row] = (row.email, row.org_user_id, name)
            elif is_protected(row.email, row.org_user_id, self.policy.protected):
                self._protected.append((row.row, name))
        if row.action == Action.ADD and (self.send_email if row.send_email is None else row.send_email):
            self.emails += 1
        if row.action == Action.UPDATE and len(self.changes) < LISTED:
            self.changes.extend(_changes(row))

    def guards(self, keys: dict[int, tuple[str, str]] | None = None) -> tuple[list[GuardStopped], dict[str, list[str]]]:
        """What crosses the policy, and who; ``keys``: the looked-up rows' (email, orgUserId) from the account."""
        keys = keys or {}
        protected = list(self._protected)
        for row, (email, org, name) in self._open.items():
            other_email, other_org = keys.get(row, ("", ""))
            if is_protected(email or other_email, org or other_org, self.policy.protected):
                protected.append((row, name))
        who = dict(self.who, protected=[name for _row, name in sorted(protected)])
        policy, guards = self.policy, []
        if len(who["removals"]) > policy.max_deletes:
            guards.append(GuardStopped("deletes-count", count=len(who["removals"]), limit=policy.max_deletes))
        if len(who["roles"]) > policy.max_deletes:
            guards.append(GuardStopped("roles", count=len(who["roles"]), limit=policy.max_deletes))
        if len(who["builders"]) > policy.builder_confirm:
            guards.append(GuardStopped("builder", count=len(who["builders"]), limit=policy.builder_confirm))
        if who["protected"]:
            guards.append(GuardStopped("protected", count=len(who["protected"]), first=who["protected"][0]))
        return guards, who

    def summary(self, invalid: int, who: dict[str, list[str]]) -> dict[str, Any]:
        """What a request shows its approver for a file run: counts (the activation emails the run would send
        among them), the users of each kind, the changes."""
        counts = {"rows": self.count + invalid, "valid": self.count, "invalid": invalid,
                  "remove": len(who["removals"]), "builder": len(who["builders"]), "protected": len(who["protected"]),
                  "emails": self.emails}
        return {"counts": counts, "removals": who["removals"][:LISTED], "builders": who["builders"][:LISTED],
                "protected": who["protected"][:LISTED], "changes": self.changes[:LISTED]}


def _changes(row: CheckedRow) -> list[list[str]]:
    """An update's changes as a request lists them: (user, field, before, after)."""
    user = row.user or {}
    out = [[row.email or row.org_user_id, name, "", str(value)]
           for name, value in (user.get("userInfo") or {}).items() if name not in ("emailId", "orgUserId")]
    for name in ("groups", "roles", "assignBotTasks", "canCreateBot", "isDeveloper"):
        if name in user:
            out.append([row.email or row.org_user_id, name, "", json.dumps(user[name], ensure_ascii=False)])
    return out


def scan_rows(rows: Iterable[CheckedRow], policy: Policy, send_email: bool = True) -> GateScan:
    scan = GateScan(policy, send_email)
    for row in rows:
        scan.add(row)
    return scan


async def resolve_keys(lookups: list[CheckedRow], settings: GateOptions, credentials: Any) -> dict[int, tuple[str, str]]:
    """(email, orgUserId) from the account for the rows that change or remove a user and lack the key a
    protected entry is written in; a row the account does not hold is left out (nothing to protect)."""
    from bulkprov.send.dispatcher import dispatch_rows

    if not lookups or credentials is None:
        return {}
    quiet = dataclasses.replace(settings, command="lookup")
    report = await dispatch_rows(lookups, quiet, credentials, announce=False)
    if report.aborted:
        raise GuardStopped("account-unreadable", reason=report.aborted)
    out: dict[int, tuple[str, str]] = {}
    for row, user in report.users.items():
        info = (user or {}).get("userInfo") or {}
        out[row] = (str(info.get("emailId") or ""), str(info.get("orgUserId") or ""))
    return out


def row_guards(rows: Iterable[CheckedRow], policy: Policy, keys: dict[int, tuple[str, str]] | None = None
               ) -> tuple[list[GuardStopped], dict[str, list[str]]]:
    """What in a file's valid rows crosses the policy (add, update, remove, apply), and who: the users to
    be removed, given Builder access, losing roles, and the protected users touched."""
    return scan_rows(rows, policy).guards(keys)


# -- one plan on one account ---------------------------------------------------------------------------------------


def rows_digest(rows: Iterable[Any]) -> str:
    """The decoded rows to be sent, exactly: action, key, the user object, the row's own email choice."""
    digest = hashlib.sha256()
    for row in rows:
        blob = json.dumps([row.row, row.action, row.email, row.org_user_id, row.user, row.send_email],
                          sort_keys=True, ensure_ascii=False, default=str)
        digest.update(blob.encode("utf-8") + b"\n")
    return digest.hexdigest()


def approval_fingerprint(settings: GateOptions, plan_digest: str) -> str:
    """What an approval is for: the plan, the command, the email choice, the encoding and the account."""
    account = settings.account
    blob = json.dumps(["v2", settings.command, plan_digest, bool(settings.send_email), settings.encoding or "",
                       account.host if account else settings.host or "", account.client_id if account else ""])
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


# -- the decision ------------------------------------------------------------------------------------------------------


def overrides_of(settings: GateOptions) -> dict[str, int]:
    """The run's overrides that are set: ``{"allow_deletes": 12, …}``."""
    return {name: getattr(settings, name) for name in sorted(set(OVERRIDES.values()))
            if getattr(settings, name, None) is not None}


def guards_ahead(rows: list[CheckedRow], settings: GateOptions) -> list[str]:
    """Why a run of ``rows`` would need a second person, in the reader's words, judged before anything is
    sent and without the network (a row naming a protected user only by the other key is found by the run
    itself, which asks the account): what a check tells the person who is about to press Run."""
    policy = effective_policy(settings)
    guards, _who = row_guards(rows, policy)
    return [g.message for g in guards]


def worded(variant: str, params: dict[str, Any]) -> str:
    """A guard's message again, in the reader's language (a request keeps the guard's variant and numbers)."""
    from bulkprov.errors import render

    return render(GuardStopped.template_for(variant), params)


def reasons_in_words(request: Any) -> list[str]:
    """A request's reasons in the reader's language (its guards' own messages, rendered now), for every front
    end; the reasons as stored (English) when the request kept no guards."""
    from bulkprov.errors import BulkprovError

    guards = request.summary.get("guards") if isinstance(request.summary, dict) else None
    if isinstance(guards, list) and guards:
        try:
            return [worded(str(variant), dict(params)) for variant, params in guards]
        except (KeyError, TypeError, ValueError, BulkprovError):
            pass
    return list(request.reasons)


def english(guards: list[GuardStopped]) -> list[str]:
    """The guards' messages in English, as a request stores them (the CLI, the trail and webhooks read them)."""
    with i18n.using("en"):
        return [worded(g.variant, g.params) for g in guards]


@dataclass(frozen=True)
class Verdict:
    """The gate's answer: why the run stops (nothing: it goes on), and the approved request it consumed."""

    stops: list[RunStopped]
    approved: Request | None = None


async def judge(guards: list[GuardStopped], settings: GateOptions, policy: Policy, fingerprint: str, *,
                input_name: str, input_sha256: str, summary: dict[str, Any], confirm: Any = None,
                upload_id: str = "", resuming: bool = False) -> Verdict:
    """The one decision (see the module docstring): nothing to stop the run, else why it stops."""
    actor = run_actor(settings)
    account = settings.account
    asks = actor.page or bool(policy.approvers)
    overrides = overrides_of(settings)
    if asks and overrides:
        raise PolicyProblem("overrides", account=str(account or settings.host))
    if not guards:
        return Verdict([])
    from bulkprov.approvals.policy import records_dir

    store = ApprovalStore(records_dir(), policy.approval_expiry_hours)
    if asks:
        taken = store.take_approved(fingerprint, used_by=actor.person)
        if taken is None and resuming:  # the interrupted run an approval let through, finished: still one run
            taken = next((r for r in store.all() if r.state == "used" and r.fingerprint == fingerprint), None)
        if taken is not None:
            log.info(_("request %s approved by %s: the run goes on"), taken.id, taken.decided_by)
            return Verdict([], taken)
        reasons = english(guards)
        if upload_id:  # the page: an approval of this upload that no longer holds (the file changed since)
            summary = {**summary, "supersedes": [r.id for r in store.all() if r.upload_id == upload_id
                                                 and r.state == "approved" and r.fingerprint != fingerprint]}
        request = await open_request(store, actor, account, command=settings.command, input_name=input_name,
                                     input_sha256=input_sha256, host=account.host if account else settings.host or "",
                                     client_id=account.client_id if account else "", fingerprint=fingerprint,
                                     reasons=reasons, encoding=settings.encoding or "",
                                     email="yes" if settings.send_email else "no", upload_id=upload_id,
                                     approvers=list(policy.approvers),
                                     summary={**summary, "guards": [[g.variant, g.params] for g in guards]})
        return Verdict([PendingApproval(reason="; ".join(g.message for g in guards), request_id=request.id)])
    rejected = store.rejected_for(fingerprint)
    if rejected is not None:
        return Verdict([GuardStopped("rejected", request_id=rejected.id, person=rejected.decided_by)])
    left: list[RunStopped] = []
    for guard in guards:
        name = OVERRIDES.get(guard.variant)
        count = guard.params.get("count", 0)
        allowed = getattr(settings, name, None) if name else None
        if allowed is None and guard.variant == "builder" and confirm is not None and confirm("builder", count):
            allowed = count  # a yes at the terminal, where the policy names no approvers: an override too
        if allowed is not None and allowed >= count:
            if account is not None:
                audit(account, "override", actor.person, actor.where, command=settings.command, input=input_name,
                      input_sha256=input_sha256, guard=guard.variant, count=count, allowed=allowed,
                      fingerprint=fingerprint)
            continue
        left.append(guard)
    return Verdict(left)


async def gate_rows(rows: Iterable[Any], invalid: int, settings: GateOptions, credentials: Any, *,
                    input_name: str, input_sha256: str, confirm: Any = None, resuming: bool = False,
                    scan: GateScan | None = None) -> Verdict:
    """add, update, remove, apply: judge the whole file's valid rows (read once, or ``scan``-ned already as
    they were checked; read again for the approval's fingerprint when a guard is crossed), then :func:`judge`.
    ``rows``: checked rows, or what the gate reads of them (:class:`~bulkprov.state.spool.RowFields`: row,
    action, email, orgUserId, user, sendEmail)."""
    policy = scan.policy if scan is not None else effective_policy(settings)
    scan = scan if scan is not None else scan_rows(rows, policy, bool(settings.send_email))
    guards, who = scan.guards(await resolve_keys(scan.lookups, settings, credentials))
    if not guards:  # the fingerprint and the summary are for a request or an override: none is needed
        return await judge([], settings, policy, "", input_name=input_name, input_sha256=input_sha256, summary={})
    fingerprint = approval_fingerprint(settings, rows_digest(rows))
    return await judge(guards, settings, policy, fingerprint, input_name=input_name, input_sha256=input_sha256,
                       summary=scan.summary(invalid, who), confirm=confirm,
                       upload_id=getattr(settings, "upload_id", "") or "", resuming=resuming)
