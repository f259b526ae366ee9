"""The page frame and the responses every handler shares: a page with its navigation and language switch, a
page that says one thing, refusals, redirects, downloads, the session cookie, the client's address.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from bulkprov.web.config import WebConfig
from bulkprov.web.html import render
from bulkprov.web.keys import CONFIG, SESSION, SESSIONS
from bulkprov.web.lang import N_, _, text
from bulkprov.web.security import Session
from bulkprov.web.throttle import client_address
from bulkprov.web.wording import ROLE_NAMES, STATUSES, label, labels

NAV = [("/", N_("Upload"), "operator"), ("/runs", N_("Runs"), "viewer"), ("/requests", N_("Approvals"), "viewer"),
       ("/audit", N_("Audit"), "approver"), ("/template.xlsx", N_("Template"), "operator")]
COOKIE = "bulkprov_session"
MAX_ERRORS_SHOWN = 500  # rows with problems a page lists (the workbook has them all)
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


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
