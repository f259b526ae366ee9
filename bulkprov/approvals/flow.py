"""Who asks and who may decide, and what every request and decision leaves behind.

* On the page the person is the signed-in user; on the command line the person the system says is
  running bulkprov (:func:`bulkprov.approvals.identity.cli_person`: the login uid, a real sudo's caller,
  else the real uid).
* Who may approve on the command line is the account's ``approvers`` (names, or ``group:NAME`` for the
  members of an operating-system group), checked against the *current* policy at each decision.
* Each request and decision goes to the account's audit trail and to the webhook (``event`` =
  ``approval-request`` or ``approval-decision``, with the trail's head).
"""

from __future__ import annotations

import logging
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bulkprov.approvals.audit import AuditTrail
from bulkprov.approvals.options import GateOptions
from bulkprov.approvals.store import DEFAULT_EXPIRY_HOURS, ApprovalStore, Request
from bulkprov.i18n import gettext as _

log = logging.getLogger("bulkprov.approvals")


@dataclass(frozen=True)
class Approvals:
    """Who runs (``person``, from ``where``) and the approvers the front end read (from a profile acting as
    the policy; a policy file always wins).  ``page``: the page, where a guard always becomes a request."""

    person: str
    where: str
    source: str = "cli"
    approvers: list[str] = field(default_factory=list)
    expiry_hours: float = DEFAULT_EXPIRY_HOURS
    webhook: str | None = None
    page: bool = False


def run_actor(settings: GateOptions) -> Approvals:
    """Who runs: the front end's word, or (the library called directly) the person the system names."""
    given = settings.approvals
    if given is not None:
        return given
    from bulkprov.approvals.identity import cli_person

    return Approvals(person=cli_person().name, where=f"cli@{socket.gethostname()}", source="library",
                     webhook=settings.webhook)


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


def audit(account: Any, event: str, who: str, where: str, **what: Any) -> dict[str, Any]:
    """One record in the account's trail (a path or folder for a trail elsewhere, as tests and old trails have)."""
    trail = AuditTrail(account) if isinstance(account, str | Path) else AuditTrail.of(account)
    try:
        return trail.append(event, who, where, **what)
    except OSError as exc:  # the audit trail must never be silently skipped: say so loudly
        log.error(_("audit trail %s could not be written: %s"), trail.path, exc)
        raise


def head_of(account: Any) -> dict[str, Any]:
    """The trail's head (records, last hash) for a webhook body; {} when it has none."""
    if account is None:
        return {}
    head = AuditTrail.of(account).head()
    return {"records": head["records"], "hash": head["hash"]} if "records" in head else {}


def describe(request: Request) -> dict[str, Any]:
    """The webhook body (and the audit details) of a request: no user lists, just the facts."""
    return {"request": request.id, "state": request.state, "requester": request.requester,
            "command": request.command, "input": request.input_name, "input_sha256": request.input_sha256,
            "host": request.host, "client_id": request.client_id, "fingerprint": request.fingerprint,
            "reasons": request.reasons, "counts": request.summary.get("counts", {}), "expires": request.expires,
            "decided_by": request.decided_by, "comment": request.comment}


async def announce(webhook: str | None, event: str, request: Request, account: Any = None) -> None:
    if webhook:
        from bulkprov.outputs.webhook import notify_event

        await notify_event(webhook, {"event": event, **describe(request), "audit_head": head_of(account)})


def account_of_request(request: Request) -> Any:
    from bulkprov.approvals.policy import Account

    return Account(request.host, request.client_id) if request.client_id else None


async def open_request(store: ApprovalStore, approvals: Approvals, account: Any, **fields: Any) -> Request:
    """A pending request (or the one already pending for the same plan), audited and announced."""
    request, new = store.open(requester=approvals.person, where=approvals.where, source=approvals.source, **fields)
    if new:
        if account is not None:
            audit(account, "request", approvals.person, approvals.where, **describe(request))
        await announce(approvals.webhook, "approval-request", request, account)
        # the front end says it (the CLI's ABORTED line, the page's message): logged for the server only
        log.debug(_("request %s waits for approval: %s"), request.id, "; ".join(request.reasons))
    return request


async def decide(store: ApprovalStore, request_id: str, person: str, where: str, approve: bool, comment: str,
                 may: bool, webhook: str | None = None) -> Request:
    request = store.decide(request_id, person, approve, comment, may)
    account = account_of_request(request)
    if account is not None:
        audit(account, "approval" if approve else "rejection", person, where, **describe(request))
    await announce(webhook, "approval-decision", request, account)
    return request
