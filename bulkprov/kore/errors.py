"""How a call can fail as a whole: one exception class per kind, caught by type (as in httpx).

============================  ========================================================  ===================
class (``kind``)              when                                                      dispatcher
============================  ========================================================  ===================
``AuthFailed`` (auth)         HTTP 401 / 403                                            abort the run
``RateRefused`` (rate)        HTTP 429, or the rate-limit message in any 4xx body       wait, retry
``ServerFailed`` (transient)  HTTP 5xx; a reply that is not JSON (proxy / HTML page);   back off, retry
                              could not connect (``sent=False``: nothing reached it)
``RequestRefused`` (permanent) other 4xx without per-user details (``{"errors": ...}``) split the batch
``OutcomeUnknown`` (ambiguous) timeout, or the connection dropped after sending: the     ask usersInfo,
                              server may or may not have acted on it                    never re-create
============================  ========================================================  ===================
"""

from __future__ import annotations

import re
from typing import ClassVar

_MAX_MESSAGE = 300
_JWT_RE = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*\.?[A-Za-z0-9_-]*")


def redact(text: str) -> str:
    """Anything that looks like a JWT, replaced (server messages and tracebacks may echo one)."""
    return _JWT_RE.sub("<redacted-token>", text)


def one_line(text: object, limit: int = _MAX_MESSAGE) -> str:
    """Collapse whitespace, redact anything that looks like a JWT, cap the length."""
    line = " ".join(str(text).split())
    line = redact(line)
    if len(line) > limit:
        line = line[: limit - 1].rstrip() + "…"
    return line


class CallFailed(Exception):
    """The call failed as a whole; the subclass says what the dispatcher should do (``kind`` names it in logs)."""

    kind: ClassVar[str] = ""
    retryable: ClassVar[bool] = False

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None,
                 sent: bool = True) -> None:
        self.status = status
        self.message = one_line(message)
        self.retry_after = retry_after
        self.sent = sent
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(status={self.status!r}, message={self.message!r}, "
                f"retry_after={self.retry_after!r}, sent={self.sent!r})")

    def __reduce__(self):
        return (_rebuild, (type(self), self.message, self.status, self.retry_after, self.sent))


def _rebuild(cls, message, status, retry_after, sent) -> CallFailed:
    return cls(message, status=status, retry_after=retry_after, sent=sent)


class AuthFailed(CallFailed):
    kind = "auth"


class RateRefused(CallFailed):
    kind = "rate"
    retryable = True


class ServerFailed(CallFailed):
    kind = "transient"
    retryable = True


class RequestRefused(CallFailed):
    kind = "permanent"


class OutcomeUnknown(CallFailed):
    kind = "ambiguous"
