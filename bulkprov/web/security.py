"""The page's security mechanisms: password hashes, sessions, login throttling, CSRF, redirects, headers.

* **Passwords** are ``scrypt$N$r$p$salt$hash`` (stdlib :func:`hashlib.scrypt`, made by ``bulkprov
  hash-password``); comparisons use :func:`hmac.compare_digest`; an unknown user costs the same
  scrypt as a known one.
* **Sessions**: a random id signed with a per-process HMAC key, in an ``HttpOnly``,
  ``SameSite=Strict`` cookie; the session itself stays in server memory; a new id at login.
* **CSRF**: each session has a random token, in a hidden field of every form; every POST is refused
  unless the field matches.
* **Headers** on every response: a Content-Security-Policy allowing only this origin's script and
  style, no framing, form posts only to this origin, ``nosniff``, no referrer, ``no-store``.
"""

from __future__ import annotations

import base64
import collections
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bulkprov.errors import BadConfig

SECURITY_HEADERS = {
    # base-uri and object-src: default-src does not cover a <base> (which would move every relative link and
    # form, the language switch's too) and 'none' is tighter than 'self' for plugins.
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
                               "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1



def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=32,
                          maxmem=256 * n * r * p + (1 << 20))


def hash_password(password: str, *, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> str:
    """``scrypt$N$r$p$salt$hash`` (salt and hash base64url): what ``bulkprov hash-password`` prints."""
    salt = secrets.token_bytes(16)
    return f"scrypt${n}${r}${p}${b64(salt)}${b64(_scrypt(password, salt, n, r, p))}"


def parse_hash(encoded: str) -> tuple[int, int, int, bytes, bytes]:
    """The parts of a hash; ValueError when it is not one we make (or its cost is absurd)."""
    scheme, n, r, p, salt, digest = encoded.split("$")
    n_, r_, p_ = int(n), int(r), int(p)
    if scheme != "scrypt" or not (2**10 <= n_ <= 2**20 and n_ & (n_ - 1) == 0 and 1 <= r_ <= 32 and 1 <= p_ <= 16):
        raise ValueError("not a scrypt hash with sane parameters")
    return n_, r_, p_, unb64(salt), unb64(digest)


def verify_password(password: str, encoded: str) -> bool:
    try:
        n, r, p, salt, digest = parse_hash(encoded)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(_scrypt(password, salt, n, r, p), digest)


_DUMMY_HASH = "scrypt$32768$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"


def _dummy_hash(users: dict[str, str]) -> str:
    """A hash no password matches, with the cost parameters most of ``users`` have (hashes made by an older
    version, or with other parameters, cost what theirs cost: an unknown name must cost the same)."""
    costs = collections.Counter()
    for encoded in users.values():
        try:
            costs[parse_hash(str(encoded))[:3]] += 1
        except (ValueError, TypeError):
            continue
    if not costs:
        return _DUMMY_HASH
    n, r, p = costs.most_common(1)[0][0]
    return f"scrypt${n}${r}${p}$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"


def check_login(users: dict[str, str], username: str, password: str) -> bool:
    """Same scrypt work whether or not the user exists (no user enumeration by timing)."""
    encoded = users.get(username)
    ok = verify_password(password, encoded or _dummy_hash(users))
    return ok and encoded is not None



@dataclass
class Session:
    sid: str
    csrf: str
    user: str | None = None
    seen: float = field(default_factory=time.monotonic)
    role: str = ""            # viewer | operator | approver (bulkprov.web.roles)
    address: str = ""         # where the login came from, for the audit trail
    lang: str = ""            # the language picked on the page ("": the browser's Accept-Language decides)
    method: str = "password"  # password | token | oidc: how the person proved who they are
    groups: list[str] = field(default_factory=list)  # single sign-on: the groups the provider last said
    refreshed: float | None = None  # single sign-on: when the provider last confirmed them (the store's clock)


SID = re.compile(r"^[A-Za-z0-9_-]{20,64}$")


class SessionStore:
    """Server-side sessions of logged-in users only; the cookie carries only ``id.signature``.

    The login form needs no session (:class:`LoginForms`), so the only way to create one is a
    successful login, which the throttle bounds; and one account (the shared token too) holds at most
    ``per_user`` sessions, so logging in over and over never pushes other people's sessions out.  Any
    malformed cookie — wrong shape, bad signature, non-ASCII — is simply "no session".
    """

    def __init__(self, idle: float, limit: int = 10_000, per_user: int = 50,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.key = secrets.token_bytes(32)
        self.clock = clock  # monotonic: its origin is boot, so only differences mean anything
        self.idle = idle
        self.limit = limit
        self.per_user = per_user  # one account's logins push out only that account's oldest sessions
        self._sessions: dict[str, Session] = {}

    def _sign(self, sid: str) -> str:
        return b64(hmac.new(self.key, sid.encode("ascii"), hashlib.sha256).digest())

    def cookie(self, session: Session) -> str:
        return f"{session.sid}.{self._sign(session.sid)}"

    def lookup(self, cookie: str | None) -> Session | None:
        sid, _, signature = (cookie or "").partition(".")
        if not SID.match(sid) or not signature.isascii():
            return None
        if not hmac.compare_digest(signature.encode("ascii"), self._sign(sid).encode("ascii")):
            return None
        session = self._sessions.get(sid)
        now = self.clock()
        if session is None or now - session.seen > self.idle:
            self._sessions.pop(sid, None)
            return None
        session.seen = now
        return session

    def create(self, user: str, role: str = "", address: str = "") -> Session:
        who = user.casefold()  # this account's oldest sessions make room first, then the least recently seen
        mine = sorted((v.seen, sid) for sid, v in self._sessions.items() if (v.user or "").casefold() == who)
        for _seen, sid in mine[: max(0, len(mine) - self.per_user + 1)]:
            del self._sessions[sid]
        self._evict()
        session = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), user, role=role, address=address,
                          seen=self.clock())
        self._sessions[session.sid] = session
        return session

    def drop(self, session: Session | None) -> None:
        if session is not None:
            self._sessions.pop(session.sid, None)

    def _evict(self) -> None:
        now = self.clock()
        for sid in [s for s, v in self._sessions.items() if now - v.seen > self.idle]:
            del self._sessions[sid]
        while len(self._sessions) >= self.limit:  # the least recently seen go first
            oldest = min(self._sessions, key=lambda s: self._sessions[s].seen)
            del self._sessions[oldest]


class LoginForms:
    """CSRF for the login form without server state: a signed double-submit token.

    ``GET /login`` sets a cookie holding ``nonce.time.signature``; the form carries
    ``HMAC(key, "form" + nonce)``.  A POST is accepted only when the cookie's signature holds, it is
    younger than ``max_age`` and the form's token matches the cookie's nonce.  Nothing is stored, so a
    flood of login-page requests cannot push a real user's form out of anything.
    """

    COOKIE = "bulkprov_login"

    def __init__(self, max_age: float = 3600.0) -> None:
        self.key = secrets.token_bytes(32)
        self.max_age = max_age

    def _mac(self, *parts: str) -> str:
        return b64(hmac.new(self.key, "\0".join(parts).encode("ascii"), hashlib.sha256).digest())

    def issue(self) -> tuple[str, str]:
        """(cookie value, form token)."""
        nonce, stamp = secrets.token_urlsafe(24), str(int(time.time()))
        return f"{nonce}.{stamp}.{self._mac('cookie', nonce, stamp)}", self._mac("form", nonce)

    def form_token(self, cookie: str | None) -> str | None:
        """The form token that goes with a still-valid cookie (to re-show the form), or None."""
        nonce, stamp, mac = ((cookie or "").split(".") + ["", "", ""])[:3]
        if not SID.match(nonce) or not stamp.isdigit() or not mac.isascii() or len(stamp) > 12:
            return None
        if not hmac.compare_digest(mac.encode("ascii"), self._mac("cookie", nonce, stamp).encode("ascii")):
            return None
        if not 0 <= time.time() - int(stamp) <= self.max_age:
            return None
        return self._mac("form", nonce)

    def check(self, cookie: str | None, token: Any) -> bool:
        expected = self.form_token(cookie)
        return (expected is not None and isinstance(token, str) and token.isascii()
                and hmac.compare_digest(token.encode("ascii"), expected.encode("ascii")))


def csrf_ok(session: Session | None, token: Any) -> bool:
    return (session is not None and isinstance(token, str) and token.isascii()
            and hmac.compare_digest(token.encode("ascii"), session.csrf.encode("ascii")))


# An on-site path: "/" then path characters, never a second "/" or "\\" right after it (a browser
# reads "//host" and "/\\host" as another site, and drops tabs and newlines before deciding), no
# control characters, no spaces, no backslashes, no scheme.
_NEXT = re.compile(r"^/(?![/\\])[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*$")


def safe_next(target: str | None) -> str:
    """Only a local path of a strict shape; anything else is ``/`` (no open redirect)."""
    if not target or len(target) > 2000:
        return "/"
    normalised = re.sub(r"[\t\n\r]", "", target)  # what a browser strips before reading a URL
    if normalised != target or not _NEXT.match(target):
        return "/"
    return target


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.update(SECURITY_HEADERS)
    response.headers["Server"] = "bulkprov"  # no version banner
    response.headers.setdefault("Cache-Control", "no-store")


def read_new_password(stdin: Any, tty: bool) -> str:
    """``bulkprov hash-password``: asked twice on a terminal, else the first line of stdin."""
    import getpass

    if tty:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            raise BadConfig("password-mismatch")
    else:
        password = stdin.readline().rstrip("\r\n")
    if len(password) < 8:
        raise BadConfig("password-short")
    return password

