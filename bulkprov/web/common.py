"""What every handler shares: the app's keys, the page frame, messages, cookies, downloads, wording.

A message on the page is the library's message plus the page's own hint (:class:`WebPhrasing`, which
names the page's buttons); the page never rewrites a library message.
"""

from __future__ import annotations

import asyncio
import functools
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from bulkprov.errors import BulkprovError
from bulkprov.jobs.phrasing import Phrasing
from bulkprov.web.config import WebConfig
from bulkprov.web.html import render
from bulkprov.web.lang import N_, _, number, text
from bulkprov.web.security import LoginForms, Session, SessionStore
from bulkprov.web.throttle import LoginThrottle, PasswordChecker, client_address

if TYPE_CHECKING:
    from bulkprov.web.preview import Previews
    from bulkprov.web.runner import Jobs

# The page's labels are marked here and translated where they are shown (``_(ACTIONS[key])``).
ACTIONS = {
    "add": N_("add the users"),
    "update": N_("update existing users (blank cells are left unchanged)"),
    "remove": N_("remove the users"),
    "apply": N_("per-row action column (add / update / remove)"),
}
# A command's short name on the page (a run's "what", a request's action).
ACTION_NAMES = {"add": N_("add"), "update": N_("update"), "remove": N_("remove"), "apply": N_("apply"),
                "sync": N_("sync"), "lookup": N_("lookup")}
ROLE_NAMES = {"viewer": N_("viewer"), "operator": N_("operator"), "approver": N_("approver")}
EMAIL_CHOICES = {"yes": N_("send activation emails"), "no": N_("do not send activation emails")}
# A CSV's encoding when detection cannot tell (the CLI's --encoding); "" detects. Workbooks ignore it.
ENCODING_CHOICES = {"": N_("detect automatically"), "utf-8": N_("UTF-8"),
                    "cp949": N_("Korean (cp949 / EUC-KR)"), "cp932": N_("Japanese (cp932 / Shift_JIS)"),
                    "gbk": N_("Chinese, simplified (GBK)"), "cp1252": N_("Western European (Windows-1252)"),
                    "mac-roman": N_("Western European (Mac Roman)"), "utf-16": N_("UTF-16")}
# What a row's status (the workbook's stable English code) is called on the page.
STATUSES = {"success": N_("success"), "failed": N_("failed"), "invalid": N_("invalid"), "skipped": N_("skipped"),
            "not_attempted": N_("not attempted"), "valid": N_("valid")}
NAV = [("/", N_("Upload"), "operator"), ("/runs", N_("Runs"), "viewer"), ("/requests", N_("Approvals"), "viewer"),
       ("/audit", N_("Audit"), "approver"), ("/template.xlsx", N_("Template"), "operator")]
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


class WebPhrasing(Phrasing):
    """The page's words for next steps and hints: buttons and pages, never command-line flags (domain ``web``)."""

    def rerun_failures(self, command: str, results: Path) -> str:
        return text(N_("Failed and invalid rows are in the failures file: download it, fix the rows and upload it "
                       "again with “{action}” as what to do."), action=label(ACTIONS, command))

    def resume(self, command: str, reason: str) -> str:
        return text(N_("The run stopped: {reason}. Fix the cause, then upload the same file and run it again; rows "
                       "already done are not sent twice."), reason=reason)

    def undo(self, path: Path, changes: int) -> str:
        return text(N_("To undo this run's {changes} changes, download the undo file and upload it with "
                       "“{action}” as what to do."), changes=changes, action=label(ACTIONS, "apply"))

    def hint(self, key: str) -> str:
        hints = {
            "state-dir": N_("Wait for the other run to finish, then press Run again."),
            "resume-or-force": N_("Resume it to send only the rows it had not done, or start a new run anyway."),
            "disk": N_("Ask the administrator to free space on the server."),
            "encoding": N_("If you know the file's encoding, upload it again and choose it under “Text encoding "
                           "of a CSV file”."),
            "misspelt-column": N_("Correct the header in your file, or delete that column if it is another one, "
                                  "and upload the file again."),
        }
        return _(hints[key]) if key in hints else ""


def explain(error: BulkprovError) -> str:
    """A library error as the page says it: its message (in the request's language), then the page's hint."""
    hint = WebPhrasing().hint(error.hint) if error.hint else ""
    message = error.message[:1].upper() + error.message[1:]
    return f"{message}. {hint}" if hint else message


def labels(table: dict[str, str]) -> dict[str, str]:
    """A table of marked labels in the request's language."""
    return {key: _(label) for key, label in table.items()}


def label(table: dict[str, str], key: str) -> str:
    """One marked label in the request's language; a key the table does not know shows as it is."""
    return _(table[key]) if key in table else key


def page(request: web.Request, template: str, title: str, status: int = 200, **context: Any) -> web.Response:
    """A whole page: ``template`` (which extends ``layout.html``) with the frame's navigation and language switch."""
    from bulkprov.web.roles import allows

    session: Session | None = request.get(SESSION)
    signed_in = session is not None and bool(session.user)
    nav = [(href, _(label)) for href, label, need in NAV if signed_in and allows(session.role, need)]
    config: WebConfig = request.app[CONFIG]
    html = render(template, title=title, session=session if signed_in else None, nav=nav, here=_here(request),
                  role=label(ROLE_NAMES, session.role) if signed_in else "",
                  host=config.job.host or "", statuses=labels(STATUSES), **context)
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")


def _here(request: web.Request) -> str:
    """Where the language switch comes back to: this page when it can be fetched again, else the home page."""
    from bulkprov.web.security import safe_next

    if request.method not in ("GET", "HEAD"):
        return "/"
    if request.path == "/login":
        return safe_next(request.query.get("next"))
    return safe_next(request.path_qs)


def message(request: web.Request, title: str, text: str, *, status: int = 200, kind: str = "error",
            links: list[tuple[str, str]] | None = None) -> web.Response:
    """A page that says one thing, with links onwards (by default back to the upload page)."""
    links = links if links is not None else [("/", _("Back to the upload page"))]
    return page(request, "message.html", title, status, kind=kind, message=text, links=links)


def set_session_cookie(request: web.Request, response: web.StreamResponse, session: Session) -> None:
    config: WebConfig = request.app[CONFIG]
    response.set_cookie(COOKIE, request.app[SESSIONS].cookie(session), httponly=True, samesite="Strict",
                        secure=config.secure_cookies or request.secure, path="/")


def address(request: web.Request) -> str:
    """The client's address, through trusted proxies only (see :func:`bulkprov.web.throttle.client_address`)."""
    return client_address(request, request.app[CONFIG].networks)


AUDIT_WRITER: web.AppKey[Any] = web.AppKey("audit_writer")


def _trail_of(config: WebConfig) -> Any:
    """Where the page's records go: its account's trail (a folder of its own when it has no account)."""
    return config.job.account if config.job.account is not None else config.state_dir


async def write_record(app: web.Application, event: str, who: str, where: str, **what: Any) -> None:
    """Append one record, in the page's own audit thread (in order, never blocking the event loop)."""
    from bulkprov.approvals.flow import audit

    loop = asyncio.get_running_loop()
    await loop.run_in_executor(app[AUDIT_WRITER], functools.partial(
        audit, _trail_of(app[CONFIG]), event, who, where, **what))


async def record(request: web.Request, event: str, who: str | None = None, **what: Any) -> None:
    """One record of the audit trail (:mod:`bulkprov.approvals.audit`): who, from where, what.  Written (and
    fsynced) by one thread of its own, in order, so a burst of records never blocks the event loop."""
    session: Session | None = request.get(SESSION)
    person = who if who is not None else (session.user if session is not None and session.user else "?")
    await write_record(request.app, event, person, address(request), **what)


class Coalescer:
    """Events nobody has proved who they are (a refused sign-in, a provider's error, a wrong password) are
    throttled per source: the first of a window is written at once, the others counted and written as one
    record with their count when the window ends.  At most ``burst`` sources a window get a record at once;
    beyond them every source shares one bucket, so no anonymous client — nor a crowd — floods the trail."""

    def __init__(self, window: float = 60.0, burst: int = 30, sources: int = 1000,
                 clock: Any = time.monotonic) -> None:
        self.window, self.burst, self.sources, self.clock = window, burst, sources, clock
        self._buckets: dict[tuple[str, str], dict[str, Any]] = {}
        self._opened: list[float] = []  # when recent windows opened (for the burst limit)

    def note(self, where: str, kind: str, what: dict[str, Any]) -> tuple[bool, list[dict[str, Any]]]:
        """(write this event now?, the records of windows that ended: ``{"where", "what"}``)."""
        now = self.clock()
        due = self.due(now)
        self._opened = [t for t in self._opened if now - t < self.window]
        key = (where, kind)
        if key not in self._buckets and len(self._opened) >= self.burst:
            key = ("*", kind)  # a crowd of sources: one shared bucket
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.sources:
                due.extend(self._flush(next(iter(self._buckets))))
            self._buckets[key] = {"opened": now, "count": 0, "what": what, "sources": {where}}
            self._opened.append(now)
            return key[0] != "*", due
        bucket["count"] += 1
        bucket["what"] = what
        if len(bucket["sources"]) < 1000:
            bucket["sources"].add(where)
        return False, due

    def due(self, now: float | None = None) -> list[dict[str, Any]]:
        """The records of every window that has ended (all of them when ``now`` is None: shutting down)."""
        out: list[dict[str, Any]] = []
        for key in [k for k, b in self._buckets.items() if now is None or now - b["opened"] >= self.window]:
            out.extend(self._flush(key))
        return out

    def _flush(self, key: tuple[str, str]) -> list[dict[str, Any]]:
        bucket = self._buckets.pop(key)
        shared = key[0] == "*"
        count = bucket["count"] + (1 if shared else 0)  # a shared bucket's first event was not written
        if not count:
            return []
        what = {**bucket["what"], "count": count}
        if shared:
            what["sources"] = len(bucket["sources"])
        return [{"where": key[0], "what": what}]


COALESCER: web.AppKey[Coalescer] = web.AppKey("coalescer")


async def record_anonymous(request: web.Request, who: str, **what: Any) -> None:
    """A sign-in event of someone not signed in: through the :class:`Coalescer` (see there)."""
    now, due = request.app[COALESCER].note(address(request), str(what.get("outcome", "")), what)
    if now:
        await write_record(request.app, "login", who, address(request), **what, count=1)
    await write_due(request.app, due)


async def write_due(app: web.Application, due: list[dict[str, Any]]) -> None:
    for item in due:
        await write_record(app, "login", "?", item["where"], **item["what"])


def refused(request: web.Request, role: str, needed: str) -> web.Response:
    return message(request, _("Not allowed"), text(N_("Your role ({role}) does not allow this: it needs the {needed} "
                                                      "role. Ask an administrator if you need it."),
                                                   role=label(ROLE_NAMES, role) if role else _("none"),
                                                   needed=label(ROLE_NAMES, needed)), status=403)


def redirect(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location})


def forbidden(request: web.Request) -> web.Response:
    return message(request, _("Form refused"), _("This form has expired or did not come from this site. Reload the "
                                                 "page and try again."), status=403)


# What aiohttp raises for a form body no browser sends (a bad boundary, a part header too long or without a
# name, an unknown charset or transfer encoding, a body cut short): the client's mistake, never a 500.
FORM_ERRORS = (ValueError, LookupError, RuntimeError, AssertionError, HttpProcessingError)


class BadForm(Exception):
    """A POST body that cannot be read as a form (see :data:`FORM_ERRORS`)."""


def bad_form(request: web.Request) -> web.Response:
    return message(request, _("Bad request"), _("The form could not be read: reload the page and send it again."),
                   status=400)


def download(path: Path, name: str, full_name: str | None = None) -> web.FileResponse:
    """A workbook to save: ``name`` (ASCII letters, digits, ``._-`` only) for every browser, and the file's own
    name in UTF-8 (RFC 6266/5987 ``filename*``, percent-encoded: no quote, CR or LF can end the header) for
    the browsers that read it, so 사원명단.xlsx is saved under its name, not ``users``."""
    disposition = f'attachment; filename="{name}"'
    if full_name and full_name != name:
        disposition += f"; filename*=UTF-8''{quote(full_name, safe='')}"
    return web.FileResponse(path, headers={"Content-Type": XLSX_TYPE, "Content-Disposition": disposition})


def display_stem(name: str) -> str:
    """The user's file name without its extension, for a saved file: no control or format characters (a
    right-to-left override turns ``txt.exe`` around), no path separators; "" when nothing is left."""
    import unicodedata

    stem = name.rsplit(".", 1)[0] if "." in name else name
    kept = "".join("_" if c in '/\\:*?"<>|' else c for c in stem if unicodedata.category(c) not in ("Cc", "Cf"))
    return kept.strip(" ._")[:120]


def mb(n: int) -> str:
    """An upload limit in MB, in the reader's locale (``1 MB``, ``0.5 MB``)."""
    return f"{number(round(n / 1024 / 1024, 2))} MB"
