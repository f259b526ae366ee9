"""Four eyes on the page: the request pages, approving and rejecting, and the audit page.

What needs approval is decided by the one gate every front end shares (:mod:`bulkprov.approvals.gate`),
inside the run the Run button starts; the page only shows the request it made.  Another person with the
``approver`` role — as the account's policy and the profile say *now*, and for single sign-on as the
provider said within the last 15 minutes — approves or rejects it with a comment; the buttons are absent
for anyone else, and the server refuses their POST.  The audit page shows each record in the reader's
language (event, person, what, when); a damaged line is shown as such, never a server error.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiohttp import web

from bulkprov import i18n, units
from bulkprov.approvals import ApprovalStore, Request
from bulkprov.approvals.audit import AuditTrail
from bulkprov.approvals.flow import decide
from bulkprov.approvals.policy import records_dir
from bulkprov.errors import ApprovalRefused, BulkprovError
from bulkprov.web.config import WebConfig
from bulkprov.web.frame import address, message, page
from bulkprov.web.keys import CONFIG, SESSION
from bulkprov.web.lang import N_, _, text
from bulkprov.web.roles import allows, current_role
from bulkprov.web.security import Session
from bulkprov.web.uploads import find_upload
from bulkprov.web.wording import ACTION_NAMES, ROLE_NAMES, STATUSES, explain, label, labels

MAX_LISTED = 1000


def store(config: WebConfig) -> ApprovalStore:
    return ApprovalStore(records_dir(), config.approval_expiry_hours)


def ours(config: WebConfig, req: Request) -> bool:
    """A request of this page's account (the records folder holds every account's)."""
    account = config.job.account
    return account is None or (req.host == account.host and req.client_id in (account.client_id, ""))


STATES = {"pending": N_("pending"), "approved": N_("approved"), "rejected": N_("rejected"), "used": N_("used"),
          "expired": N_("expired")}
COUNTS = {"rows": N_("rows"), "valid": N_("valid"), "invalid": N_("invalid"), "remove": N_("to remove"),
          "builder": N_("Builder access"), "protected": N_("protected users"), "add": N_("to add"),
          "update": N_("to update"), "unchanged": N_("unchanged"), "emails": N_("activation emails")}


def reasons_shown(req: Request) -> list[str]:
    """A request's reasons in the reader's language (the guards' own messages, rendered now); as stored otherwise."""
    from bulkprov.approvals.gate import worded

    guards = req.summary.get("guards")
    if isinstance(guards, list) and guards:
        try:
            return [worded(str(variant), dict(params)) for variant, params in guards]
        except (KeyError, TypeError, ValueError, BulkprovError):
            pass
    return list(req.reasons)


async def request_page(request: web.Request) -> web.StreamResponse:
    config: WebConfig = request.app[CONFIG]
    session: Session = request[SESSION]
    try:
        req = store(config).get(request.match_info["request_id"])
    except ApprovalRefused:
        req = None
    if req is None or not ours(config, req):
        return message(request, _("Not found"), _("There is no such request."), status=404)
    summary = req.summary
    pending = req.state == "pending"
    role = session.role
    can_run = (req.state == "approved" and bool(req.upload_id) and allows(role, "operator")
               and find_upload(config, req.upload_id) is not None)
    return page(request, "request.html", text(N_("Request {id}"), id=req.id), req=req, csrf=session.csrf,
                what=_what(req),
                states=labels(STATES), count_labels=labels(COUNTS), reasons=reasons_shown(req),
                counts=list((summary.get("counts") or {}).items()), supersedes=summary.get("supersedes") or [],
                removals=[[u] for u in summary.get("removals") or []], changes=summary.get("changes") or [],
                removal_total=_count((summary.get("counts") or {}).get("remove"), len(summary.get("removals") or [])),
                builders=[[u] for u in summary.get("builders") or []],
                protected=[[u] for u in summary.get("protected") or []], limit=MAX_LISTED,
                can_decide=pending and allows(role, "approver") and session.user != req.requester,
                own=pending and session.user == req.requester, can_run=can_run,
                run_label=text(N_("Run the approved {action}"), action=label(ACTION_NAMES, req.command)))


def _count(stored: object, listed: int) -> int:
    """All the users of a kind (the request lists only the first ones), as stored; the listed ones otherwise."""
    return stored if isinstance(stored, int) and stored >= listed else listed


def _what(req: Request) -> str:
    return text(N_("{action} of {file}"), action=label(ACTION_NAMES, req.command), file=req.input_name)


async def decide_post(request: web.Request) -> web.StreamResponse:
    """Approve or reject, with the person's authority as it is now (the policy, the logins, fresh groups)."""
    config: WebConfig = request.app[CONFIG]
    session: Session = request[SESSION]
    form = await request.post()
    approve = request.match_info["decision"] == "approve"
    back = [(f"/requests/{request.match_info['request_id']}", _("Back to the request"))]
    try:
        role = await asyncio.to_thread(current_role, session, config, time.monotonic())
        found = store(config).get(request.match_info["request_id"])
        if not ours(config, found):
            raise ApprovalRefused("not-found", request_id=request.match_info["request_id"])
        req = await decide(store(config), found.id, session.user or "?", address(request), approve,
                           str(form.get("comment") or ""), allows(role, "approver"), config.webhook)
    except ApprovalRefused as exc:
        status = 404 if exc.variant == "not-found" else 409 if exc.variant in ("decided", "expired") else 403
        return message(request, _("Not decided"), explain(exc), status=status, links=back)
    except BulkprovError as exc:  # the policy cannot be read as it is now: nobody decides until it is fixed
        return message(request, _("Not decided"), explain(exc), status=409, links=back)
    raise web.HTTPSeeOther(f"/requests/{req.id}")


async def requests_page(request: web.Request) -> web.StreamResponse:
    config: WebConfig = request.app[CONFIG]
    rows = [{"id": r.id, "state": r.state, "requester": r.requester, "what": _what(r),
             "why": reasons_shown(r), "decided_by": r.decided_by} for r in store(config).all() if ours(config, r)]
    return page(request, "requests.html", _("Approvals"), requests=rows, states=labels(STATES))


# -- the audit page: each record in words ------------------------------------------------------------------------

EVENTS = {"login": N_("sign-in"), "upload": N_("upload"), "validation": N_("check"), "plan": N_("plan"),
          "request": N_("approval request"), "approval": N_("approval"), "rejection": N_("rejection"),
          "run": N_("run"), "download": N_("download"), "override": N_("guard overridden"),
          "policy": N_("policy"), "export": N_("export"), "prune": N_("retention"), "pruned": N_("pruned records"),
          "damaged": N_("damaged line")}
LOGIN_OUTCOMES = {"ok": N_("signed in as {role}"), "failed": N_("wrong user name, password or token"),
                  "refused": N_("sign-in refused: {reason}"), "no-role": N_("no group gives access to the page"),
                  "refreshed": N_("groups refreshed: now {role}"),
                  "refresh-failed": N_("silent sign-in refresh failed: now a viewer")}


def _counts(counts: Any) -> str:
    if not isinstance(counts, dict) or not counts:
        return _("no rows")
    statuses = labels(STATUSES)
    return ", ".join(f"{units.number(n)} {statuses.get(s, s)}" for s, n in sorted(counts.items()) if isinstance(n, int))


def describe_record(record: dict[str, Any]) -> str:
    """One audit record as a sentence in the reader's language; file names, names and comments as typed."""
    what = record.get("what") if isinstance(record.get("what"), dict) else {}
    event = record.get("event")
    action = label(ACTION_NAMES, str(what.get("command", "")))
    file = str(what.get("input", ""))
    if event == "damaged":
        return text(N_("line {line} cannot be read: it was damaged or cut short"), line=record.get("line"))
    if event == "login":
        said = LOGIN_OUTCOMES.get(str(what.get("outcome")))
        role = label(ROLE_NAMES, str(what.get("role", "")))
        out = text(said, role=role, reason=str(what.get("reason", ""))) if said else str(
            what.get("outcome", ""))
        times = what.get("count")
        return out + (text(N_(" ({count} times from this address)"), count=units.number(times))
                      if isinstance(times, int) and times > 1 else "")
    if event == "upload":
        return text(N_("{file}: {size} bytes"), file=file, size=units.number(what.get("size") or 0))
    if event == "validation":
        results = what.get("results") if isinstance(what.get("results"), dict) else {}
        add = results.get("add") if isinstance(results.get("add"), dict) else {}
        return text(N_("{file} checked: {rows} rows, {invalid} invalid"), file=file,
                    rows=units.number(add.get("rows", 0)), invalid=units.number(add.get("invalid", 0)))
    if event in ("request", "approval", "rejection"):
        out = text(N_("{action} of {file}, request {request}: {reasons}"), action=action, file=file,
                   request=what.get("request", ""), reasons="; ".join(map(str, what.get("reasons") or [])))
        return out + (text(N_(" — “{comment}”"), comment=what.get("comment")) if what.get("comment") else "")
    if event == "run":
        out = text(N_("{action} of {file}: {counts}; exit {code}"), action=action, file=file,
                   counts=_counts(what.get("counts")), code=what.get("exit_code", ""))
        if what.get("request"):
            out += text(N_(" — approved by {person} (request {request})"), person=what.get("approved_by", ""),
                        request=what["request"])
        return out
    if event == "override":
        return text(N_("{action} of {file}: guard {guard} passed for {count} users (allowed up to {allowed})"),
                    action=action, file=file, guard=what.get("guard", ""), count=what.get("count", ""),
                    allowed=what.get("allowed", ""))
    if event == "policy":
        return text(N_("the account's policy is now {digest} ({source})"), digest=what.get("digest", ""),
                    source=what.get("file") or _("from the profile"))
    if event == "download":
        return text(N_("{kind} of run {run}"), kind=what.get("kind", ""), run=what.get("run", ""))
    if event == "export":
        return text(N_("export of {kind}: {count} written"), kind=what.get("kind", ""),
                    count=units.number(what.get("users", what.get("records", 0)) or 0))
    if event in ("prune", "pruned"):
        return text(N_("{count} older records pruned; the chain goes on from their last hash"),
                    count=units.number(what.get("records", 0) or 0)) if event == "pruned" else _(
            "old uploads, results and ledger runs removed")
    return ""


async def audit_page(request: web.Request) -> web.StreamResponse:
    config: WebConfig = request.app[CONFIG]
    trail = AuditTrail.of(config.job.account) if config.job.account is not None else AuditTrail(config.state_dir)
    verdict = await asyncio.to_thread(trail.verify)
    records = await asyncio.to_thread(trail.latest, 300)
    events = labels(EVENTS)
    rows = [{"when": units.when(r.get("time", "")), "who": str(r.get("who") or ""), "where": str(r.get("where") or ""),
             "event": str(r.get("event")), "event_label": events.get(str(r.get("event")), str(r.get("event"))),
             "what": describe_record(r)} for r in records]
    return page(request, "audit.html", _("Audit trail"), count=verdict.count, problems=verdict.problems,
                head=f"{verdict.count}:{verdict.last_hash}", rows=rows, limit=MAX_LISTED,
                language=i18n.current())
