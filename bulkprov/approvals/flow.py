"""Who asks and who may decide, the sync's approval gate, and what every request and decision leaves behind.

* On the page the person is the signed-in user; on the command line it is the operating-system user
  running bulkprov (:func:`cli_person`: the real user id's name, or the person who ran ``sudo``).
* Who may approve on the command line is the profile's ``approvers`` list: names, or ``group:NAME``
  for the members of an operating-system group.
* :func:`gate` turns the guards a plan trips into a pending request, or lets the run go on when a
  different person has approved exactly this plan (same fingerprint) and the approval has not expired
  or been used.
* Each request and decision goes to the audit trail and to the webhook (``event`` = ``approval-request``
  or ``approval-decision``).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bulkprov.approvals.store import DEFAULT_EXPIRY_HOURS, ApprovalStore, Request
from bulkprov.errors import GuardStopped, PendingApproval, RunStopped
from bulkprov.i18n import gettext as _
from bulkprov.jobs.audit import AuditTrail

log = logging.getLogger("bulkprov.approvals")

GUARDS_NEEDING_APPROVAL = ("deletes", "roles", "builder")


@dataclass
class Approvals:
    """What a front end tells the library about approvals (None on JobSettings: the guards simply stop)."""

    person: str
    where: str
    source: str = "cli"
    approvers: list[str] = field(default_factory=list)
    expiry_hours: float = DEFAULT_EXPIRY_HOURS
    webhook: str | None = None


def cli_person() -> str:
    """The operating-system user on the command line: whoever ran ``sudo`` when bulkprov runs under sudo
    (as a shared service account), else the name of the real user id."""
    import pwd

    sudo_user, sudo_uid = os.environ.get("SUDO_USER"), os.environ.get("SUDO_UID")
    if sudo_user and sudo_uid and sudo_uid.isdigit() and int(sudo_uid) != os.getuid():
        return sudo_user
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return f"uid {os.getuid()}"


def may_approve(person: str, approvers: list[str]) -> bool:
    """``person`` is listed by name, or is in a listed ``group:NAME``."""
    import grp
    import pwd

    for entry in approvers:
        if entry.startswith("group:"):
            try:
                group = grp.getgrnam(entry[6:])
                primary = pwd.getpwnam(person).pw_gid
            except KeyError:
                continue
            if person in group.gr_mem or primary == group.gr_gid:
                return True
        elif entry.casefold() == person.casefold():
            return True
    return False


def audit(state_dir: Path, event: str, who: str, where: str, **what: Any) -> None:
    try:
        AuditTrail(state_dir).append(event, who, where, **what)
    except OSError as exc:  # the audit trail must never be silently skipped: say so loudly
        log.error(_("audit trail %s could not be written: %s"), state_dir, exc)
        raise


def describe(request: Request) -> dict[str, Any]:
    """The webhook body (and the audit details) of a request: no user lists, just the facts."""
    return {"request": request.id, "state": request.state, "requester": request.requester,
            "command": request.command, "input": request.input_name, "input_sha256": request.input_sha256,
            "host": request.host, "fingerprint": request.fingerprint, "reasons": request.reasons,
            "counts": request.summary.get("counts", {}), "expires": request.expires,
            "decided_by": request.decided_by, "comment": request.comment}


async def announce(webhook: str | None, event: str, request: Request) -> None:
    if webhook:
        from bulkprov.jobs.webhook import notify_event

        await notify_event(webhook, {"event": event, **describe(request)})


async def open_request(state_dir: Path, approvals: Approvals, **fields: Any) -> Request:
    """A pending request (or the one already pending for the same plan), audited and announced."""
    request, new = ApprovalStore(state_dir, approvals.expiry_hours).open(
        requester=approvals.person, where=approvals.where, source=approvals.source, **fields)
    if new:
        audit(state_dir, "request", approvals.person, approvals.where, **describe(request))
        await announce(approvals.webhook, "approval-request", request)
        # the front end says it (the CLI's ABORTED line, the page's message): logged for the server only
        log.debug(_("request %s waits for approval: %s"), request.id, "; ".join(request.reasons))
    return request


async def decide(state_dir: Path, request_id: str, person: str, where: str, approve: bool, comment: str,
                 may: bool, webhook: str | None = None) -> Request:
    request = ApprovalStore(state_dir).decide(request_id, person, approve, comment, may)
    audit(state_dir, "approval" if approve else "rejection", person, where, **describe(request))
    await announce(webhook, "approval-decision", request)
    return request


async def gate(refusals: list[RunStopped], plan: Any, settings: Any, state_dir: Path, path: Path,
               input_sha256: str) -> list[RunStopped]:
    """The sync's guards as four-eyes approval: a pending request, or go on under an approval."""
    approvals: Approvals | None = getattr(settings, "approvals", None)
    needing = [r for r in refusals if isinstance(r, GuardStopped) and r.variant in GUARDS_NEEDING_APPROVAL]
    if approvals is None or not needing or len(needing) != len(refusals):
        return refusals
    audit(state_dir, "plan", approvals.person, approvals.where, command="sync", input=path.name,
          input_sha256=input_sha256, fingerprint=plan.fingerprint,
          counts={a: len(plan.of(a)) for a in ("add", "update", "remove")})
    taken = ApprovalStore(state_dir).take_approved(plan.fingerprint, used_by=approvals.person)  # who ran the sync (data, not prose)
    if taken is not None:
        log.info(_("request %s approved by %s: the sync goes on"), taken.id, taken.decided_by)
        audit(state_dir, "run", approvals.person, approvals.where, command="sync", request=taken.id,
              approved_by=taken.decided_by, fingerprint=plan.fingerprint)
        return []
    summary = {"counts": {a: len(plan.of(a)) for a in ("add", "update", "remove", "unchanged")},
               "removals": [i.row.email or i.row.org_user_id for i in plan.of("remove")],
               "changes": [[i.row.email or i.row.org_user_id, c.field, c.old, c.new]
                           for i in plan.of("update") for c in i.changes][:10_000]}
    request = await open_request(state_dir, approvals, command="sync", input_name=path.name,
                                 input_sha256=input_sha256, host=settings.host or "", fingerprint=plan.fingerprint,
                                 reasons=[r.message for r in needing], summary=summary)
    return [PendingApproval(reason="; ".join(r.message for r in needing), request_id=request.id)]
