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
from typing import Any

from aiohttp import web

from bulkprov.approvals import ApprovalStore, Request
from bulkprov.approvals.flow import Approvals, decide, open_request
from bulkprov.errors import ApprovalRefused
from bulkprov.jobs.audit import AuditTrail
from bulkprov.jobs.settings import file_sha256
from bulkprov.web.common import APPROVED, CONFIG, SESSION, address, explain, message, page
from bulkprov.web.config import WebConfig
from bulkprov.web.html import Markup, join, render, tag
from bulkprov.web.preview import Preview
from bulkprov.web.roles import allows
from bulkprov.web.security import Session
from bulkprov.web.uploads import Upload, find_upload

MAX_LISTED = 1000


def reasons_for(preview: Preview, config: WebConfig) -> list[str]:
    """Why a run of this preview needs a second person (empty: it may run)."""
    out = []
    if len(preview.removals) > config.job.max_deletes:
        out.append(f"{len(preview.removals):,} users would be removed, over the limit of {config.job.max_deletes:,}")
    if preview.builders:
        out.append(f"{len(preview.builders):,} users would get Builder access (canCreateBot/isDeveloper)")
    if preview.protected:
        out.append(f"{len(preview.protected):,} protected users would be changed or removed")
    return out


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
                          "remove": len(preview.removals), "builder": len(preview.builders),
                          "protected": len(preview.protected)},
               "removals": preview.removals[:10_000], "builders": preview.builders[:10_000],
               "protected": preview.protected[:10_000], "changes": [list(c) for c in preview.updates[:10_000]],
               "supersedes": stale}
    approvals = Approvals(person=session.user or "?", where=address(request), source="page",
                          expiry_hours=config.approval_expiry_hours, webhook=config.webhook)
    made = await open_request(config.state_dir, approvals, command=action, input_name=upload.name,
                              input_sha256=sha, host=config.job.host or "", fingerprint=fp, reasons=reasons,
                              summary=summary, upload_id=upload.id, email=email)
    return f"/requests/{made.id}"


def _table(headers: list[str], rows: list[list[Any]], table_id: str) -> Markup:
    head = join(tag("th", h) for h in headers)
    body = join(Markup("<tr>" + "".join(tag("td", c) for c in row) + "</tr>") for row in rows[:MAX_LISTED])
    more = (tag("p", f"… and {len(rows) - MAX_LISTED:,} more.", class_="hint") if len(rows) > MAX_LISTED else "")
    return Markup(f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{more}')


async def request_page(request: web.Request) -> web.StreamResponse:
    config: WebConfig = request.app[CONFIG]
    session: Session = request[SESSION]
    try:
        req = ApprovalStore(config.state_dir).get(request.match_info["request_id"])
    except ApprovalRefused:
        return message(request, "Not found", "There is no such request.", status=404)
    summary = req.summary
    counts = join(tag("li", f"{k}: {v:,}") for k, v in (summary.get("counts") or {}).items())
    parts = [tag("h2", "Why it needs approval"), tag("ul", join(tag("li", r) for r in req.reasons), id="reasons"),
             tag("h2", "The plan"), tag("ul", counts, id="counts")]
    if summary.get("supersedes"):
        parts.append(tag("p", "This replaces approved request(s) " + ", ".join(summary["supersedes"]) + ": the file "
                         "changed since they were approved, so their approval no longer holds.",
                         class_="message warning", id="superseded"))
    if summary.get("removals"):
        parts += [tag("h2", f"Users to be removed ({len(summary['removals']):,})"),
                  _table(["user"], [[u] for u in summary["removals"]], "removals")]
    if summary.get("changes"):
        headers = ["user", "field", "old", "new"] if len(summary["changes"][0]) == 4 else ["user", "field", "new"]
        parts += [tag("h2", "Changes per field"), _table(headers, summary["changes"], "changes")]
    for key, title in (("builders", "Users who would get Builder access"), ("protected", "Protected users touched")):
        if summary.get(key):
            parts += [tag("h2", title), _table(["user"], [[u] for u in summary[key]], key)]
    body = render("request", request_id=req.id, state=req.state, requester=req.requester, where=req.where,
                  created=req.created.replace("T", " "), expires=req.expires.replace("T", " "),
                  what=f"{req.command} of {req.input_name}", sha=req.input_sha256[:16],
                  fingerprint=req.fingerprint[:16], decision=_decision(req), actions=_actions(request, req, session),
                  plan=join(parts))
    return page(request, f"Request {req.id}", body)


def _decision(req: Request) -> Markup:
    if req.state in ("approved", "rejected", "used"):
        verb = "Approved" if req.state in ("approved", "used") else "Rejected"
        used = " It has been used by a run." if req.state == "used" else ""
        return tag("p", f"{verb} by {req.decided_by} at {req.decided_at.replace('T', ' ')}: “{req.comment}”.{used}",
                   class_="message info", id="decision")
    if req.state == "expired":
        return tag("p", "This request expired without a decision: run again to make a new one.",
                   class_="message warning", id="decision")
    return tag("p", "Waiting for approval by someone else.", class_="message warning", id="decision")


def _actions(request: web.Request, req: Request, session: Session) -> Markup:
    if req.state == "pending" and allows(session.role, "approver") and session.user != req.requester:
        return render("decide", request_id=req.id, csrf=session.csrf)
    if req.state == "pending" and session.user == req.requester:
        return tag("p", "You made this request: another approver must decide it.", class_="hint", id="own-request")
    if req.state == "approved" and req.upload_id and allows(session.role, "operator"):
        config: WebConfig = request.app[CONFIG]
        if find_upload(config, req.upload_id) is not None:
            return render("run_form", upload_id=req.upload_id, csrf=session.csrf, action=req.command,
                          email=req.email, mode="", button_id="run", button_class="",
                          label=f"Run the approved {req.command}")
    return Markup("")


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
        return message(request, "Not decided", explain(exc), status=status,
                       links=tag("a", "Back to the request", href=f"/requests/{request.match_info['request_id']}"))
    raise web.HTTPSeeOther(f"/requests/{req.id}")


async def requests_page(request: web.Request) -> web.StreamResponse:
    config: WebConfig = request.app[CONFIG]
    rows = [Markup(f'<tr id="request-{r.id}">' + "".join([
        str(tag("td", tag("a", r.id, href=f"/requests/{r.id}"))), str(tag("td", r.state)),
        str(tag("td", r.requester)), str(tag("td", f"{r.command} {r.input_name}")), str(tag("td", "; ".join(r.reasons))),
        str(tag("td", r.decided_by))]) + "</tr>") for r in ApprovalStore(config.state_dir).all()]
    table = Markup('<table id="requests"><thead><tr><th>request</th><th>state</th><th>requested by</th><th>what</th>'
                   f'<th>why</th><th>decided by</th></tr></thead><tbody>{join(rows)}</tbody></table>')
    return page(request, "Approvals", table if rows else tag("p", "No requests yet.", class_="hint"))


async def audit_page(request: web.Request) -> web.StreamResponse:
    config: WebConfig = request.app[CONFIG]
    trail = AuditTrail(config.state_dir)
    count, broken = await asyncio.to_thread(trail.verify)
    status = (tag("p", f"The chain of {count:,} records holds.", class_="message info", id="chain") if broken is None
              else tag("p", f"Record {broken.seq} (line {broken.line}) {broken.reason}.", class_="message error",
                       id="chain"))
    records = await asyncio.to_thread(trail.latest, 300)
    rows = [[r.get("time", "").replace("T", " "), r.get("who"), r.get("where"), r.get("event"),
             json.dumps(r.get("what"), ensure_ascii=False, sort_keys=True)[:300]] for r in records]
    return page(request, "Audit trail", join([status, _table(["when", "who", "from", "event", "what"], rows,
                                                              "audit")]))
