"""Reading Kore.ai's replies: every documented shape, turned into per-user outcomes or a typed failure.

The decision is made by two pure functions, :func:`classify` (status, headers, body text -> result
or failure) and :func:`classify_exception` (transport exception -> failure), so the whole table of
:mod:`bulkprov.kore.errors` is unit-testable without a network.

Reply parsing accepts every shape the vendor's pages show (``tests/fixtures/kore-docs/``), because
the failure shapes are loosely documented: failure lists as arrays or a single object (the Korean
Get Users Info page prints its failure as one object), reasons as a string, an object with
``message`` or ``errors: [{msg}]``, users named by ``emailId`` at the top level or under
``userInfo``, with or without ``orgUserId``.  The server may echo emails in another case (matching
uses :func:`bulkprov.keys.match_key`); usersInfo returns found users and failure entries mixed in
one array.  Reason messages map to stable codes (``already-exists``, ``not-found``,
``invalid-email``, else ``server-refused``).

**No user is a success unless the reply says so** (:func:`write_verdict`).  A 2xx write reply
settles its users only in the two documented shapes: the success sentence (``{"msg": "Users are
created Successfully"}``, compared ignoring case) makes every user a success; a failure list
(``failedUserDetails``, an array or one object) makes the users it names failed and -- when every
entry names a user that was sent -- the others succeeded.  Anything else (an empty or unknown object,
``error``, ``status: error``, a ``failedUserDetails`` that is not a list, another ``msg``, a 202, a
4xx beside the failures, a failure naming a key we did not send, such as the documented remove
failure naming ``emailId`` for a request by ``orgUserIds``) leaves the users it does not name out of
``outcomes`` and lists them in :attr:`CallResult.unconfirmed`: the caller checks them (usersInfo)
before settling.  A 2xx whose body cannot be read may come after the work was done: it is an
:class:`~bulkprov.kore.errors.OutcomeUnknown`, checked before anything is sent again.  For usersInfo,
a failure entry is ``not-found`` -- ``invalid-email`` only when the reply calls the address malformed
*and* it fails our own email check -- and a user the reply leaves out is unknown (``named`` False):
absence from a reply proves nothing.
"""

from __future__ import annotations

import email.utils
import json
import math
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC
from typing import TYPE_CHECKING, Any

from bulkprov.errors import N_
from bulkprov.i18n import gettext as _
from bulkprov.keys import match_key

if TYPE_CHECKING:
    import aiohttp

from bulkprov.kore.errors import (
    AuthFailed,
    CallFailed,
    OutcomeUnknown,
    RateRefused,
    RequestRefused,
    ServerFailed,
    one_line,
)
from bulkprov.kore.writes import reply_words, write_verdict
from bulkprov.schema import EMAIL_RE

RATE_LIMIT_MESSAGE = "Rate limit for this API has been reached"
"""The documented rate refusal ("... Please try again after some time.")."""

OPS = ("add", "update", "remove", "usersInfo")

_TITLE_RE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_TAG_RE = re.compile(r"<[^>]+>")


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
    named: bool = field(default=True, compare=False)
    """False for a user the reply did not name (a write's implied success, usersInfo's absent user)."""


@dataclass
class CallResult:
    """The server answered about the users (possibly refusing some or all of them)."""

    status: int
    outcomes: dict[str, UserOutcome]
    """One per requested user the reply settles, keyed by :func:`bulkprov.keys.match_key` of the key
    sent; the users it does not settle are in :attr:`unconfirmed` instead."""
    unmatched: list[UserOutcome] = field(default_factory=list)
    """Entries of the reply that name no requested user (kept, never dropped)."""
    body: Any = None
    unconfirmed: list[str] = field(default_factory=list)
    """Match keys of requested users the reply neither names nor lets us assume succeeded (a 4xx, a
    failure entry we could not match, a reply that is not a documented shape): check them before settling."""
    unknown: str = ""
    """Why the reply settles none of its unnamed users, when it is not a documented shape (its words,
    on one line); "" for a documented reply."""

    @property
    def failures(self) -> list[UserOutcome]:
        return [o for o in self.outcomes.values() if not o.ok]

    @property
    def all_ok(self) -> bool:
        return all(o.ok for o in self.outcomes.values()) and not self.unmatched and not self.unconfirmed



# -- small pure helpers -------------------------------------------------------------------


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
            return _("refused by the server (code {code})").format(code=code)
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
    ctype = (_header(headers, "Content-Type") or "").split(";")[0].strip() or _("no content type")
    match = _TITLE_RE.search(text)
    words = match.group(1) if match else _TAG_RE.sub(" ", text)
    words = one_line(words, 120)
    if words:
        return _("reply is not JSON ({type}: {words})").format(type=ctype, words=words)
    return _("reply is not JSON ({type}, empty body)").format(type=ctype)


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

NOT_IN_REPLY = N_("not in the server's usersInfo reply")  # translated where used
_INFO_LISTS = ("users", "usersInfo", "data", "result", "failedUserDetails")


def _as_list(value: Any) -> list | None:
    """A failure list as the pages print it: an array, or one object on its own."""
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list) and value:
        return value
    return None


def _entries(body: Any, op: str) -> list | None:
    """The per-user entries of a reply, or None when it has none."""
    if op == "usersInfo":
        if isinstance(body, list):
            return body
        if isinstance(body, dict):
            if isinstance(body.get("userInfo"), dict):  # one user (found, or the Korean page's failure)
                return [body]
            for key in _INFO_LISTS:
                found = _as_list(body.get(key))
                if found:
                    return found
        return None
    if isinstance(body, dict):
        return _as_list(body.get("failedUserDetails"))
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
        for name in ("emailId", "orgUserId", "email", "username"):
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


def _failure_code(op: str, message: str, reason: Any, sent_as: str, by_email: bool) -> str:
    """The stable code of a refusal.  "Invalid emailId" is how the usersInfo page says "no such user":
    it is ``invalid-email`` only when the address we sent also fails our own check (and always on
    add, where the server refused the address itself)."""
    code = outcome_code(message, reason)
    malformed = by_email and not EMAIL_RE.fullmatch(sent_as.strip())
    if op == "usersInfo":
        return "invalid-email" if code == "invalid-email" and malformed else "not-found"
    if op != "add" and code == "invalid-email" and not malformed:
        return "not-found"
    return code


class _Asked:
    """The requested users of one call: their keys as sent, and every identifier that names them."""

    def __init__(self, requested: Requested, by_org: bool) -> None:
        self.sent: dict[str, str] = {}  # match key -> key as sent
        self.index: dict[str, str] = {}  # normalised identifier -> match key
        self.by_email: dict[str, bool] = {}
        for item in requested:
            ids = [item] if isinstance(item, str) else [i for i in item if i]
            if not ids:
                continue
            primary = match_key(ids[0])
            self.sent.setdefault(primary, ids[0])
            self.by_email.setdefault(primary, (not by_org) if isinstance(item, str) else "@" in ids[0])
            for ident in ids:
                self.index.setdefault(match_key(ident), primary)

    def target(self, ids: list[str]) -> tuple[str | None, str | None]:
        for ident in ids:
            key = match_key(ident)
            if key in self.index:
                return self.index[key], ident
        return None, None


def build_outcomes(body: Any, op: str, requested: Requested, *, status: int = 200,
                   by_org: bool = False) -> tuple[dict[str, UserOutcome], list[UserOutcome], list[str]]:
    """Outcomes of the users the reply settles, unmatched entries, and the unconfirmed users
    (see :class:`CallResult`).  ``by_org``: bare string keys are orgUserIds."""
    asked = _Asked(requested, by_org)
    outcomes: dict[str, UserOutcome] = {}
    unmatched: list[UserOutcome] = []
    for entry in _entries(body, op) or []:
        ids, failure, reason, detail = _entry_fields(entry, op)
        target, echoed = asked.target(ids)
        key = echoed or (ids[0] if ids else "")
        if failure:
            message = reason_message(reason) or _("refused by the server (no reason given)")
            sent_as = asked.sent.get(target, key) if target else key
            by_email = asked.by_email.get(target, not by_org) if target else not by_org
            outcome = UserOutcome(key, False, _failure_code(op, message, reason, sent_as, by_email), message)
        else:
            outcome = UserOutcome(key, True, "", "found", detail)
        if target is None:
            unmatched.append(outcome)
            continue
        previous = outcomes.get(target)
        if previous is None or (outcome.ok and not previous.ok and op == "usersInfo"):
            outcomes[target] = outcome

    unconfirmed: list[str] = []
    # A write reply lists only failures: silence means success only when nothing else is unexplained.
    doubt = status >= 300 or status == 202 or any(not o.ok for o in unmatched)
    for folded, key in asked.sent.items():
        if folded in outcomes:
            continue
        if op == "usersInfo":
            outcomes[folded] = UserOutcome(key, False, "not-found", _(NOT_IN_REPLY), named=False)
        elif doubt:
            unconfirmed.append(folded)
        else:
            outcomes[folded] = UserOutcome(key, True, "", "", named=False)
    return outcomes, unmatched, unconfirmed


# -- classification -----------------------------------------------------------------------


def whole_failure(status: int, headers: Mapping[str, str] | None, text: str, body: Any,
                  is_json: bool) -> CallFailed | None:
    """The failure of the call as a whole that a status alone decides (rate, auth, 5xx, redirect...);
    None when the body must be read."""
    retry_after = parse_retry_after(_header(headers, "Retry-After"))
    said = _error_message(body) if is_json else _text_summary(text, headers)

    def failed(kind: type[CallFailed], default: str, *, sent: bool = True) -> CallFailed:
        return kind(f"HTTP {status}: {said or default}", status=status, retry_after=retry_after, sent=sent)

    if status == 429 or (400 <= status < 500 and RATE_LIMIT_MESSAGE.casefold() in text.casefold()):
        return failed(RateRefused, _("rate limit reached"))
    if status in (401, 403):
        return failed(AuthFailed, _("credentials refused"))
    if status >= 500:
        return failed(ServerFailed, _("server error"))
    if 300 <= status < 400:
        location = _header(headers, "Location")
        text = (_("unexpected redirect to {where}; check the host URL").format(where=one_line(location, 120))
                if location else _("unexpected redirect; check the host URL"))
        return RequestRefused(f"HTTP {status}: {text}", status=status)
    if status < 200:
        return failed(ServerFailed, _("unexpected informational reply"))
    if not is_json and status != 204:
        if status == 413:
            return failed(RequestRefused, _("request too large"))
        return failed(ServerFailed, _("reply is not JSON"))
    return None


def classify(
    status: int,
    headers: Mapping[str, str] | None,
    text: str,
    *,
    op: str = "add",
    requested: Requested = (),
    by_org: bool = False,
) -> CallResult | CallFailed:
    """Turn one HTTP reply into a :class:`CallResult` or a :class:`CallFailed` (pure)."""
    body, is_json = _parse_json(text)
    if op != "usersInfo" and 200 <= status < 300 and not is_json:
        return unreadable_write(status, headers, text)
    whole = whole_failure(status, headers, text, body, is_json)
    if whole is not None:
        return whole
    said = _error_message(body) if is_json else ""

    def failed(kind: type[CallFailed], default: str) -> CallFailed:
        return kind(f"HTTP {status}: {said or default}", status=status,
                    retry_after=parse_retry_after(_header(headers, "Retry-After")))

    if not is_json:  # 204 No Content
        return failed(ServerFailed, _("reply is not JSON"))
    entries = _entries(body, op)
    if status >= 400 and entries is None:
        return failed(RequestRefused, _("request refused"))
    if entries is None and isinstance(body, dict) and body.get("errors"):
        return failed(RequestRefused, _("request refused"))
    if op == "usersInfo":
        if entries is None:
            return failed(ServerFailed, _("unexpected usersInfo reply shape"))
        outcomes, unmatched, _unconfirmed = build_outcomes(body, op, requested, status=status, by_org=by_org)
        return CallResult(status, outcomes, unmatched, body)
    if entries is None and not write_verdict(status, body, op):  # not a documented shape: nobody settled
        asked = _Asked(requested, by_org)
        return CallResult(status, {}, [], body, list(asked.sent), unknown=reply_words(status, body))
    outcomes, unmatched, unconfirmed = build_outcomes(body, op, requested, status=status, by_org=by_org)
    return CallResult(status, outcomes, unmatched, body, unconfirmed,
                      unknown=reply_words(status, body) if status == 202 else "")


def unreadable_write(status: int, headers: Mapping[str, str] | None, text: str) -> OutcomeUnknown:
    """A 2xx write reply whose body cannot be read: the server may have done the work."""
    said = _text_summary(text, headers) if text.strip() else _("empty body")
    return OutcomeUnknown(f"HTTP {status}: " + _("{said}; the server may have acted").format(said=said),
                          status=status)


def _connect_reason(exc: aiohttp.ClientConnectorError) -> str:
    """Why a connection failed, in plain words (not aiohttp's "ssl:default [Connect call failed …]")."""
    os_error = getattr(exc, "os_error", None)
    text = getattr(os_error, "strerror", None) or ""
    if not text and os_error is not None and os_error.args:
        text = str(os_error.args[-1])
    if type(exc).__name__ == "ClientConnectorDNSError" or "Name or service not known" in text:
        return _("the host name is not known")
    return (text or type(exc).__name__).rstrip(".").lower()


def classify_exception(exc: BaseException, *, timeout: float | None = None) -> CallFailed | None:
    """Map a transport exception to a :class:`CallFailed`; None for anything else (a bug)."""
    import aiohttp  # here, not at the top: the validation stage reads this module's parsers without a network

    name = type(exc).__name__
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return ServerFailed(_("timed out connecting to the server ({name})").format(name=name), sent=False)
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return ServerFailed(_("TLS certificate of the server could not be verified"), sent=False)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return ServerFailed(_("could not connect to {host}:{port} ({why})").format(
            host=exc.host, port=exc.port, why=_connect_reason(exc)), sent=False)
    if isinstance(exc, TimeoutError):
        if timeout:
            return OutcomeUnknown(_("no reply within {seconds:g} s; the server may have acted on the request")
                                  .format(seconds=timeout))
        return OutcomeUnknown(_("no reply; the server may have acted on the request"))
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return OutcomeUnknown(_("the server closed the connection before replying; it may have acted"))
    if isinstance(exc, aiohttp.ClientPayloadError):
        return OutcomeUnknown(_("the reply was cut off ({name}); the server may have acted").format(name=name))
    if isinstance(exc, aiohttp.ClientError | OSError):
        detail = one_line(exc, 160)
        what = f"{name}: {detail}" if detail else name
        return OutcomeUnknown(_("connection failed after sending ({what})").format(what=what))
    return None


