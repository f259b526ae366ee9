"""``bulkprov serve``: the HR upload page, an aiohttp app over the same library the CLI uses.

Design
------
Pages are rendered on the server from the ``string.Template`` files in ``web_templates/``; one
small script (``app.js``, served by the app) polls a run's progress.  There is no front-end build
and no second implementation of any step: a page calls what the CLI calls.

* **upload** (``POST /upload``) streams the multipart body into ``STATE_DIR/uploads/<uuid4>.<ext>``,
  the extension decided by the content (:func:`sniff_upload`), never by the user's file name;
* **check** (``GET /uploads/ID``) runs :func:`bulkprov.pipeline.load` and
  :func:`~bulkprov.pipeline.check_rows` (every row error: row, column, value, message, code — the
  same :class:`~bulkprov.errors.RowError` objects the result workbook reports) and
  :func:`~bulkprov.pipeline.dry_run_plan` (adds/updates/removes, requests, ETA, activation emails);
* **run** (``POST /uploads/ID/run``) calls :func:`bulkprov.pipeline.run_job_async` with a progress
  callback, on its own event loop in a worker thread, so a long validation or result-writing phase
  never freezes the page; the progress (``{done, failed, total, eta, requests, final}``) is kept in
  memory and polled from ``GET /jobs/ID/progress``;
* **runs** (``GET /runs``) lists the ledger's runs (:func:`bulkprov.pipeline.list_runs`) with their
  counts; downloads give a run's result workbook and its Failures sheet as a workbook of its own,
  ready to fix and upload again.

One run at a time: the page refuses a second Run while one is going, and the state-directory lock
(:class:`bulkprov.ledger.StateLock`, taken inside the pipeline) refuses a run while a CLI run uses
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
  (:meth:`bulkprov.auth.Credentials.from_sources`) and only ever handed to the pipeline; no page,
  JSON reply or log line carries them or a token.  Every value put into a page is HTML-escaped
  (:func:`render` escapes all values unless they are :class:`Markup` built here).
* **Headers** on every response: a Content-Security-Policy allowing only this origin's script and
  style, no framing and form posts only to this origin, ``X-Content-Type-Options: nosniff``,
  ``X-Frame-Options: DENY``, ``Referrer-Policy: no-referrer`` and ``Cache-Control: no-store``.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import dataclasses
import datetime as dt
import hashlib
import hmac
import html
import json
import logging
import os
import re
import secrets
import string
import threading
import time
import uuid
import zipfile
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from aiohttp import BodyPartReader, web
from aiohttp.abc import AbstractAccessLogger

from bulkprov import __version__
from bulkprov.errors import InputError, RowError, RunAborted
from bulkprov.loader import OLE_MAGIC, ZIP_MAGIC, LoaderLimits, _looks_like_text
from bulkprov.pipeline import (
    JobOutcome,
    JobSettings,
    check_rows,
    dry_run_plan,
    list_runs,
    load,
    run_job_async,
)
from bulkprov.results import FAILED_STATUSES

log = logging.getLogger("bulkprov.web")

TEMPLATES = Path(__file__).with_name("web_templates")
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
                               "frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
ACTIONS = {
    "add": "add the users",
    "update": "update existing users (blank cells are left unchanged)",
    "remove": "remove the users",
    "apply": "per-row action column (add / update / remove)",
}
COOKIE = "bulkprov_session"
TOKEN_ENV = "BULKPROV_WEB_TOKEN"
MAX_ERRORS_SHOWN = 500
FORM_OVERHEAD = 64 * 1024  # multipart boundaries and the small fields around the file
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ODS_MIME = b"application/vnd.oasis.opendocument.spreadsheet"
_UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")
_RUN_ID = re.compile(r"^[0-9]{8}-[0-9]{6}-[0-9a-f]{6}$")


# -- passwords ---------------------------------------------------------------------------------------------

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=32,
                          maxmem=256 * n * r * p + (1 << 20))


def hash_password(password: str, *, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> str:
    """``scrypt$N$r$p$salt$hash`` (salt and hash base64url): what ``bulkprov hash-password`` prints."""
    salt = secrets.token_bytes(16)
    return f"scrypt${n}${r}${p}${_b64(salt)}${_b64(_scrypt(password, salt, n, r, p))}"


def parse_hash(encoded: str) -> tuple[int, int, int, bytes, bytes]:
    """The parts of a hash; ValueError when it is not one we make (or its cost is absurd)."""
    scheme, n, r, p, salt, digest = encoded.split("$")
    n_, r_, p_ = int(n), int(r), int(p)
    if scheme != "scrypt" or not (2**10 <= n_ <= 2**20 and n_ & (n_ - 1) == 0 and 1 <= r_ <= 32 and 1 <= p_ <= 16):
        raise ValueError("not a scrypt hash with sane parameters")
    return n_, r_, p_, _unb64(salt), _unb64(digest)


def verify_password(password: str, encoded: str) -> bool:
    try:
        n, r, p, salt, digest = parse_hash(encoded)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(_scrypt(password, salt, n, r, p), digest)


_DUMMY_HASH = "scrypt$32768$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"


def check_login(users: dict[str, str], username: str, password: str) -> bool:
    """Same scrypt work whether or not the user exists (no user enumeration by timing)."""
    encoded = users.get(username)
    ok = verify_password(password, encoded or _DUMMY_HASH)
    return ok and encoded is not None


# -- configuration -----------------------------------------------------------------------------------------


@dataclass
class WebConfig:
    """What the server needs; the Kore.ai credentials never leave this object and the pipeline."""

    state_dir: Path
    job: JobSettings  # host, rate, batch size… (command and file are filled in per run)
    credentials: Any
    users: dict[str, str] = field(default_factory=dict)
    token: str | None = None
    max_upload_bytes: int = 20 * 1024 * 1024
    secure_cookies: bool = False
    session_idle: float = 8 * 3600

    def __post_init__(self) -> None:
        self.state_dir = Path(self.state_dir).resolve()
        if not self.users and not self.token:
            raise InputError("usage", "bulkprov serve needs a way to log in: add users to web_users in the config "
                             f"profile (hashes from `bulkprov hash-password`), or set {TOKEN_ENV} or web_token_file")
        for name, encoded in self.users.items():
            try:
                parse_hash(str(encoded))
            except (ValueError, TypeError):
                raise InputError("usage", f"web_users.{name} is not a password hash: make one with "
                                 "`bulkprov hash-password` (plain passwords are refused)") from None
        if self.token is not None and len(self.token) < 16:
            raise InputError("usage", "the shared login token must be at least 16 characters long")

    @property
    def uploads(self) -> Path:
        return self.state_dir / "uploads"

    @property
    def results(self) -> Path:
        return self.state_dir / "results"


def config_from_args(args: Any) -> tuple[WebConfig, str, int]:
    """``bulkprov serve`` options + config profile + environment → (config, bind address, port)."""
    from bulkprov.auth import Credentials
    from bulkprov.client import normalize_host
    from bulkprov.config import config_path, load_profile, resolve
    from bulkprov.limiter import parse_rate

    profile = load_profile(config_path(args.config), args.profile)
    value = {name: resolve(name, getattr(args, name, None), profile) for name in (
        "host", "env_file", "secret_file", "rate", "batch_size", "concurrency", "max_attempts", "timeout",
        "send_email", "state_dir", "web_users", "web_token_file")}
    host = value["host"] or os.environ.get("KORE_HOST")
    if not host:
        raise InputError("usage", "no Kore.ai host: pass --host https://bots.kore.ai, set KORE_HOST, or use a "
                         "--profile")
    normalize_host(host)  # plain http:// to a remote host is refused before the server starts
    parse_rate(value["rate"])
    env_file = value["env_file"] or (Path(".env") if Path(".env").is_file() else None)
    credentials = Credentials.from_sources(env_file=env_file, secret_file=value["secret_file"])
    token = os.environ.get(TOKEN_ENV, "").strip() or None
    if token is None and value["web_token_file"]:
        try:
            token = Path(value["web_token_file"]).expanduser().read_text(encoding="utf-8").strip() or None
        except OSError as exc:
            raise InputError("usage", f"web_token_file {value['web_token_file']}: {exc.strerror or exc}") from None
    max_mb = args.max_upload_mb
    if not 0 < max_mb <= 500:
        raise InputError("usage", "--max-upload-mb must be between 0 and 500")
    job = JobSettings(command="add", host=host, rate=value["rate"], batch_size=value["batch_size"],
                      concurrency=value["concurrency"], max_attempts=value["max_attempts"],
                      timeout=value["timeout"], send_email=value["send_email"],
                      limits=LoaderLimits(max_bytes=int(max_mb * 1024 * 1024)))
    config = WebConfig(state_dir=Path(value["state_dir"] or ".bulkprov"), job=job, credentials=credentials,
                       users=dict(value["web_users"]), token=token, max_upload_bytes=int(max_mb * 1024 * 1024),
                       secure_cookies=args.secure_cookies)
    return config, args.bind, args.port


# -- HTML --------------------------------------------------------------------------------------------------


class Markup(str):
    """HTML built here from escaped parts: :func:`render` inserts it as it is."""


def esc(value: Any) -> Markup:
    return value if isinstance(value, Markup) else Markup(html.escape("" if value is None else str(value)))


def join(parts: Any) -> Markup:
    return Markup("".join(esc(p) for p in parts))


def tag(name: str, content: Any = "", **attrs: Any) -> Markup:
    """``<name attrs>content</name>`` with every attribute value and the content escaped."""
    attributes = "".join(f' {k.rstrip("_").replace("_", "-")}="{esc(v)}"' for k, v in attrs.items() if v is not None)
    return Markup(f"<{name}{attributes}>{esc(content)}</{name}>")


@cache
def _template(name: str) -> string.Template:
    return string.Template((TEMPLATES / f"{name}.html").read_text(encoding="utf-8"))


def render(name: str, **values: Any) -> Markup:
    """Fill a template; every value is HTML-escaped unless it is :class:`Markup`."""
    return Markup(_template(name).substitute({k: esc(v) for k, v in values.items()}))


def options(choices: dict[str, str], selected: str) -> Markup:
    return join(tag("option", label, value=key, selected="selected" if key == selected else None)
                for key, label in choices.items())


EMAIL_CHOICES = {"yes": "send activation emails", "no": "do not send activation emails"}


def page(request: web.Request, title: str, body: Markup, status: int = 200) -> web.Response:
    session: Session | None = request.get(SESSION)
    nav = Markup("")
    if session is not None and session.user:
        nav = render("nav", user=session.user, csrf=session.csrf)
    config: WebConfig = request.app[CONFIG]
    text = render("layout", title=title, nav=nav, body=body, version=__version__, host=config.job.host or "")
    return web.Response(text=text, status=status, content_type="text/html", charset="utf-8")


def message(request: web.Request, title: str, text: str, *, status: int = 200, kind: str = "error",
            links: Markup | None = None) -> web.Response:
    links = links if links is not None else tag("a", "Back to the upload page", href="/")
    return page(request, title, render("message", kind=kind, message=text, links=links), status)


# -- sessions ----------------------------------------------------------------------------------------------


@dataclass
class Session:
    sid: str
    csrf: str
    user: str | None = None
    seen: float = field(default_factory=time.monotonic)


class SessionStore:
    """Server-side sessions; the cookie carries only ``id.signature``."""

    def __init__(self, idle: float, limit: int = 10_000) -> None:
        self.key = secrets.token_bytes(32)
        self.idle = idle
        self.limit = limit
        self._sessions: dict[str, Session] = {}

    def _sign(self, sid: str) -> str:
        return _b64(hmac.new(self.key, sid.encode("ascii"), hashlib.sha256).digest())

    def cookie(self, session: Session) -> str:
        return f"{session.sid}.{self._sign(session.sid)}"

    def lookup(self, cookie: str | None) -> Session | None:
        sid, _, signature = (cookie or "").partition(".")
        if not sid or not hmac.compare_digest(signature.encode(), self._sign(sid).encode()):
            return None
        session = self._sessions.get(sid)
        now = time.monotonic()
        if session is None or now - session.seen > self.idle:
            self._sessions.pop(sid, None)
            return None
        session.seen = now
        return session

    def create(self, user: str | None = None) -> Session:
        self._evict()
        session = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), user)
        self._sessions[session.sid] = session
        return session

    def drop(self, session: Session) -> None:
        self._sessions.pop(session.sid, None)

    def _evict(self) -> None:
        now = time.monotonic()
        for sid in [s for s, v in self._sessions.items() if now - v.seen > self.idle]:
            del self._sessions[sid]
        if len(self._sessions) >= self.limit:  # anonymous (login page) sessions go first, oldest first
            for sid in [s for s, v in self._sessions.items() if v.user is None][: self.limit // 2]:
                del self._sessions[sid]
        while len(self._sessions) >= self.limit:
            del self._sessions[next(iter(self._sessions))]


class LoginThrottle:
    """At most ``limit`` failed logins per client address in ``window`` seconds."""

    def __init__(self, limit: int = 10, window: float = 900.0) -> None:
        self.limit, self.window = limit, window
        self._failures: dict[str, collections.deque[float]] = {}

    def _recent(self, who: str) -> collections.deque[float]:
        times = self._failures.setdefault(who, collections.deque())
        while times and time.monotonic() - times[0] > self.window:
            times.popleft()
        return times

    def blocked(self, who: str) -> bool:
        return len(self._recent(who)) >= self.limit

    def failed(self, who: str) -> None:
        self._recent(who).append(time.monotonic())

    def succeeded(self, who: str) -> None:
        self._failures.pop(who, None)


def set_session_cookie(request: web.Request, response: web.StreamResponse, session: Session) -> None:
    config: WebConfig = request.app[CONFIG]
    response.set_cookie(COOKIE, request.app[SESSIONS].cookie(session), httponly=True, samesite="Strict",
                        secure=config.secure_cookies or request.secure, path="/")


def redirect(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location})


def csrf_ok(session: Session | None, token: Any) -> bool:
    return (session is not None and isinstance(token, str)
            and hmac.compare_digest(token.encode("utf-8"), session.csrf.encode("ascii")))


def _forbidden(request: web.Request) -> web.Response:
    return message(request, "Form refused", "This form has expired or did not come from this site. Reload the "
                   "page and try again.", status=403)


PUBLIC_PATHS = frozenset({"/login", "/static/app.css", "/static/app.js", "/favicon.ico"})


@web.middleware
async def guard(request: web.Request, handler: Any) -> web.StreamResponse:
    """Sessions, login and CSRF for every request (see the module docstring)."""
    session = request.app[SESSIONS].lookup(request.cookies.get(COOKIE))
    request[SESSION] = session
    if request.path not in PUBLIC_PATHS and (session is None or not session.user):
        if request.method in ("GET", "HEAD") and "application/json" not in request.headers.get("Accept", ""):
            target = request.path_qs if request.path != "/" else ""
            raise web.HTTPSeeOther("/login" + (f"?next={_quote(target)}" if target else ""))
        return message(request, "Log in first", "You are not logged in (or your session expired): log in again.",
                       status=401, links=tag("a", "Log in", href="/login"))
    if request.method == "POST" and request.path != "/upload":  # /upload checks its token while streaming
        form = await request.post()
        if not csrf_ok(session, form.get("csrf")):
            return _forbidden(request)
    return await handler(request)


def _quote(path: str) -> str:
    from urllib.parse import quote

    return quote(path, safe="")


def safe_next(target: str | None) -> str:
    """Only a local path: never ``//host`` or ``https://…`` (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.update(SECURITY_HEADERS)
    response.headers.setdefault("Cache-Control", "no-store")


# -- login -------------------------------------------------------------------------------------------------


def login_page(request: web.Request, session: Session, error: str = "", status: int = 200) -> web.Response:
    config: WebConfig = request.app[CONFIG]
    fields = join([render("login_password") if config.users else "", render("login_token") if config.token else ""])
    body = render("login", error=tag("p", error, class_="message error", id="message") if error else "",
                  csrf=session.csrf, next=safe_next(request.query.get("next")), fields=fields)
    response = page(request, "Log in", body, status)
    set_session_cookie(request, response, session)
    return response


async def login_get(request: web.Request) -> web.StreamResponse:
    session = request[SESSION]
    if session is not None and session.user:
        raise web.HTTPSeeOther("/")
    return login_page(request, session or request.app[SESSIONS].create())


async def login_post(request: web.Request) -> web.StreamResponse:
    config: WebConfig = request.app[CONFIG]
    throttle: LoginThrottle = request.app[THROTTLE]
    session: Session = request[SESSION]
    who = request.remote or "?"
    if throttle.blocked(who):
        return login_page(request, session, "Too many failed logins: wait 15 minutes and try again.", 429)
    form = await request.post()
    user = await asyncio.to_thread(_authenticate, config, form)
    if user is None:
        throttle.failed(who)
        log.warning("failed login from %s", who)
        return login_page(request, session, "Wrong user name or password (or token).", 401)
    throttle.succeeded(who)
    sessions: SessionStore = request.app[SESSIONS]
    sessions.drop(session)
    fresh = sessions.create(user)  # a new id at login: a planted session id is worthless
    log.info("%s logged in from %s", user, who)
    response = redirect(safe_next(str(form.get("next") or "")))
    set_session_cookie(request, response, fresh)
    return response


def _authenticate(config: WebConfig, form: Any) -> str | None:
    token = str(form.get("token") or "")
    if config.token and token:
        given = hashlib.sha256(token.encode("utf-8")).digest()
        return "token user" if hmac.compare_digest(given, hashlib.sha256(config.token.encode()).digest()) else None
    username, password = str(form.get("username") or "").strip(), str(form.get("password") or "")
    if config.users and username and password and check_login(config.users, username, password):
        return username
    return None


async def logout(request: web.Request) -> web.StreamResponse:
    request.app[SESSIONS].drop(request[SESSION])
    response = redirect("/login")
    response.del_cookie(COOKIE, path="/")
    return response


# -- uploads -----------------------------------------------------------------------------------------------


class UploadRefused(Exception):
    """The upload is not a spreadsheet we read; the message says what to do."""


def sniff_upload(path: Path) -> str:
    """The file's type from its content: ``xlsx``, ``xls``, ``ods`` or ``csv``; :class:`UploadRefused` else."""
    with open(path, "rb") as fh:
        head = fh.read(8192)
    if not head:
        raise UploadRefused("The file is empty: export the spreadsheet again.")
    if head.startswith(ZIP_MAGIC):
        return _sniff_zip(path)
    if head.startswith(OLE_MAGIC):
        return "xls"
    low = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if low.startswith((b"<!doctype", b"<html", b"<?xml", b"<table")) or b"<html" in low[:1024]:
        raise UploadRefused("This file is a web page or an XML file, not a spreadsheet: open it in Excel and "
                            "save it as .xlsx.")
    if _looks_like_text(head):
        return "csv"
    raise UploadRefused("This file is not a spreadsheet (its content is neither an Excel or OpenDocument "
                        "workbook nor CSV text), whatever its name says. Upload an .xlsx, .xls, .ods or .csv file.")


def _sniff_zip(path: Path) -> str:
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            if "xl/workbook.xml" in names:
                return "xlsx"
            if "xl/workbook.bin" in names:
                raise UploadRefused("This is an Excel binary workbook (.xlsb), which bulkprov does not read: save "
                                    "it from Excel as .xlsx.")
            if "content.xml" in names and "mimetype" in names and zf.getinfo("mimetype").file_size < 200:
                if zf.read("mimetype").strip() == ODS_MIME:
                    return "ods"
    except (zipfile.BadZipFile, OSError, KeyError, RuntimeError, NotImplementedError):
        raise UploadRefused("This file looks like a workbook but is damaged: open it in Excel and save it "
                            "again as .xlsx.") from None
    raise UploadRefused("This is a zip archive, not an Excel or OpenDocument workbook: upload the .xlsx, "
                        ".ods or .csv file itself.")


@dataclass
class Upload:
    id: str
    path: Path
    name: str  # the user's file name, for display only
    size: int
    user: str
    uploaded: str


def _clean_name(name: str | None) -> str:
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    return base[:200] or "upload"


def _ascii_stem(name: str) -> str:
    stem = name.rsplit(".", 1)[0] if "." in name else name
    return re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._")[:80] or "users"


def find_upload(config: WebConfig, upload_id: str) -> Upload | None:
    if not _UPLOAD_ID.match(upload_id):
        return None
    meta = config.uploads / f"{upload_id}.json"
    try:
        data = json.loads(meta.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    path = config.uploads / f"{upload_id}.{data.get('ext')}"
    if data.get("ext") not in ("xlsx", "xls", "ods", "csv") or not path.is_file():
        return None
    return Upload(upload_id, path, str(data.get("name", "")), int(data.get("size", 0)), str(data.get("user", "")),
                  str(data.get("uploaded", "")))


async def _small_field(part: BodyPartReader, limit: int = 4096) -> str:
    data = b""
    while chunk := await part.read_chunk(1024):
        data += chunk
        if len(data) > limit:
            raise UploadRefused("A form field is too long.")
    return data.decode("utf-8", "replace")


def _too_large(request: web.Request) -> web.Response:
    config: WebConfig = request.app[CONFIG]
    return message(request, "File too large", f"The file is larger than the {_mb(config.max_upload_bytes)} upload "
                   "limit. Split it into smaller files and upload each (or ask the administrator to raise "
                   "--max-upload-mb).", status=413)


def _mb(n: int) -> str:
    return f"{n / 1024 / 1024:g} MB"


async def upload_post(request: web.Request) -> web.StreamResponse:
    """Stream the multipart body: the CSRF field first, then the file, size-capped as it arrives."""
    config: WebConfig = request.app[CONFIG]
    session: Session = request[SESSION]
    if request.content_length is not None and request.content_length > config.max_upload_bytes + FORM_OVERHEAD:
        return _too_large(request)
    try:
        reader = await request.multipart()
    except (AssertionError, ValueError, KeyError):
        return message(request, "Upload refused", "Send the file with the upload form.", status=400)
    fields: dict[str, str] = {}
    temp: Path | None = None
    try:
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                return message(request, "Upload refused", "Send the file with the upload form.", status=400)
            if "csrf" not in fields:  # the token is the form's first field: nothing is stored before it
                if part.name != "csrf" or not csrf_ok(session, await _small_field(part)):
                    return _forbidden(request)
                fields["csrf"] = "ok"
            elif part.name == "file":
                fields["filename"] = _clean_name(part.filename)
                temp = config.uploads / f"{uuid.uuid4().hex}.part"
                if not await _store(part, temp, config.max_upload_bytes):
                    return _too_large(request)
            elif part.name in ("action", "email"):
                fields[part.name] = await _small_field(part)
            else:
                await part.release()
        if temp is None:
            return message(request, "No file", "Choose a spreadsheet to upload.", status=400)
        upload = await asyncio.to_thread(_keep_upload, config, temp, fields["filename"], session.user or "")
        temp = None
    except UploadRefused as exc:
        return message(request, "Upload refused", str(exc), status=415)
    finally:
        if temp is not None:
            temp.unlink(missing_ok=True)
    log.info("%s uploaded %s (%d bytes) as %s", session.user, upload.name, upload.size, upload.path.name)
    action = fields.get("action") if fields.get("action") in ACTIONS else "add"
    email = fields.get("email") if fields.get("email") in EMAIL_CHOICES else "yes"
    raise web.HTTPSeeOther(f"/uploads/{upload.id}?action={action}&email={email}")


async def _store(part: BodyPartReader, temp: Path, cap: int) -> bool:
    """Write the file part to ``temp``; False (and nothing kept) as soon as it passes ``cap`` bytes."""
    temp.parent.mkdir(parents=True, exist_ok=True)
    size = 0
    with open(temp, "wb") as fh:
        while chunk := await part.read_chunk(1 << 16):
            size += len(chunk)
            if size > cap:
                break
            fh.write(chunk)
    if size > cap:
        temp.unlink(missing_ok=True)
        return False
    return True


def _keep_upload(config: WebConfig, temp: Path, name: str, user: str) -> Upload:
    ext = sniff_upload(temp)
    upload_id = temp.stem
    path = temp.with_name(f"{upload_id}.{ext}")
    os.replace(temp, path)
    upload = Upload(upload_id, path, name, path.stat().st_size, user,
                    dt.datetime.now().astimezone().isoformat(timespec="seconds"))
    meta = {"name": name, "ext": ext, "size": upload.size, "user": user, "uploaded": upload.uploaded}
    (config.uploads / f"{upload_id}.json").write_text(json.dumps(meta), encoding="utf-8")
    return upload


# -- the check: validation report and preview ----------------------------------------------------------------


@dataclass
class Preview:
    rows: int = 0
    invalid: int = 0
    errors: list[RowError] = field(default_factory=list)
    error_count: int = 0
    warnings: list[str] = field(default_factory=list)
    plan: list[str] = field(default_factory=list)
    problem: InputError | None = None  # the file cannot be used at all


def job_settings(config: WebConfig, action: str, email: str, **changes: Any) -> JobSettings:
    return dataclasses.replace(config.job, command=action, send_email=email != "no", state_dir=config.state_dir,
                               **changes)


def preview(path: Path, settings: JobSettings) -> Preview:
    """What ``bulkprov ACTION FILE --dry-run`` finds and plans, for the page."""
    try:
        table = load(path, settings)
        checked = check_rows(table, settings)
        plan = dry_run_plan(checked.rows, settings)
    except InputError as exc:
        return Preview(problem=exc)
    result = Preview(rows=len(checked.rows), plan=plan, warnings=[w.message for w in table.warnings])
    for row in checked.rows:
        if row.errors:
            result.invalid += 1
            result.error_count += len(row.errors)
            result.errors.extend(row.errors[: max(0, MAX_ERRORS_SHOWN - len(result.errors))])
    return result


async def upload_report(request: web.Request) -> web.StreamResponse:
    config: WebConfig = request.app[CONFIG]
    upload = find_upload(config, request.match_info["upload_id"])
    if upload is None:
        return message(request, "Not found", "There is no such upload.", status=404)
    action = request.query.get("action", "add")
    action = action if action in ACTIONS else "add"
    email = "no" if request.query.get("email") == "no" else "yes"
    key = (upload.id, action, email)
    cache: collections.OrderedDict = request.app[PREVIEWS]
    if key not in cache:
        cache[key] = await asyncio.to_thread(preview, upload.path, job_settings(config, action, email, dry_run=True))
        while len(cache) > 32:
            cache.popitem(last=False)
    result: Preview = cache[key]
    content = (_problem_block(result.problem) if result.problem
               else _checked_block(request, upload, action, email, result))
    body = render("report", filename=upload.name, size=_size(upload.size), uploader=upload.user,
                  uploaded=upload.uploaded.replace("T", " "), upload_id=upload.id,
                  actions=options(ACTIONS, action), emails=options(EMAIL_CHOICES, email), content=content)
    return page(request, "Check: " + upload.name, body)


def _size(n: int) -> str:
    return f"{n:,} bytes" if n < 10_000 else f"{n / 1024:,.0f} KB" if n < 10_000_000 else f"{n / 1024 / 1024:,.1f} MB"


def _problem_block(problem: InputError) -> Markup:
    return tag("p", Markup(f"This file cannot be used: {esc(problem.message)} "
                           f"<span class=\"code\">[{esc(problem.code)}]</span>"), class_="message error", id="message")


def _checked_block(request: web.Request, upload: Upload, action: str, email: str, result: Preview) -> Markup:
    valid = result.rows - result.invalid
    warnings = join(tag("li", w) for w in result.warnings)
    errors = Markup("")
    if result.errors:
        rows = join(Markup(f"<tr>{tag('td', e.row, class_='num')}{tag('td', e.column)}"
                           f"{tag('td', e.value, class_='value')}{tag('td', e.message)}"
                           f"{tag('td', e.code, class_='code')}</tr>") for e in result.errors)
        more = (tag("p", f"… and {result.error_count - len(result.errors):,} more: every one is in the result "
                    "workbook's Failures sheet.", class_="hint") if result.error_count > len(result.errors) else "")
        errors = Markup(f'<section id="errors" class="card"><h2>Problems to fix ({result.error_count:,} in '
                        f'{result.invalid:,} rows)</h2><table id="error-table"><thead><tr><th>row</th><th>column</th>'
                        f'<th>value</th><th>problem</th><th>code</th></tr></thead><tbody>{rows}</tbody></table>'
                        f'{more}</section>')
    note = (f"The {result.invalid:,} invalid rows will not be sent: they come back in the Failures file, to fix and "
            "upload again." if result.invalid else "Every row is valid.")
    running = request.app[JOBS].running()
    if valid == 0:
        run_form = tag("p", "Nothing to send: fix the rows above and upload the file again.", class_="message warning")
    elif running is not None:
        run_form = Markup(f'<p class="message warning">A run is in progress: '
                          f'{tag("a", "follow it here", href=f"/jobs/{running.id}")}; start this one when it has '
                          'finished.</p>')
    else:
        session: Session = request[SESSION]
        run_form = render("run_form", upload_id=upload.id, csrf=session.csrf, action=action, email=email, mode="",
                          button_id="run", button_class="", label=f"Run: {action} {valid:,} users")
    return render("report_checked", rows=f"{result.rows:,}", valid=f"{valid:,}", invalid=f"{result.invalid:,}",
                  invalid_class="bad" if result.invalid else "ok",
                  warnings=tag("ul", warnings, class_="warnings") if result.warnings else "",
                  errors=errors, plan=join(tag("li", line) for line in result.plan), invalid_note=note,
                  run_form=run_form)


# -- runs ------------------------------------------------------------------------------------------------------


@dataclass
class Job:
    """One run started from the page; progress arrives from the run's thread."""

    id: str
    upload: Upload
    action: str
    email: str
    user: str
    started: float = field(default_factory=time.time)
    state: str = "running"  # running | finished | failed
    progress: dict[str, Any] = field(default_factory=dict)
    outcome: JobOutcome | None = None
    error: str = ""
    error_code: str = ""
    attention: list[list[str]] = field(default_factory=list)  # the first failed/invalid rows, for the page
    thread: threading.Thread | None = None

    def update(self, progress: dict[str, Any]) -> None:  # called from the run's thread
        self.progress = dict(progress)

    def phase(self) -> str:
        if self.state == "finished":
            return "Finished."
        if self.state == "failed":
            return "The run did not start." if not self.progress else "The run failed."
        if not self.progress:
            return "Checking the file and sending the first requests…"
        if self.progress.get("final"):
            return "Writing the result workbook…"
        return "Sending to Kore.ai…"

    def percent(self) -> int:
        if self.state == "finished":
            return 100
        total, done = self.progress.get("total", 0), self.progress.get("done", 0)
        if not total:
            return 100 if self.progress.get("final") else 0
        return min(100, int(100 * done / total))

    def status(self) -> dict[str, Any]:
        eta = self.progress.get("eta")
        eta_text = "—" if self.state != "running" else _duration(eta) if eta is not None else "…"
        return {"state": self.state, "phase": self.phase(), "percent": self.percent(),
                "done": self.progress.get("done", 0), "failed": self.progress.get("failed", 0),
                "total": self.progress.get("total", 0), "requests": self.progress.get("requests", 0),
                "eta": eta, "eta_text": eta_text, "error": self.error}


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


class Jobs:
    """The runs started by this server, newest last; at most one running."""

    def __init__(self, keep: int = 100) -> None:
        self._jobs: collections.OrderedDict[str, Job] = collections.OrderedDict()
        self.keep = keep
        self.lock = threading.Lock()

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def running(self) -> Job | None:
        return next((j for j in self._jobs.values() if j.state == "running"), None)

    def start(self, job: Job, settings: JobSettings, credentials: Any) -> bool:
        with self.lock:
            if self.running() is not None:
                return False
            self._jobs[job.id] = job
            while len(self._jobs) > self.keep:
                self._jobs.popitem(last=False)
        job.thread = threading.Thread(target=_run_job, args=(job, settings, credentials),
                                      name=f"bulkprov-run-{job.id[:8]}")
        job.thread.start()
        return True


def _run_job(job: Job, settings: JobSettings, credentials: Any) -> None:
    """The run's thread: its own event loop, so the page stays responsive while the run reads and writes."""
    try:
        outcome = asyncio.run(run_job_async(job.upload.path, settings, credentials=credentials,
                                            progress=job.update))
    except InputError as exc:
        job.error, job.error_code = exc.message, exc.code
        job.state = "failed"
        log.warning("run of %s refused: %s [%s]", job.upload.path.name, exc.message, exc.code)
    except RunAborted as exc:
        job.error, job.error_code = f"The run stopped before changing anything: {exc}", "aborted"
        job.state = "failed"
    except Exception:
        log.exception("run of %s failed", job.upload.path.name)
        job.error, job.error_code = "The run failed unexpectedly; the server log has the details.", "internal"
        job.state = "failed"
    else:
        job.outcome = outcome
        try:
            job.attention = attention_rows(outcome.results_path)
        except Exception:  # noqa: BLE001 - the page can live without the list; the workbook has it
            log.exception("could not read back %s", outcome.results_path.name)
        job.state = "finished"
        log.info("run %s of %s finished: %s", outcome.summary.run_id, job.upload.path.name,
                 dict(outcome.summary.status_totals()))


def attention_rows(results: Path, limit: int = MAX_ERRORS_SHOWN) -> list[list[str]]:
    """Row, key, status and reason of the first failed, invalid or not attempted rows of a result workbook."""
    from python_calamine import CalamineWorkbook

    book = CalamineWorkbook.from_path(str(results))
    out: list[list[str]] = []
    try:
        rows = book.get_sheet_by_name("Results").iter_rows()
        header = [str(h) for h in next(rows)]
        col = {name: header.index(name) for name in ("row", "emailId", "orgUserId", "status", "reason")}
        for cells in rows:
            if cells[col["status"]] in FAILED_STATUSES:
                row = cells[col["row"]]
                out.append([str(int(row)) if isinstance(row, float) else str(row),
                            str(cells[col["emailId"]] or cells[col["orgUserId"]]), str(cells[col["status"]]),
                            str(cells[col["reason"]])])
                if len(out) >= limit:
                    break
    finally:
        book.close()
    return out


async def run_post(request: web.Request) -> web.StreamResponse:
    config: WebConfig = request.app[CONFIG]
    jobs: Jobs = request.app[JOBS]
    session: Session = request[SESSION]
    upload = find_upload(config, request.match_info["upload_id"])
    if upload is None:
        return message(request, "Not found", "There is no such upload.", status=404)
    form = await request.post()
    action = str(form.get("action") or "add")
    email = "no" if form.get("email") == "no" else "yes"
    mode = str(form.get("mode") or "")
    if action not in ACTIONS or mode not in ("", "resume", "force"):
        return message(request, "Bad request", "Unknown action.", status=400)
    running = jobs.running()
    if running is not None:
        return _busy(request, running)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    output = config.results / f"{upload.id}.{action}-results-{stamp}.xlsx"
    config.results.mkdir(parents=True, exist_ok=True)
    settings = job_settings(config, action, email, output=output, resume=mode == "resume", force=mode == "force",
                            command_line=f"bulkprov serve: {action} by {session.user}")
    job = Job(uuid.uuid4().hex, upload, action, email, session.user or "")
    if not jobs.start(job, settings, config.credentials):
        return _busy(request, jobs.running())
    log.info("%s started %s of %s (job %s)", session.user, action, upload.path.name, job.id)
    raise web.HTTPSeeOther(f"/jobs/{job.id}")


def _busy(request: web.Request, running: Job | None) -> web.Response:
    link = tag("a", "Follow the run in progress", href=f"/jobs/{running.id}") if running else tag("a", "Runs",
                                                                                                  href="/runs")
    return message(request, "A run is in progress", "Another run is in progress for this Kore.ai account. One run "
                   "at a time: wait for it to finish, then press Run again.", status=409, kind="warning", links=link)


async def job_page(request: web.Request) -> web.StreamResponse:
    job = request.app[JOBS].get(request.match_info["job_id"])
    if job is None:
        return message(request, "Not found", "There is no such run (runs started before the server restarted are "
                       "on the Runs page).", status=404, links=tag("a", "Runs", href="/runs"))
    status = job.status()
    outcome = _finished_block(job) if job.state == "finished" else _failed_block(request, job) if job.error else ""
    body = render("job", what=f"{ACTIONS[job.action].capitalize()}: {job.upload.name}, started by {job.user}.",
                  job_id=job.id, state=job.state, phase=status["phase"], percent=status["percent"],
                  done=f"{status['done']:,}", failed=f"{status['failed']:,}", total=f"{status['total']:,}",
                  requests=f"{status['requests']:,}", eta=status["eta_text"], outcome=outcome)
    return page(request, "Run", body)


def _finished_block(job: Job) -> Markup:
    assert job.outcome is not None
    summary = job.outcome.summary
    totals = summary.status_totals()
    bad = sum(totals[s] for s in FAILED_STATUSES)
    rows = join(Markup(f"<tr>{tag('td', s)}{tag('td', f'{n:,}', class_='num')}</tr>") for s, n in sorted(totals.items()))
    run = summary.run_id
    downloads = [tag("a", "Download the result workbook", href=f"/runs/{run}/results.xlsx", id="download-results",
                     download="")]
    if bad:
        downloads.append(tag("a", f"Download the {bad:,} failed rows to fix and upload again",
                             href=f"/runs/{run}/failures.xlsx", id="download-failures", download=""))
    if job.outcome.undo_path is not None:
        downloads.append(tag("a", "Download the undo file", href=f"/runs/{run}/undo.xlsx", id="download-undo",
                             download=""))
    notes = join(tag("li", w) for w in summary.warnings)
    attention = Markup("")
    if job.attention:
        cells = join(Markup(f"<tr>{tag('td', r[0], class_='num')}{tag('td', r[1], class_='value')}{tag('td', r[2])}"
                            f"{tag('td', r[3])}</tr>") for r in job.attention)
        more = (tag("p", f"… and {bad - len(job.attention):,} more in the failures file.", class_="hint")
                if bad > len(job.attention) else "")
        attention = Markup(f'<h2>Rows that need attention</h2><table id="attention"><thead><tr><th>row</th>'
                           f'<th>user</th><th>status</th><th>reason</th></tr></thead><tbody>{cells}</tbody>'
                           f'</table>{more}')
    headline = ("Done: every row succeeded." if not bad and not summary.aborted else
                f"Done: {bad:,} rows need attention." if not summary.aborted else "The run stopped early.")
    return render("job_finished", headline=headline,
                  aborted=tag("p", f"Stopped: {summary.aborted}", class_="message error") if summary.aborted else "",
                  totals=rows, notes=tag("ul", notes, class_="hint") if summary.warnings else "",
                  downloads=join(downloads), attention=attention)


def _failed_block(request: web.Request, job: Job) -> Markup:
    session: Session = request[SESSION]
    text = job.error
    extra = Markup("")
    if job.error_code == "state-locked":
        text = ("Another bulkprov run (from this page or the command line) is using this account's state directory. "
                f"Wait for it to finish, then press Run again. Details: {job.error}")
    elif job.error_code == "interrupted-run":
        text = ("An earlier run of this same file did not finish (the server stopped during it). Resume it to send "
                "only the rows it had not done, or start a new run anyway.")
        common = {"upload_id": job.upload.id, "csrf": session.csrf, "action": job.action, "email": job.email}
        extra = join([render("run_form", mode="resume", button_id="resume", button_class="",
                             label="Resume the interrupted run", **common),
                      render("run_form", mode="force", button_id="force", button_class="secondary",
                             label="Start a new run anyway", **common)])
    return Markup(f'<section id="outcome" class="card">{tag("p", text, class_="message error", id="message")}'
                  f'{extra}</section>')


async def job_progress(request: web.Request) -> web.StreamResponse:
    job = request.app[JOBS].get(request.match_info["job_id"])
    if job is None:
        return web.json_response({"error": "no such run"}, status=404)
    return web.json_response(job.status())


async def runs_page(request: web.Request) -> web.StreamResponse:
    config: WebConfig = request.app[CONFIG]
    jobs: Jobs = request.app[JOBS]
    try:
        runs = await asyncio.to_thread(list_runs, config.state_dir)
    except InputError:
        runs = []
    rows = []
    for run in reversed(runs):
        upload = find_upload(config, Path(run.input_path).stem)
        name = upload.name if upload and Path(run.input_path).parent == config.uploads else Path(run.input_path).name
        counts = ", ".join(f"{n:,} {s}" for s, n in sorted(run.counts.items())) or "—"
        links = []
        if _own_result(config, run.results_path):
            links.append(tag("a", "results", href=f"/runs/{run.id}/results.xlsx", download=""))
            if any(run.counts.get(s) for s in FAILED_STATUSES):
                links.append(tag("a", "failures", href=f"/runs/{run.id}/failures.xlsx", download=""))
        rows.append(Markup(f'<tr id="run-{esc(run.id)}">{tag("td", run.started.replace("T", " "))}{tag("td", name)}'
                           f'{tag("td", run.command)}{tag("td", run.state)}{tag("td", counts)}'
                           f'{tag("td", Markup(" · ".join(links)) if links else "—")}</tr>'))
    running = jobs.running()
    notice = (Markup(f'<p class="message info">A run is in progress: '
                     f'{tag("a", running.upload.name, href=f"/jobs/{running.id}")}.</p>') if running else "")
    body = render("runs", running=notice, rows=join(rows),
                  empty=tag("p", "No runs yet.", class_="hint") if not rows else "")
    return page(request, "Runs", body)


def _own_result(config: WebConfig, results_path: str | None) -> Path | None:
    """A result file this server wrote (under STATE_DIR/results), or None: never any other path."""
    if not results_path:
        return None
    path = Path(results_path).resolve()
    if not path.is_relative_to(config.results.resolve()) or path.suffix != ".xlsx" or not path.is_file():
        return None
    return path


def _run_results(config: WebConfig, run_id: str) -> tuple[Path, str] | None:
    """The result workbook of a ledger run and the file name to offer, or None."""
    from bulkprov.ledger import Ledger

    if not _RUN_ID.match(run_id) or not (config.state_dir / "ledger.sqlite3").is_file():
        return None
    with contextlib.closing(Ledger(config.state_dir)) as ledger:
        try:
            info = ledger.run(run_id)
        except InputError:
            return None
    path = _own_result(config, info.results_path)
    if path is None:
        return None
    upload = find_upload(config, Path(info.input_path).stem)
    stem = _ascii_stem(upload.name) if upload else "users"
    return path, path.name.replace(Path(info.input_path).stem, stem, 1)


async def run_download(request: web.Request) -> web.StreamResponse:
    config: WebConfig = request.app[CONFIG]
    kind = request.match_info["kind"]
    found = await asyncio.to_thread(_run_results, config, request.match_info["run_id"])
    if found is None:
        return message(request, "Not found", "There is no result workbook for this run.", status=404)
    path, name = found
    if kind == "failures":
        path = await asyncio.to_thread(failures_workbook, path)
        name = name.replace("-results-", "-failures-", 1)
    elif kind == "undo":
        from bulkprov.undo import undo_path

        path = undo_path(path)
        name = name[: -len(".xlsx")] + ".undo.xlsx"
        if not path.is_file():
            return message(request, "Not found", "This run left no undo file.", status=404)
    return download(path, name)


def download(path: Path, name: str) -> web.FileResponse:
    return web.FileResponse(path, headers={"Content-Type": XLSX_TYPE,
                                           "Content-Disposition": f'attachment; filename="{name}"'})


def failures_workbook(results: Path) -> Path:
    """The result workbook's Failures sheet as a workbook of its own (text cells), to fix and upload again."""
    out = results.with_name(results.stem + ".failures.xlsx")
    if out.is_file() and out.stat().st_mtime >= results.stat().st_mtime:
        return out
    import xlsxwriter
    from python_calamine import CalamineWorkbook

    book = CalamineWorkbook.from_path(str(results))
    try:
        rows = book.get_sheet_by_name("Failures").to_python()
    finally:
        book.close()
    temp = out.with_name(out.name + ".tmp")
    wb = xlsxwriter.Workbook(str(temp), {"strings_to_formulas": False, "strings_to_numbers": False,
                                         "strings_to_urls": False})
    ws = wb.add_worksheet("Failures")
    head = wb.add_format({"bold": True, "font_color": "#FFFFFF", "bg_color": "#C00000", "border": 1})
    text = wb.add_format({"num_format": "@"})
    width = len(rows[0]) if rows else 0
    ws.set_column(0, max(0, width - 1), 18, text)
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            cell = "" if value is None else str(value)
            if cell:
                ws.write_string(r, c, cell, head if r == 0 else None)
    ws.freeze_panes(1, 0)
    wb.close()
    os.replace(temp, out)
    return out


# -- the other pages -----------------------------------------------------------------------------------------


async def index(request: web.Request) -> web.StreamResponse:
    config: WebConfig = request.app[CONFIG]
    session: Session = request[SESSION]
    running = request.app[JOBS].running()
    notice = (Markup(f'<p class="message info">A run is in progress: '
                     f'{tag("a", running.upload.name, href=f"/jobs/{running.id}")}.</p>') if running else "")
    body = render("upload", csrf=session.csrf, actions=options(ACTIONS, "add"),
                  emails=options(EMAIL_CHOICES, "yes" if config.job.send_email else "no"),
                  max_mb=f"{config.max_upload_bytes / 1024 / 1024:g}", max_bytes=config.max_upload_bytes,
                  running=notice)
    return page(request, "Upload users", body)


async def template_download(request: web.Request) -> web.StreamResponse:
    from bulkprov.template import write_template

    config: WebConfig = request.app[CONFIG]
    fmt = request.match_info["fmt"]
    path = config.state_dir / "template" / f"users-template.{fmt}"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(write_template, path)
    content_type = XLSX_TYPE if fmt == "xlsx" else "text/csv; charset=utf-8"
    return web.FileResponse(path, headers={"Content-Type": content_type,
                                           "Content-Disposition": f'attachment; filename="users-template.{fmt}"'})


async def static(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    kinds = {"app.js": "text/javascript", "app.css": "text/css"}
    return web.Response(body=(TEMPLATES / name).read_bytes(), content_type=kinds[name], charset="utf-8")


async def favicon(request: web.Request) -> web.StreamResponse:
    return web.Response(status=204)


async def not_found(request: web.Request) -> web.StreamResponse:
    return message(request, "Not found", "There is no such page.", status=404)


# -- the app -------------------------------------------------------------------------------------------------


CONFIG: web.AppKey[WebConfig] = web.AppKey("config")
SESSIONS: web.AppKey[SessionStore] = web.AppKey("sessions")
THROTTLE: web.AppKey[LoginThrottle] = web.AppKey("throttle")
JOBS: web.AppKey[Jobs] = web.AppKey("jobs")
PREVIEWS: web.AppKey[collections.OrderedDict] = web.AppKey("previews")
# Per-request storage: RequestKey where this aiohttp has it (3.13+), a plain key before.
SESSION: Any = web.RequestKey("session", object) if hasattr(web, "RequestKey") else "session"


def create_app(config: WebConfig) -> web.Application:
    app = web.Application(middlewares=[guard], client_max_size=1024 * 1024)
    app[CONFIG] = config
    app[SESSIONS] = SessionStore(config.session_idle)
    app[THROTTLE] = LoginThrottle()
    app[JOBS] = Jobs()
    app[PREVIEWS] = collections.OrderedDict()
    config.uploads.mkdir(parents=True, exist_ok=True)
    config.results.mkdir(parents=True, exist_ok=True)
    app.on_response_prepare.append(security_headers)
    app.router.add_get("/", index)
    app.router.add_get("/login", login_get)
    app.router.add_post("/login", login_post)
    app.router.add_post("/logout", logout)
    app.router.add_post("/upload", upload_post)
    app.router.add_get("/uploads/{upload_id}", upload_report)
    app.router.add_post("/uploads/{upload_id}/run", run_post)
    app.router.add_get("/jobs/{job_id}", job_page)
    app.router.add_get("/jobs/{job_id}/progress", job_progress)
    app.router.add_get("/runs", runs_page)
    app.router.add_get("/runs/{run_id}/{kind:results|failures|undo}.xlsx", run_download)
    app.router.add_get("/template.{fmt:xlsx|csv}", template_download)
    app.router.add_get("/static/{name:app\\.js|app\\.css}", static)
    app.router.add_get("/favicon.ico", favicon)
    app.router.add_route("*", "/{tail:.*}", not_found)
    return app


class AccessLog(AbstractAccessLogger):
    """One line per request: address, method, path (no query string), status, time; progress polls are not logged."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        if request.path.endswith("/progress") and response.status == 200:
            return
        self.logger.info("%s %s %s %s %.3fs", request.remote, request.method, request.path, response.status, time)


def serve(config: WebConfig, bind: str = "127.0.0.1", port: int = 8080) -> None:
    """``bulkprov serve``: until Ctrl-C or SIGTERM.  A run in progress finishes before the process exits."""
    app = create_app(config)
    print(f"bulkprov serve: http://{bind}:{port}/ (Kore.ai host {config.job.host}, state directory "
          f"{config.state_dir}, uploads up to {_mb(config.max_upload_bytes)})", flush=True)
    web.run_app(app, host=bind, port=port, print=None, access_log=logging.getLogger("bulkprov.web.access"),
                access_log_class=AccessLog)


def read_new_password(stdin: Any, tty: bool) -> str:
    """``bulkprov hash-password``: asked twice on a terminal, else the first line of stdin."""
    import getpass

    if tty:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            raise InputError("usage", "the two passwords differ")
    else:
        password = stdin.readline().rstrip("\r\n")
    if len(password) < 8:
        raise InputError("usage", "the password must be at least 8 characters long")
    return password
