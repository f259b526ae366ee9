"""The Kore.ai admin user-management API, one HTTP call at a time.

:class:`KoreClient` makes exactly one request per method call and reports exactly what
happened; it never retries, sleeps or splits batches -- that is the dispatcher's job, and it
can only do it well if every call ends in one of two precise shapes:

* :class:`CallResult` -- the server answered about the users.  ``outcomes`` holds one
  :class:`UserOutcome` for *every* user of the request, keyed by ``key.casefold()``: users named
  in ``failedUserDetails`` failed with the server's reason, the others succeeded (the API's
  documented contract).  Failure entries that match no requested user are kept in
  ``unmatched``, never dropped.  A 4xx reply that carries per-user details is a result too:
  some (or all) users were refused, the request as a whole was understood.
* :class:`CallFailed` -- the call as a whole failed, with a ``kind`` that tells the dispatcher
  what to do next:

  ============  ========================================================  ===================
  kind          when                                                      dispatcher
  ============  ========================================================  ===================
  auth          HTTP 401 / 403                                            abort the run
  rate          HTTP 429, or the rate-limit message in any 4xx body       wait, retry
  transient     HTTP 5xx; a reply that is not JSON (proxy / HTML page);   back off, retry
                could not connect (``sent=False``: nothing reached it)
  permanent     other 4xx without per-user details (``{"errors": ...}``)  split the batch
  ambiguous     timeout, or the connection dropped after sending: the     ask usersInfo,
                server may or may not have acted on it                    never re-create
  ============  ========================================================  ===================

The decision is made by two pure functions, :func:`classify` (status, headers, body text ->
result or failure) and :func:`classify_exception` (transport exception -> failure), so the
whole table is unit-testable without a network.  The HTTP exchange itself lives in one
private method, :meth:`KoreClient._exchange`, the seam tests may replace.

Reply parsing is deliberately forgiving, because the API's failure shapes are loosely
documented: reasons may be a string, an object with ``message``, or ``errors: [{msg}]``; the
server may echo emails in another case (matching uses ``casefold``); usersInfo returns found
users and failure entries mixed in one array.  Reason messages map to stable codes
(``already-exists``, ``not-found``, ``invalid-email``, else ``server-refused``).

Security: ``https://`` is required except for loopback hosts (the emulator); redirects are
never followed (the ``auth`` header is a custom one that HTTP clients do not strip on a
cross-host redirect); every request carries a fresh token; no message or log line contains a
token or a secret (anything that looks like a JWT is redacted from server messages too).
"""

from __future__ import annotations

import email.utils
import ipaddress
import json
import logging
import math
import re
import time
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from bulkprov import __version__
from bulkprov.auth import Credentials
from bulkprov.errors import InputError

log = logging.getLogger(__name__)

USERS_PATH = "/api/public/users"
USERS_INFO_PATH = "/api/public/usersInfo"
DEFAULT_USER_AGENT = f"bulkprov/{__version__}"

RATE_LIMIT_MESSAGE = "Rate limit for this API has been reached"
"""The documented rate refusal ("... Please try again after some time.")."""

KINDS = ("auth", "rate", "transient", "permanent", "ambiguous")
OPS = ("add", "update", "remove", "usersInfo")

_MAX_MESSAGE = 300
_JWT_RE = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*\.?[A-Za-z0-9_-]*")
_TITLE_RE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_TAG_RE = re.compile(r"<[^>]+>")


# -- results ------------------------------------------------------------------------------


@dataclass(frozen=True)
class UserOutcome:
    """What the server said about one user of a call."""

    key: str
    """The emailId / orgUserId as the server echoed it (or as sent, for users it did not name)."""
    ok: bool
    code: str
    """"" when ok; else ``already-exists``, ``not-found``, ``invalid-email`` or ``server-refused``."""
    message: str
    """The server's own words (e.g. ``INVALID_EMAIL``)."""
    detail: dict | None = None
    """usersInfo: the full user object when found."""


@dataclass
class CallResult:
    """The server answered about the users (possibly refusing some or all of them)."""

    status: int
    outcomes: dict[str, UserOutcome]
    """One per requested user, keyed by ``key.casefold()``."""
    unmatched: list[UserOutcome] = field(default_factory=list)
    """Entries of the reply that name no requested user (kept, never dropped)."""
    body: Any = None

    @property
    def failures(self) -> list[UserOutcome]:
        return [o for o in self.outcomes.values() if not o.ok]

    @property
    def all_ok(self) -> bool:
        return all(o.ok for o in self.outcomes.values()) and not self.unmatched


class CallFailed(Exception):
    """The call failed as a whole; ``kind`` says what the dispatcher should do about it."""

    def __init__(
        self,
        kind: str,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        sent: bool = True,
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown CallFailed kind {kind!r}")
        self.kind = kind
        self.status = status
        self.message = one_line(message)
        self.retry_after = retry_after
        self.sent = sent
        super().__init__(self.message)

    @property
    def retryable(self) -> bool:
        return self.kind in ("rate", "transient")

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return (
            f"CallFailed(kind={self.kind!r}, status={self.status!r}, message={self.message!r}, "
            f"retry_after={self.retry_after!r}, sent={self.sent!r})"
        )

    def __reduce__(self):
        return (_rebuild_call_failed, (self.kind, self.message, self.status, self.retry_after, self.sent))


def _rebuild_call_failed(kind, message, status, retry_after, sent) -> CallFailed:
    return CallFailed(kind, message, status=status, retry_after=retry_after, sent=sent)


# -- small pure helpers -------------------------------------------------------------------


def one_line(text: object, limit: int = _MAX_MESSAGE) -> str:
    """Collapse whitespace, redact anything that looks like a JWT, cap the length."""
    line = " ".join(str(text).split())
    line = _JWT_RE.sub("<redacted-token>", line)
    if len(line) > limit:
        line = line[: limit - 1].rstrip() + "…"
    return line


def _norm(key: str) -> str:
    """Matching form of an email / orgUserId: NFC, trimmed, case-folded."""
    return unicodedata.normalize("NFC", key).strip().casefold()


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    if not headers:
        return None
    value = headers.get(name)
    if value is not None:
        return value
    lower = name.lower()
    for k, v in headers.items():
        if k.lower() == lower:
            return v
    return None


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After value: delta-seconds or an HTTP-date (RFC 9110)."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:  # HTTP-dates are GMT
        when = when.replace(tzinfo=UTC)
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)


def reason_message(reason: Any) -> str:
    """A readable message from a reason: a string, ``{"message"}``, ``{"errors":[{"msg"}]}``..."""
    if reason is None:
        return ""
    if isinstance(reason, str):
        return one_line(reason)
    if isinstance(reason, list):
        parts = [reason_message(item) for item in reason]
        return one_line("; ".join(dict.fromkeys(p for p in parts if p)))
    if isinstance(reason, dict):
        for key in ("message", "msg"):
            value = reason.get(key)
            if isinstance(value, str) and value.strip():
                return one_line(value)
        for key in ("errors", "error", "reason", "details"):
            if key in reason:
                text = reason_message(reason[key])
                if text:
                    return text
        name = reason.get("name")
        if isinstance(name, str) and name.strip():
            return one_line(name)
        code = reason.get("statusCode", reason.get("code"))
        if code is not None:
            return f"refused by the server (code {code})"
        return one_line(json.dumps(reason, ensure_ascii=False, default=str)) if reason else ""
    return one_line(reason)


def outcome_code(message: str, reason: Any = None) -> str:
    """Stable code of a per-user refusal, from the server's message (and reason hints)."""
    text = message.casefold().replace("_", " ").replace("-", " ")
    if "invalid email" in text or "email invalid" in text or "invalid emailid" in text:
        return "invalid-email"
    if (
        "not found" in text
        or "notfound" in text.replace(" ", "")
        or "not exist" in text
        or "does not exist" in text
        or "doesn't exist" in text
        or "no such user" in text
        or ("already" in text and ("delet" in text or "remov" in text))
    ):
        return "not-found"
    if "exist" in text or "already" in text or "duplicate" in text:
        return "already-exists"
    if isinstance(reason, dict):
        hint = reason.get("statusCode", reason.get("code"))
        name = str(reason.get("name", "")).casefold()
        if hint == 404 or name == "notfound":
            return "not-found"
        if hint == 409 or name == "conflict":
            return "already-exists"
    return "server-refused"


def _error_message(body: Any) -> str:
    """The message of a whole-request error body (``{"errors":[{"msg"}]}`` and kin)."""
    if isinstance(body, dict):
        for key in ("errors", "error", "message", "msg"):
            if key in body:
                text = reason_message(body[key])
                if text:
                    return text
        return ""
    if isinstance(body, str):
        return one_line(body)
    return ""


def _text_summary(text: str, headers: Mapping[str, str] | None) -> str:
    """A one-line description of a non-JSON body: its type and title or first words."""
    ctype = (_header(headers, "Content-Type") or "").split(";")[0].strip() or "no content type"
    match = _TITLE_RE.search(text)
    words = match.group(1) if match else _TAG_RE.sub(" ", text)
    words = one_line(words, 120)
    return f"reply is not JSON ({ctype}{': ' + words if words else ', empty body'})"


def _parse_json(text: str) -> tuple[Any, bool]:
    if not text or not text.strip():
        return None, False
    try:
        return json.loads(text), True
    except ValueError:
        return None, False


# -- per-user parsing ---------------------------------------------------------------------

Requested = Sequence["str | Sequence[str]"]
"""Per requested user: its key, or (key, other identifiers the server may echo instead)."""


def _entries(body: Any, op: str) -> list | None:
    """The per-user entries of a reply, or None when it has none."""
    if op == "usersInfo":
        if isinstance(body, list):
            return body
        if isinstance(body, dict):
            for key in ("users", "usersInfo", "data", "result", "failedUserDetails"):
                value = body.get(key)
                if isinstance(value, list) and value:
                    return value
        return None
    if isinstance(body, dict):
        details = body.get("failedUserDetails")
        if isinstance(details, dict):
            details = [details]
        if isinstance(details, list) and details:
            return details
    return None


def _entry_fields(entry: Any, op: str) -> tuple[list[str], bool, Any, dict | None]:
    """(identifiers echoed, is_failure, reason, user object) of one reply entry."""
    if isinstance(entry, str):
        return [entry], True, None, None
    if not isinstance(entry, dict):
        return [], True, entry, None
    info = entry.get("userInfo") if isinstance(entry.get("userInfo"), dict) else {}
    ids: list[str] = []
    for source in (info, entry):
        for name in ("emailId", "orgUserId", "email"):
            value = source.get(name)
            if isinstance(value, str) and value.strip() and value not in ids:
                ids.append(value)
    reason = None
    for source in (info, entry):
        for name in ("reason", "error", "errors", "message", "msg"):
            if source.get(name) not in (None, "", []):
                reason = source[name]
                break
        if reason is not None:
            break
    if op == "usersInfo":
        status = str(info.get("status", entry.get("status", ""))).casefold()
        failure = status in ("failure", "failed", "error") or (reason is not None and status != "success")
        return ids, failure, reason, None if failure else entry
    return ids, True, reason, None  # every failedUserDetails entry is a failure


def build_outcomes(body: Any, op: str, requested: Requested) -> tuple[dict[str, UserOutcome], list[UserOutcome]]:
    """Outcomes for every requested user + unmatched entries (see :class:`CallResult`)."""
    sent: dict[str, str] = {}  # casefolded key -> key as sent
    index: dict[str, str] = {}  # normalised identifier -> casefolded key
    for item in requested:
        ids = [item] if isinstance(item, str) else [i for i in item if i]
        if not ids:
            continue
        primary = ids[0]
        sent.setdefault(primary.casefold(), primary)
        for ident in ids:
            index.setdefault(_norm(ident), primary.casefold())

    outcomes: dict[str, UserOutcome] = {}
    unmatched: list[UserOutcome] = []
    for entry in _entries(body, op) or []:
        ids, failure, reason, detail = _entry_fields(entry, op)
        target = echoed = None
        for ident in ids:
            if _norm(ident) in index:
                target, echoed = index[_norm(ident)], ident
                break
        key = echoed or (ids[0] if ids else "")
        if failure:
            message = reason_message(reason) or "refused by the server (no reason given)"
            code = outcome_code(message, reason)
            if op == "usersInfo" and code in ("server-refused", "already-exists"):
                code = "not-found"
            outcome = UserOutcome(key, False, code, message)
        else:
            outcome = UserOutcome(key, True, "", "found", detail)
        if target is None:
            unmatched.append(outcome)
            continue
        previous = outcomes.get(target)
        if previous is None or (outcome.ok and not previous.ok and op == "usersInfo"):
            outcomes[target] = outcome

    for folded, key in sent.items():
        if folded not in outcomes:
            if op == "usersInfo":
                outcomes[folded] = UserOutcome(key, False, "not-found", "not in the server's usersInfo reply")
            else:
                outcomes[folded] = UserOutcome(key, True, "", "")
    return outcomes, unmatched


# -- classification -----------------------------------------------------------------------


def classify(
    status: int,
    headers: Mapping[str, str] | None,
    text: str,
    *,
    op: str = "add",
    requested: Requested = (),
) -> CallResult | CallFailed:
    """Turn one HTTP reply into a :class:`CallResult` or a :class:`CallFailed` (pure)."""
    retry_after = parse_retry_after(_header(headers, "Retry-After"))
    body, is_json = _parse_json(text)
    said = _error_message(body) if is_json else _text_summary(text, headers)

    def failed(kind: str, default: str, *, sent: bool = True) -> CallFailed:
        return CallFailed(kind, f"HTTP {status}: {said or default}", status=status,
                          retry_after=retry_after, sent=sent)

    if status == 429 or (400 <= status < 500 and RATE_LIMIT_MESSAGE.casefold() in text.casefold()):
        return failed("rate", "rate limit reached")
    if status in (401, 403):
        return failed("auth", "credentials refused")
    if status >= 500:
        return failed("transient", "server error")
    if 300 <= status < 400:
        location = _header(headers, "Location")
        where = f" to {one_line(location, 120)}" if location else ""
        return CallFailed("permanent", f"HTTP {status}: unexpected redirect{where}; check the host URL",
                          status=status)
    if status < 200:
        return failed("transient", "unexpected informational reply")
    if not is_json:
        if status == 204 and op != "usersInfo":
            outcomes, _ = build_outcomes(None, op, requested)
            return CallResult(status, outcomes, [], None)
        if status == 413:
            return failed("permanent", "request too large")
        return failed("transient", "reply is not JSON")

    entries = _entries(body, op)
    if status >= 400 and entries is None:
        return failed("permanent", "request refused")
    if entries is None:
        if isinstance(body, dict) and body.get("errors"):
            return failed("permanent", "request refused")
        if op == "usersInfo":
            return failed("transient", "unexpected usersInfo reply shape")
        if not isinstance(body, dict):
            return CallFailed("ambiguous", f"HTTP {status}: unexpected reply shape; the server may have acted",
                              status=status)
    outcomes, unmatched = build_outcomes(body, op, requested)
    return CallResult(status, outcomes, unmatched, body)


def classify_exception(exc: BaseException, *, timeout: float | None = None) -> CallFailed | None:
    """Map a transport exception to a :class:`CallFailed`; None for anything else (a bug)."""
    name = type(exc).__name__
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return CallFailed("transient", f"timed out connecting to the server ({name})", sent=False)
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return CallFailed("transient", "TLS certificate of the server could not be verified", sent=False)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return CallFailed("transient", f"could not connect: {exc}", sent=False)
    if isinstance(exc, TimeoutError):
        within = f" within {timeout:g} s" if timeout else ""
        return CallFailed("ambiguous", f"no reply{within}; the server may have acted on the request")
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return CallFailed("ambiguous", "the server closed the connection before replying; it may have acted")
    if isinstance(exc, aiohttp.ClientPayloadError):
        return CallFailed("ambiguous", f"the reply was cut off ({name}); the server may have acted")
    if isinstance(exc, aiohttp.ClientError | OSError):
        detail = one_line(exc, 160)
        return CallFailed("ambiguous", f"connection failed after sending ({name}{': ' + detail if detail else ''})")
    return None


# -- host ---------------------------------------------------------------------------------


def is_loopback(hostname: str) -> bool:
    hostname = hostname.strip("[]").rstrip(".").casefold()
    if hostname == "localhost" or hostname.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(hostname)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or bool(mapped and mapped.is_loopback)


def normalize_host(host: str) -> str:
    """``scheme://host[:port][/prefix]`` with no trailing slash; https unless loopback."""
    raw = (host or "").strip()
    if not raw:
        raise InputError("usage", "no Kore.ai host: set --host or KORE_HOST (e.g. https://bots.kore.ai)")
    if "://" not in raw:
        raw = "https://" + raw
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        raise InputError("usage", "the host is not a valid URL (e.g. https://bots.kore.ai)") from None
    scheme = parts.scheme.lower()
    hostname = parts.hostname or ""
    if scheme not in ("http", "https"):
        raise InputError("usage", f"unsupported scheme {scheme}:// for the host; use https://")
    if not hostname:
        raise InputError("usage", "the host URL has no host name (e.g. https://bots.kore.ai)")
    if parts.username or parts.password:
        raise InputError("usage", "the host URL must not contain a user name or password")
    if parts.query or parts.fragment:
        raise InputError("usage", "the host URL must not contain a query (?...) or fragment (#...)")
    if scheme == "http" and not is_loopback(hostname):
        raise InputError(
            "usage",
            f"refusing plain http:// to a non-loopback host ({hostname}): the token would travel "
            "in clear; use https://",
        )
    path = parts.path.rstrip("/")
    cut = path.find("/api/public")
    if cut != -1:  # a full endpoint URL was given: keep the prefix before the API path
        path = path[:cut]
    netloc_host = f"[{hostname}]" if ":" in hostname else hostname
    return f"{scheme}://{netloc_host}{f':{port}' if port else ''}{path}"


# -- the client ---------------------------------------------------------------------------


def _key_of(user: Any, *, add: bool) -> tuple[str, ...]:
    info = user.get("userInfo") if isinstance(user, dict) else None
    if not isinstance(info, dict):
        raise ValueError("each user must be an API user object with a userInfo object")
    email_id = info.get("emailId") or ""
    org_id = info.get("orgUserId") or ""
    if add:
        if not email_id:
            raise ValueError("every user to add needs userInfo.emailId")
        return (email_id,)
    if not (email_id or org_id):
        raise ValueError("every user to update needs userInfo.emailId or userInfo.orgUserId")
    return tuple(i for i in (email_id, org_id) if i)


def _check_unique(keys: Sequence[Sequence[str]]) -> None:
    if not keys:
        raise ValueError("a call needs at least one user")
    seen: set[str] = set()
    for ids in keys:
        folded = ids[0].casefold()
        if folded in seen:
            raise ValueError("the same user appears twice in one call")
        seen.add(folded)


def _one_list(email_ids: list[str] | None, org_user_ids: list[str] | None) -> tuple[str, list[str]]:
    if bool(email_ids) == bool(org_user_ids):
        raise ValueError("pass a non-empty email_ids or org_user_ids, not both")
    return ("email", list(email_ids)) if email_ids else ("org", list(org_user_ids or []))


class KoreClient:
    """One Kore.ai account's user-management API; one method call = one HTTP request."""

    def __init__(
        self,
        host: str,
        credentials: Credentials,
        *,
        timeout: float = 60.0,
        connect_timeout: float = 10.0,
        concurrency_hint: int = 8,
        session: aiohttp.ClientSession | None = None,
        user_agent: str = DEFAULT_USER_AGENT,
    ) -> None:
        self.base_url = normalize_host(host)
        self._credentials = credentials
        self.timeout = float(timeout)
        self._client_timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=connect_timeout)
        self._limit = max(1, int(concurrency_hint)) + 2  # headroom for usersInfo checks
        self._session = session
        self._owns_session = session is None
        self._user_agent = user_agent
        self._loopback = is_loopback(urlsplit(self.base_url).hostname or "")

    def __repr__(self) -> str:
        return f"KoreClient({self.base_url!r}, {self._credentials!r})"

    async def __aenter__(self) -> KoreClient:
        self._ensure_session()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._owns_session and self._session is not None and not self._session.closed:
            await self._session.close()
        if self._owns_session:
            self._session = None

    def _ensure_session(self) -> aiohttp.ClientSession:
        if self._session is None or (self._owns_session and self._session.closed):
            connector = aiohttp.TCPConnector(limit=self._limit, limit_per_host=self._limit)
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=self._client_timeout,
                # Corporate proxies (HTTPS_PROXY) apply to the real API, never to the local emulator.
                trust_env=not self._loopback,
            )
            # aiohttp silently re-sends an idempotent request (PUT, DELETE) once when a reused
            # keep-alive connection drops before the reply.  For us a drop after sending is an
            # ambiguous outcome the dispatcher must resolve with usersInfo; a hidden re-send hides
            # it (the retry of a committed DELETE then reports "not found").  No public switch
            # exists, so turn off the private one where it is present.
            if hasattr(self._session, "_retry_connection"):
                self._session._retry_connection = False
            self._owns_session = True
        return self._session

    # -- the four calls -------------------------------------------------------------------

    async def add_users(self, users: list[dict], *, send_email: bool) -> CallResult:
        """``POST /api/public/users``; outcomes keyed by ``userInfo.emailId``."""
        keys = [_key_of(u, add=True) for u in users]
        _check_unique(keys)
        body = {"users": users, "sendEmail": bool(send_email)}
        return await self._call("POST", USERS_PATH, body, op="add", requested=keys)

    async def update_users(self, users: list[dict]) -> CallResult:
        """``PUT /api/public/users``; outcomes keyed by ``userInfo.emailId`` or ``orgUserId``."""
        keys = [_key_of(u, add=False) for u in users]
        _check_unique(keys)
        return await self._call("PUT", USERS_PATH, {"users": users}, op="update", requested=keys)

    async def remove_users(
        self, *, email_ids: list[str] | None = None, org_user_ids: list[str] | None = None
    ) -> CallResult:
        """``DELETE /api/public/users`` by ``deleteEmailIds`` or ``orgUserIds``."""
        kind, ids = _one_list(email_ids, org_user_ids)
        _check_unique([(i,) for i in ids])
        body = {"deleteEmailIds": ids} if kind == "email" else {"orgUserIds": ids}
        return await self._call("DELETE", USERS_PATH, body, op="remove", requested=ids)

    async def users_info(
        self, *, email_ids: list[str] | None = None, org_user_ids: list[str] | None = None
    ) -> CallResult:
        """``POST /api/public/usersInfo``: found -> ok with ``detail``; missing -> ``not-found``."""
        kind, ids = _one_list(email_ids, org_user_ids)
        _check_unique([(i,) for i in ids])
        body = {"emailIds": ids} if kind == "email" else {"orgUserIds": ids}
        return await self._call("POST", USERS_INFO_PATH, body, op="usersInfo", requested=ids)

    # -- plumbing -------------------------------------------------------------------------

    async def _call(self, method: str, path: str, body: dict, *, op: str, requested: Requested) -> CallResult:
        started = time.monotonic()
        try:
            status, headers, text = await self._exchange(method, path, body)
        except Exception as exc:
            failure = classify_exception(exc, timeout=self.timeout)
            if failure is None:
                raise
            log.debug("%s %s (%d users) failed after %.2f s: %s [%s]", method, path, len(requested),
                      time.monotonic() - started, failure.message, failure.kind)
            raise failure from exc
        outcome = classify(status, headers, text, op=op, requested=requested)
        elapsed = time.monotonic() - started
        if isinstance(outcome, CallFailed):
            log.debug("%s %s (%d users) -> HTTP %d in %.2f s: %s [%s]", method, path, len(requested),
                      status, elapsed, outcome.message, outcome.kind)
            raise outcome
        log.debug("%s %s (%d users) -> HTTP %d in %.2f s, %d refused, %d unmatched", method, path,
                  len(requested), status, elapsed, len(outcome.failures), len(outcome.unmatched))
        return outcome

    async def _exchange(self, method: str, path: str, body: dict) -> tuple[int, Mapping[str, str], str]:
        """Send one request; return (status, headers, body text). The seam tests may swap."""
        session = self._ensure_session()
        data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": self._user_agent,
            "auth": self._credentials.token(),
        }
        async with session.request(
            method, self.base_url + path, data=data, headers=headers,
            allow_redirects=False, timeout=self._client_timeout,
        ) as response:
            raw = await response.read()
            charset = response.charset or "utf-8"
            try:
                text = raw.decode(charset, errors="replace")
            except LookupError:
                text = raw.decode("utf-8", errors="replace")
            return response.status, dict(response.headers), text
