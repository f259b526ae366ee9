"""The row model every stage shares: a user's key, a row's identity, a checked row, a row's result.

One fact, one home: a user's key is normalised once (:func:`match_key`, carried in :class:`UserKey`)
and compared only in that form -- by the validator's duplicate check, the client's matching of
replies to requests, the ledger and sync's diff.  A row's identity (:class:`RowRef`: Excel row
number, action, key) is made once by the validator and carried to the workbook; a result is made
from it with :meth:`RowResult.of`, never re-assembled field by field.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from bulkprov.errors import RowError

# Rows that come from no input row (sync's removals of users missing from the roster) are numbered
# above this; the Results sheet leaves their row number blank.
SYNTHETIC_ROW_BASE = 10_000_000

# Invisible characters that never belong at either end of a key (zero-width, BOM, bidi marks).
_EDGE_INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"


def match_key(text: str) -> str:
    """The one comparison form of an email or orgUserId: NFKC, trimmed, case-folded.

    NFKC turns full-width letters, digits and ``＠`` into their plain forms (what a Japanese or
    Korean keyboard types when the input mode is left on), so ``ｊａｎｅ＠ｅｘａｍｐｌｅ.ｃｏｍ`` and
    ``Jane@Example.com`` are one user.
    """
    return unicodedata.normalize("NFKC", text).strip().strip(_EDGE_INVISIBLE).strip().casefold()


class Action(StrEnum):
    ADD = "add"
    UPDATE = "update"
    REMOVE = "remove"
    LOOKUP = "lookup"
    SYNC = "sync"


class Status(StrEnum):
    SUCCESS = "success"
    FAILED = "failed"
    INVALID = "invalid"
    SKIPPED = "skipped"
    NOT_ATTEMPTED = "not_attempted"
    VALID = "valid"
    PLANNED = "planned"


STATUSES = tuple(s.value for s in Status)
FAILED_STATUSES = frozenset({Status.FAILED.value, Status.INVALID.value, Status.NOT_ATTEMPTED.value})


@dataclass(frozen=True, slots=True)
class UserKey:
    """How the API knows a user: the email (preferred) or the orgUserId, as written and normalised."""

    email: str = ""
    org_user_id: str = ""

    @property
    def by_email(self) -> bool:
        return bool(self.email)

    @property
    def value(self) -> str:
        """The identifier sent to the API: the email, else the orgUserId."""
        return self.email or self.org_user_id

    @property
    def id(self) -> str:
        """The normalised identity (ledger, matching, duplicates)."""
        return match_key(self.value)

    @property
    def email_id(self) -> str:
        return match_key(self.email) if self.email else ""

    @property
    def org_id(self) -> str:
        return match_key(self.org_user_id) if self.org_user_id else ""

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class RowRef:
    """A row's identity: the Excel row number, what is done with it, and the user's key."""

    row: int
    action: str
    key: UserKey

    @property
    def email(self) -> str:
        return self.key.email

    @property
    def org_user_id(self) -> str:
        return self.key.org_user_id

    @property
    def synthetic(self) -> bool:
        return self.row >= SYNTHETIC_ROW_BASE


@dataclass(slots=True)
class CheckedRow:
    """A validated row: its identity and the API user object; or its errors."""

    ref: RowRef
    user: dict[str, Any] = field(default_factory=dict)
    send_email: bool | None = None
    errors: list[RowError] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)
    """The names the row wrote its role, bot and group ids by (id, case-folded -> name as typed), for
    a server's refusal in words."""

    @classmethod
    def make(cls, row: int, action: str, email: str = "", org_user_id: str = "", user: dict | None = None,
             send_email: bool | None = None) -> CheckedRow:
        return cls(RowRef(row, action, UserKey(email, org_user_id)), user or {}, send_email)

    @property
    def valid(self) -> bool:
        return not self.errors

    @property
    def row(self) -> int:
        return self.ref.row

    @property
    def action(self) -> str:
        return self.ref.action

    @property
    def key(self) -> UserKey:
        return self.ref.key

    @property
    def email(self) -> str:
        return self.ref.key.email

    @property
    def org_user_id(self) -> str:
        return self.ref.key.org_user_id

    def as_action(self, action: str, user: dict[str, Any] | None = None) -> CheckedRow:
        """The same row and key doing something else (sync turns roster rows into updates)."""
        return CheckedRow(RowRef(self.row, action, self.key), user if user is not None else self.user,
                          self.send_email, list(self.errors), list(self.notes), dict(self.names))


@dataclass(slots=True)
class RowResult:
    """What happened to one input row."""

    ref: RowRef
    status: str
    reason: str = ""
    error_code: str = ""
    http_status: int | None = None
    attempts: int = 0
    batch: str = ""
    errors: tuple[RowError, ...] = ()  # an invalid row's problems, each with its column (for the console)

    @classmethod
    def of(cls, row: CheckedRow | RowRef, status: str, reason: str = "", error_code: str = "",
           http_status: int | None = None, attempts: int = 0, batch: str = "") -> RowResult:
        ref = row.ref if isinstance(row, CheckedRow) else row
        return cls(ref, status, reason, error_code, http_status, attempts, batch)

    @classmethod
    def invalid(cls, row: CheckedRow) -> RowResult:
        """The row's problems, then what was converted on the way (the typed form, where it differs)."""
        reason = "; ".join([*(str(e) for e in row.errors), *row.notes])
        return cls(row.ref, Status.INVALID.value, reason, row.errors[0].code, errors=tuple(row.errors))

    @property
    def row(self) -> int:
        return self.ref.row

    @property
    def action(self) -> str:
        return self.ref.action

    @property
    def email(self) -> str:
        return self.ref.key.email

    @property
    def org_user_id(self) -> str:
        return self.ref.key.org_user_id

    @property
    def final(self) -> bool:
        """Nothing more can be learnt by sending or asking: resuming a run sends the rows not attempted and
        verifies the unverified ones; a finished run has only final rows."""
        return self.status != Status.NOT_ATTEMPTED and self.error_code != "unverified"

    def as_record(self) -> dict[str, Any]:
        return {"row": None if self.ref.synthetic else self.row, "action": self.action, "emailId": self.email,
                "orgUserId": self.org_user_id, "status": self.status, "reason": self.reason,
                "error_code": self.error_code, "http_status": self.http_status, "attempts": self.attempts,
                "batch": self.batch}
