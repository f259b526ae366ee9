"""Four eyes on the page: what needs approval, the request page, approving and rejecting, the audit page.

A Run on the check page that would remove more users than the deletion guard (``max_deletes``), grant
Builder access, or change or remove protected users does not start: it becomes a pending request
(:mod:`bulkprov.approvals`) and the operator is shown its page.  Another person with the ``approver``
role approves or rejects it with a comment — the buttons are absent for anyone else, and the server
refuses their POST.  Once approved, a Run of exactly that file with that action goes ahead (once); a
changed file has another fingerprint and needs a new approval.
"""

from __future__ import annotations

import asyncio
import hashlib
import json

from aiohttp import web

from bulkprov.approvals import ApprovalStore, Request
from bulkprov.approvals.flow import Approvals, decide, open_request
from bulkprov.errors import ApprovalRefused
from bulkprov.jobs.audit import AuditTrail
from bulkprov.jobs.settings import file_sha256
from bulkprov.web import lang
from bulkprov.web.common import (
    ACTION_NAMES,
    APPROVED,
    CONFIG,
    SESSION,
    address,
    explain,
    label,
    labels,
    message,
    page,
)
from bulkprov.web.config import WebConfig
from bulkprov.web.lang import N_, _, text
from bulkprov.web.preview import Preview
from bulkprov.web.roles import allows
from bulkprov.web.security import Session
from bulkprov.web.uploads import Upload, find_upload

MAX_LISTED = 1000


WHY = {"remove": N_("{count} users would be removed, over the limit of {limit}"),
       "builder": N_("{count} users would get Builder access (canCreateBot/isDeveloper)"),
       "protected": N_("{count} protected users would be changed or removed")}


def why(preview: Preview, config: WebConfig) -> list[tuple[str, dict[str, int]]]:
    """Why a run of this preview needs a second person, as (key of :data:`WHY`, numbers); empty: it may run."""
    out = []
    needs = preview.needs
    if needs["removals"] > config.job.max_deletes:
        out.append(("remove", {"count": needs["removals"], "limit": config.job.max_deletes}))
    if needs["builders"]:
        out.append(("builder", {"count": needs["builders"]}))
    if needs["protected"]:
        out.append(("protected", {"count": needs["protected"]}))
    return out


def worded(key: str, numbers: dict[str, int], language: str | None = None) -> str:
    """One reason in ``language`` (English for the stored request, the CLI and the audit trail) or the reader's."""
    if language == "en":
        return WHY[key].format_map({k: lang.number(v, "en") for k, v in numbers.items()})
    return text(WHY[key], **{k: lang.number(v) for k, v in numbers.items()})


def reasons_for(preview: Preview, config: WebConfig) -> list[str]:
    """Why a run of this preview needs a second person, in English as the request stores it (empty: it may run)."""
    return [worded(key, numbers, "en") for key, numbers in why(preview, config)]


def fingerprint(action: str, email: str, sha256: str, host: str) -> str:
    """The page's plan identity: the exact file, what to do with it, and the account."""
    blob = json.dumps(["page", action, email, sha256, host.rstrip("/").lower()])
    return hashlib.sha256(blob.encode()).hexdigest()


async def gate(request: web.Request, upload: Upload, action: str, email: str, preview: Preview) -> str | None:
    """None when the run may start now; else the URL of the request page to show instead."""
    config: WebConfig = request.app[CONFIG]
    reasons = reasons_for(preview, config)
    if not reasons:
        return None
    session: Session = request[SESSION]
    sha = await asyncio.to_thread(file_sha256, upload.path)  # now, not at upload: a changed file is a new plan
    fp = fingerprint(action, email, sha, config.job.host or "")
    store = ApprovalStore(config.state_dir, config.approval_expiry_hours)
    taken = await asyncio.to_thread(store.take_approved, fp, f"page run by {session.user}")
    if taken is not None:
        request[APPROVED] = taken
        return None
    stale = [r.id for r in store.all() if r.upload_id == upload.id and r.state == "approved"]
    summary = {"counts": {"rows": preview.rows, "valid": preview.valid, "invalid": preview.invalid,
                          "remove": preview.needs["removals"], "builder": preview.needs["builders"],
                          "protected": preview.needs["protected"]},
               "removals": preview.removals[:10_000], "builders": preview.builders[:10_000],
               "protected": preview.protected[:10_000], "changes": [list(c) for c in preview.updates[:10_000]],
               "supersedes": stale, "why": why(preview, config)}
    approvals = Approvals(person=session.user or "?", where=address(request), source="page",
                          expiry_hours=config.approval_expiry_hours, webhook=config.webhook)
    made = await open_request(config.state_dir, approvals, command=action, input_name=upload.name,
                              input_sha256=sha, host=config.job.host or "", fingerprint=fp, reasons=reasons,
                              summary=summary, upload_id=upload.id, email=email)
    return f"/requests/{made.id}"


STATES = {"pending": N_("pending"), "approved": N_("approved"), "rejected": N_("rejected"), "used": N_("used"),
          "expired": N_("expired")}
COUNTS = {"rows": N_("rows"), "valid": N_("valid"), "invalid": N_("invalid"), "remove": N_("to remove"),
          "builder": N_("Builder access"), "protected": N_("protected users")}


def reasons_shown(req: Request) -> list[str]:
    """A request's reasons in the reader's language when the page made it; as stored otherwise."""
    made_here = req.summary.get("why")
    if isinstance(made_here, list) and all(isinstance(w, list | tuple) and len(w) == 2 and w[0] in WHY for w in made_here):
        return [worded(key, numbers) for key, numbers in made_here]
    return list(req.reasons)


async def request_page(request: web.Request) -> web.StreamResponse:
    config: WebConfig = request.app[CONFIG]
    session: Session = request[SESSION]
    try:
        req = ApprovalStore(config.state_dir).get(request.match_info["request_id"])
    except ApprovalRefused:
        return message(request, _("Not found"), _("There is no such request."), status=404)
    summary = req.summary
    pending = req.state == "pending"
    can_run = (req.state == "approved" and bool(req.upload_id) and allows(session.role, "operator")
               and find_upload(config, req.upload_id) is not None)
    return page(request, "request.html", text(N_("Request {id}"), id=req.id), req=req, csrf=session.csrf,
                what=_what(req),
                states=labels(STATES), count_labels=labels(COUNTS), reasons=reasons_shown(req),
                counts=list((summary.get("counts") or {}).items()), supersedes=summary.get("supersedes") or [],
                removals=[[u] for u in summary.get("removals") or []], changes=summary.get("changes") or [],
                removal_total=_count((summary.get("counts") or {}).get("remove"), len(summary.get("removals") or [])),
                builders=[[u] for u in summary.get("builders") or []],
                protected=[[u] for u in summary.get("protected") or []], limit=MAX_LISTED,
                can_decide=pending and allows(session.role, "approver") and session.user != req.requester,
                own=pending and session.user == req.requester, can_run=can_run,
                run_label=text(N_("Run the approved {action}"), action=label(ACTION_NAMES, req.command)))


def _count(stored: object, listed: int) -> int:
    """All the users of a kind (the request lists only the first ones), as stored; the listed ones otherwise."""
    return stored if isinstance(stored, int) and stored >= listed else listed


def _what(req: Request) -> str:
    return text(N_("{action} of {file}"), action=label(ACTION_NAMES, req.command), file=req.input_name)


async def decide_post(request: web.Request) -> web.StreamResponse:
    config: WebConfig = request.app[CONFIG]
    session: Session = request[SESSION]
    form = await request.post()
    approve = request.match_info["decision"] == "approve"
    try:
        req = await decide(config.state_dir, request.match_info["request_id"], session.user or "?", address(request),
                           approve, str(form.get("comment") or ""), allows(session.role, "approver"), config.webhook)
    except ApprovalRefused as exc:
        status = 404 if exc.variant == "not-found" else 409 if exc.variant in ("decided", "expired") else 403
        return message(request, _("Not decided"), explain(exc), status=status,
                       links=[(f"/requests/{request.match_info['request_id']}", _("Back to the request"))])
    raise web.HTTPSeeOther(f"/requests/{req.id}")


async def requests_page(request: web.Request) -> web.StreamResponse:
    config: WebConfig = request.app[CONFIG]
    rows = [{"id": r.id, "state": r.state, "requester": r.requester, "what": _what(r),
             "why": reasons_shown(r), "decided_by": r.decided_by} for r in ApprovalStore(config.state_dir).all()]
    return page(request, "requests.html", _("Approvals"), requests=rows, states=labels(STATES))


async def audit_page(request: web.Request) -> web.StreamResponse:
    config: WebConfig = request.app[CONFIG]
    trail = AuditTrail(config.state_dir)
    count, broken = await asyncio.to_thread(trail.verify)
    records = await asyncio.to_thread(trail.latest, 300)
    rows = [[lang.when(r.get("time", "")), r.get("who"), r.get("where"), r.get("event"),
             json.dumps(r.get("what"), ensure_ascii=False, sort_keys=True)[:300]] for r in records]
    return page(request, "audit.html", _("Audit trail"), count=count, broken=broken, rows=rows, limit=MAX_LISTED)
