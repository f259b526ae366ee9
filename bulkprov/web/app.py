"""``bulkprov serve``: the HR upload page, an aiohttp app over the same library the CLI uses.

One concern per module: ``security`` (passwords, sessions, CSRF, headers), ``config``, ``html``,
``common`` (app keys, page frame, the page's wording), ``login``, ``uploads``, ``runner`` (runs in a
worker thread), ``pages`` (the handlers after login), ``app`` (routes and the server).

Design
------
Pages are rendered on the server from the Jinja2 templates in ``templates/`` (:mod:`bulkprov.web.html`:
autoescaped, translated; :mod:`bulkprov.web.lang` picks the reader's language); one
small script (``app.js``, served by the app) polls a run's progress.  There is no front-end build
and no second implementation of any step: a page calls what the CLI calls.

* **upload** (``POST /upload``) streams the multipart body into ``STATE_DIR/uploads/<uuid4>.<ext>``,
  the extension decided by the content (:func:`bulkprov.io.shared.sniff.upload_extension`), never by the user's file name;
* **check** (``GET /uploads/ID``) runs :func:`bulkprov.jobs.frame.load` and
  :func:`~bulkprov.jobs.frame.check_rows` (every row error: row, column, value, message, code — the
  same :class:`~bulkprov.errors.RowError` objects the result workbook reports) and
  :func:`~bulkprov.jobs.checkonly.dry_run_plan` (adds/updates/removes, requests, ETA, activation emails);
* **run** (``POST /uploads/ID/run``) calls :func:`bulkprov.jobs.run_job_async` with a progress
  callback, on its own event loop in a worker thread, so a long validation or result-writing phase
  never freezes the page; the progress (``{done, failed, total, eta, requests, final}``) is kept in
  memory and polled from ``GET /jobs/ID/progress``;
* **runs** (``GET /runs``) lists the ledger's runs (:func:`bulkprov.jobs.history.list_runs`) with their
  counts; downloads give a run's result workbook and its Failures sheet as a workbook of its own,
  ready to fix and upload again.

One run at a time: the page refuses a second Run while one is going, and the state-directory lock
(:class:`bulkprov.state.ledger.StateLock`, taken inside the pipeline) refuses a run while a CLI run uses
the same state directory; that refusal is shown as a message on the page.

Security
--------
* **Login** with a user name and password (``web_users`` in the config profile: name → scrypt hash
  made by ``bulkprov hash-password``) or a shared token (``BULKPROV_WEB_TOKEN`` or the file named by
  ``web_token_file``).  Hashes are ``scrypt$N$r$p$salt$hash`` (stdlib :func:`hashlib.scrypt`);
  comparisons use :func:`hmac.compare_digest`; an unknown user costs the same scrypt as a known one;
  repeated failures from one address are refused for a while.
* **Sessions**: a random id, signed with a per-process HMAC key, in an ``HttpOnly``,
  ``SameSite=Strict`` cookie (``Secure`` when the request came over https or ``--secure-cookies``
  says a TLS proxy is in front); the session itself stays in server memory, and a new id is issued
  at login.  Every page except the login page and its static files needs a session: a GET is
  redirected to the login page, anything else gets 401.
* **CSRF**: each session has a random token, in a hidden field of every form; every POST is refused
  (403) unless the field matches (``hmac.compare_digest``).  The upload form's token is its first
  field and is checked before a byte of the file is stored.
* **Uploads**: size-capped while streaming (``--max-upload-mb``, HTTP 413 with a message); stored
  only under the state directory with generated names; the type is decided by content (a zip with
  ``xl/workbook.xml`` is xlsx, OLE2 is xls, a zip with ``mimetype`` + ``content.xml`` is ods,
  decodable text is csv); anything else is refused with a message.  The loader's own guards (zip
  bombs, row and column caps) then apply as for the CLI.
* **Secrets** stay on the server: the Kore.ai credentials are read once at start
  (:meth:`bulkprov.kore.auth.Credentials.from_sources`) and only ever handed to the pipeline; no page,
  JSON reply or log line carries them or a token.  Every value put into a page is HTML-escaped
  (Jinja2's autoescape; no HTML is built in Python).
* **Headers** on every response: a Content-Security-Policy allowing only this origin's script and
  style, no framing and form posts only to this origin, ``X-Content-Type-Options: nosniff``,
  ``X-Frame-Options: DENY``, ``Referrer-Policy: no-referrer`` and ``Cache-Control: no-store``.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.http_exceptions import HttpProcessingError

from bulkprov import i18n
from bulkprov.web import lang
from bulkprov.web.approvals import audit_page, decide_post, request_page, requests_page
from bulkprov.web.config import WebConfig
from bulkprov.web.frame import COOKIE, BadForm, bad_form, forbidden, message, refused
from bulkprov.web.keys import CHECKER, CONFIG, LOGIN_FORMS, SESSION, SESSIONS, THROTTLE
from bulkprov.web.lang import _
from bulkprov.web.login import OIDC, login_get, login_post, logout, oidc_callback, oidc_login, read_form
from bulkprov.web.pages import (
    favicon,
    index,
    job_page,
    job_progress,
    not_found,
    run_download,
    run_post,
    runs_page,
    static,
    template_download,
    upload_report,
)
from bulkprov.web.preview import PREVIEWS, Previews
from bulkprov.web.private import make_private
from bulkprov.web.records import AUDIT_WRITER, COALESCER, Coalescer, write_due
from bulkprov.web.roles import allows, needed_role
from bulkprov.web.runner import JOBS, Jobs
from bulkprov.web.security import LoginForms, SessionStore, csrf_ok, safe_next, security_headers
from bulkprov.web.throttle import LoginThrottle, PasswordChecker
from bulkprov.web.uploads import remove_stale_parts, upload_post
from bulkprov.web.wording import mb

log = logging.getLogger("bulkprov.web")

PUBLIC_PATHS = frozenset({"/login", "/oidc/login", "/oidc/callback", "/static/app.css", "/static/app.js",
                          "/favicon.ico"})


@web.middleware
async def guard(request: web.Request, handler: Any) -> web.StreamResponse:
    """Sessions, the reader's language, login and CSRF for every request (see the module docstring)."""
    try:
        return await _guard(request, handler)
    except BadForm:
        return bad_form(request)


async def _guard(request: web.Request, handler: Any) -> web.StreamResponse:
    session = request.app[SESSIONS].lookup(request.cookies.get(COOKIE))
    request[SESSION] = session
    # Every request sets its language (a connection's requests share one asyncio task, so one request's
    # choice must never be left for the next).
    i18n.set_language(lang.choose(session.lang if session else None, request.query.get("lang"),
                                  request.headers.get("Accept-Language")))
    if request.path not in PUBLIC_PATHS and (session is None or not session.user):
        if request.method in ("GET", "HEAD") and "application/json" not in request.headers.get("Accept", ""):
            target = request.path_qs if request.path != "/" else ""
            raise web.HTTPSeeOther("/login" + (f"?next={_quote(target)}" if target else ""))
        return message(request, _("Log in first"), _("You are not logged in (or your session expired): log in again."),
                       status=401, links=[("/login", _("Log in"))])
    if session is not None and session.user:
        role = session.role
        if stale(request, session):  # a single sign-on person's groups are believed for a while, then asked again
            if request.method in ("GET", "HEAD") and "application/json" not in request.headers.get("Accept", ""):
                raise web.HTTPSeeOther("/oidc/login?prompt=none&next=" + _quote(safe_next(request.path_qs)))
            role = "viewer"
        needed = needed_role(request.method, request.path)
        if not allows(role, needed):
            if request.path == "/" and request.method == "GET":
                raise web.HTTPSeeOther("/runs")  # a viewer's home
            return refused(request, session.role, needed)
    # /upload checks its token while streaming; /login has its own (signed double-submit) token
    if request.method == "POST" and request.path not in ("/upload", "/login"):
        form = await read_form(request)
        if not csrf_ok(session, form.get("csrf")):
            return forbidden(request)
    return await handler(request)


def stale(request: web.Request, session: Any) -> bool:
    """A single sign-on session whose groups the provider last confirmed too long ago (see ``role_refresh``)."""
    if session.method != "oidc" or request.path.startswith(("/oidc/", "/static/")) or request.path == "/logout":
        return False
    when = session.refreshed
    return when is None or request.app[SESSIONS].clock() - when > request.app[CONFIG].role_refresh


async def language_post(request: web.Request) -> web.StreamResponse:
    """The language switch: kept in the session (the form's CSRF token was checked by :func:`guard`)."""
    form = await read_form(request)
    chosen = lang.supported(form.get("lang"))
    if chosen is not None:
        request[SESSION].lang = chosen
    raise web.HTTPSeeOther(safe_next(str(form.get("next") or "/")))


def _quote(path: str) -> str:
    from urllib.parse import quote

    return quote(path, safe="")


def hide_banner() -> None:
    """No ``Server: aiohttp/x.y`` anywhere, not even on the parser's own 400 replies (they never reach
    ``on_response_prepare``): aiohttp reads this module-level default when it sends any response."""
    from aiohttp import web_response

    web_response.SERVER_SOFTWARE = "bulkprov"


class MalformedRequestLine(logging.Filter):
    """A request aiohttp cannot parse (a NUL in a header, an 8 KB header line) is the client's fault:
    one line in the log, not a traceback anyone on the network can make the server write."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            said = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
            record.msg, record.args = "refused a malformed request: %s", (said,)
            record.exc_info, record.exc_text, record.levelno, record.levelname = None, None, logging.INFO, "INFO"
        return True


def quiet_malformed_requests() -> None:
    server_log = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, MalformedRequestLine) for f in server_log.filters):
        server_log.addFilter(MalformedRequestLine())


def create_app(config: WebConfig) -> web.Application:
    hide_banner()
    quiet_malformed_requests()
    app = web.Application(middlewares=[guard], client_max_size=1024 * 1024)
    app[CONFIG] = config
    app[SESSIONS] = SessionStore(config.session_idle)
    app[LOGIN_FORMS] = LoginForms()
    app[THROTTLE] = LoginThrottle()
    app[CHECKER] = PasswordChecker(config.login_workers, config.login_queue)
    app[JOBS] = Jobs()
    app[PREVIEWS] = Previews(config.max_previews, config.check_queue, config.check_queue_per_person)
    app[AUDIT_WRITER] = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bulkprov-audit")
    app[COALESCER] = Coalescer()
    app.on_startup.append(_start_flushing)
    for folder in (config.state_dir, config.uploads, config.results):
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    if removed := remove_stale_parts(config):
        log.info("removed %d unfinished uploads left by an earlier process", removed)
    app.on_response_prepare.append(security_headers)
    app.on_cleanup.append(_close)
    app.router.add_get("/", index)
    app.router.add_get("/login", login_get)
    app.router.add_post("/login", login_post)
    app.router.add_post("/logout", logout)
    app.router.add_post("/language", language_post)
    if config.oidc is not None:
        from bulkprov.web.oidc import OidcClient

        app[OIDC] = OidcClient(config.oidc)
        app.router.add_get("/oidc/login", oidc_login)
        app.router.add_get("/oidc/callback", oidc_callback)
    app.router.add_post("/upload", upload_post)
    app.router.add_get("/uploads/{upload_id}", upload_report)
    app.router.add_post("/uploads/{upload_id}/run", run_post)
    app.router.add_get("/jobs/{job_id}", job_page)
    app.router.add_get("/jobs/{job_id}/progress", job_progress)
    app.router.add_get("/runs", runs_page)
    app.router.add_get("/requests", requests_page)
    app.router.add_get("/requests/{request_id}", request_page)
    app.router.add_post("/requests/{request_id}/{decision:approve|reject}", decide_post)
    app.router.add_get("/audit", audit_page)
    app.router.add_get("/runs/{run_id}/{kind:results|failures|undo}.xlsx", run_download)
    app.router.add_get("/template.{fmt:xlsx|csv}", template_download)
    app.router.add_get("/static/{name:app\\.js|app\\.css}", static)
    app.router.add_get("/favicon.ico", favicon)
    app.router.add_route("*", "/{tail:.*}", not_found)
    return app


FLUSHER: web.AppKey[Any] = web.AppKey("flusher")


async def _start_flushing(app: web.Application) -> None:
    """Coalesced sign-in records are written when their window ends, not only when the next one arrives."""
    import asyncio

    async def flush() -> None:
        while True:
            await asyncio.sleep(app[COALESCER].window / 4)
            await write_due(app, app[COALESCER].due(app[COALESCER].clock()))

    app[FLUSHER] = asyncio.get_running_loop().create_task(flush())


async def _close(app: web.Application) -> None:
    import asyncio
    import contextlib

    if FLUSHER in app:
        app[FLUSHER].cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await app[FLUSHER]
    await write_due(app, app[COALESCER].due(None))  # what the windows still count
    app[CHECKER].close()
    app[AUDIT_WRITER].shutdown(wait=True)  # every record written before the process ends


def runner_options(config: WebConfig) -> dict[str, Any]:
    """What the HTTP server itself enforces: a whole request head within ``header_timeout`` (aiohttp's
    keep-alive timer also runs from the moment a connection opens), small header lines and few headers."""
    return {"keepalive_timeout": config.header_timeout, "max_line_size": 8190, "max_field_size": 8190,
            "max_headers": 64}


class AccessLog(AbstractAccessLogger):
    """One line per request: address, method, path (no query string), status, time; progress polls are not logged."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        if request.path.endswith("/progress") and response.status == 200:
            return
        self.logger.info("%s %s %s %s %.3fs", request.remote, request.method, request.path, response.status, time)


def serve(config: WebConfig, bind: str = "127.0.0.1", port: int = 8080) -> None:
    """``bulkprov serve``: until Ctrl-C or SIGTERM.  A run in progress finishes before the process exits."""
    make_private(config.state_dir)
    app = create_app(config)
    print(f"bulkprov serve: http://{bind}:{port}/ (Kore.ai host {config.job.host}, state directory "
          f"{config.state_dir}, uploads up to {mb(config.max_upload_bytes)})", flush=True)
    web.run_app(app, host=bind, port=port, print=None, access_log=logging.getLogger("bulkprov.web.access"),
                access_log_class=AccessLog, **runner_options(config))
