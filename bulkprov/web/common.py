"""What every handler shares: the app's keys, the page frame, messages, cookies, downloads, wording.

A message on the page is the library's message plus the page's own hint (:class:`WebPhrasing`, which
names the page's buttons); the page never rewrites a library message.
"""

from __future__ import annotations

import asyncio
import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bulkprov import __version__
from bulkprov.errors import N_, BulkprovError
from bulkprov.errors import render as render_text
from bulkprov.jobs.phrasing import Phrasing
from bulkprov.web.config import WebConfig
from bulkprov.web.html import Markup, render, tag
from bulkprov.web.security import LoginForms, Session, SessionStore
from bulkprov.web.throttle import LoginThrottle, PasswordChecker, client_address

if TYPE_CHECKING:
    from bulkprov.web.preview import Previews
    from bulkprov.web.runner import Jobs

ACTIONS = {
    "add": "add the users",
    "update": "update existing users (blank cells are left unchanged)",
    "remove": "remove the users",
    "apply": "per-row action column (add / update / remove)",
}
EMAIL_CHOICES = {"yes": "send activation emails", "no": "do not send activation emails"}
COOKIE = "bulkprov_session"
MAX_ERRORS_SHOWN = 500
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

CONFIG: web.AppKey[WebConfig] = web.AppKey("config")
SESSIONS: web.AppKey[SessionStore] = web.AppKey("sessions")
THROTTLE: web.AppKey[LoginThrottle] = web.AppKey("throttle")
CHECKER: web.AppKey[PasswordChecker] = web.AppKey("checker")
LOGIN_FORMS: web.AppKey[LoginForms] = web.AppKey("login_forms")
JOBS: web.AppKey[Jobs] = web.AppKey("jobs")
PREVIEWS: web.AppKey[Previews] = web.AppKey("previews")
# Per-request storage: RequestKey where this aiohttp has it (3.13+), a plain key before.
SESSION: Any = web.RequestKey("session", object) if hasattr(web, "RequestKey") else "session"
APPROVED: Any = web.RequestKey("approved_request", object) if hasattr(web, "RequestKey") else "approved_request"


class WebPhrasing(Phrasing):
    """The page's words for next steps and hints: buttons and pages, never command-line flags."""

    def rerun_failures(self, command: str, results: Path) -> str:
        return render_text(N_("Failed and invalid rows are in the failures file: download it, fix the rows and "
                              "upload it again with the action '{command}'."), {"command": command})

    def resume(self, command: str, reason: str) -> str:
        return render_text(N_("The run stopped: {reason}. Fix the cause, then upload the same file and run it "
                              "again; rows already done are not sent twice."), {"reason": reason})

    def undo(self, path: Path, changes: int) -> str:
        return render_text(N_("To undo this run's {changes} changes, download the undo file and upload it with "
                              "the action 'apply'."), {"changes": changes})

    def hint(self, key: str) -> str:
        hints = {
            "state-dir": N_("Wait for the other run to finish, then press Run again."),
            "resume-or-force": N_("Resume it to send only the rows it had not done, or start a new run anyway."),
            "disk": N_("Ask the administrator to free space on the server."),
        }
        return render_text(hints[key], {}) if key in hints else ""


def explain(error: BulkprovError) -> str:
    """A library error as the page says it: its message, then the page's hint."""
    hint = WebPhrasing().hint(error.hint) if error.hint else ""
    text = error.message[:1].upper() + error.message[1:]
    return f"{text}. {hint}" if hint else text


def page(request: web.Request, title: str, body: Markup, status: int = 200) -> web.Response:
    session: Session | None = request.get(SESSION)
    nav = Markup("")
    if session is not None and session.user:
        from bulkprov.web.roles import allows

        links = [("/", "Upload", "operator"), ("/runs", "Runs", "viewer"), ("/requests", "Approvals", "viewer"),
                 ("/audit", "Audit", "approver"), ("/template.xlsx", "Template", "operator")]
        nav = render("nav", user=f"{session.user} ({session.role})", csrf=session.csrf,
                     links=Markup("\n".join(tag("a", label, href=href) for href, label, need in links
                                            if allows(session.role, need))))
    config: WebConfig = request.app[CONFIG]
    text = render("layout", title=title, nav=nav, body=body, version=__version__, host=config.job.host or "")
    return web.Response(text=text, status=status, content_type="text/html", charset="utf-8")


def message(request: web.Request, title: str, text: str, *, status: int = 200, kind: str = "error",
            links: Markup | None = None) -> web.Response:
    links = links if links is not None else tag("a", "Back to the upload page", href="/")
    return page(request, title, render("message", kind=kind, message=text, links=links), status)


def set_session_cookie(request: web.Request, response: web.StreamResponse, session: Session) -> None:
    config: WebConfig = request.app[CONFIG]
    response.set_cookie(COOKIE, request.app[SESSIONS].cookie(session), httponly=True, samesite="Strict",
                        secure=config.secure_cookies or request.secure, path="/")


def address(request: web.Request) -> str:
    """The client's address, through trusted proxies only (see :func:`bulkprov.web.throttle.client_address`)."""
    return client_address(request, request.app[CONFIG].networks)


AUDIT_WRITER: web.AppKey[Any] = web.AppKey("audit_writer")


async def record(request: web.Request, event: str, who: str | None = None, **what: Any) -> None:
    """One record of the audit trail (:mod:`bulkprov.jobs.audit`): who, from where, what.  Written (and
    fsynced) by one thread of its own, in order, so a burst of records never blocks the event loop."""
    from bulkprov.approvals.flow import audit

    session: Session | None = request.get(SESSION)
    person = who if who is not None else (session.user if session is not None and session.user else "?")
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(request.app[AUDIT_WRITER], functools.partial(
        audit, request.app[CONFIG].state_dir, event, person, address(request), **what))


def refused(request: web.Request, role: str, needed: str) -> web.Response:
    return message(request, "Not allowed", f"Your role ({role or 'none'}) does not allow this: it needs the "
                   f"{needed} role. Ask an administrator if you need it.", status=403)


def redirect(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location})


def forbidden(request: web.Request) -> web.Response:
    return message(request, "Form refused", "This form has expired or did not come from this site. Reload the "
                   "page and try again.", status=403)


def download(path: Path, name: str) -> web.FileResponse:
    return web.FileResponse(path, headers={"Content-Type": XLSX_TYPE,
                                           "Content-Disposition": f'attachment; filename="{name}"'})


def mb(n: int) -> str:
    return f"{n / 1024 / 1024:g} MB"
