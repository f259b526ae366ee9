"""The row model every stage shares: a user's key, a row's identity, a checked row, a row's result.

One fact, one home: a user's key is normalised once (:func:`match_key`, carried in :class:`UserKey`)
and compared only in that form -- by the validator's duplicate check, the client's matching of
replies to requests, the ledger and sync's diff.  A row's identity (:class:`RowRef`: Excel row
number, action, key) is made once by the validator and carried to the workbook; a result is made
from it with :meth:`RowResult.of`, never re-assembled field by field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from bulkprov.errors import RowError
from bulkprov.keys import UserKey, match_key

__all__ = ["FAILED_STATUSES", "NOT_ATTEMPTED_CODE", "STATUSES", "SYNTHETIC_ROW_BASE", "Action", "CheckedRow", "RowRef", "RowResult",
           "Status", "UserKey", "match_key"]

# Rows that come from no input row (sync's removals of users missing from the roster) are numbered
# above this; the Results sheet leaves their row number blank.
SYNTHETIC_ROW_BASE = 10_000_000


class Action(StrEnum):
    """What is done with a row.  A ``StrEnum``: the ledger, the workbooks and the webhooks hold its value,
    byte for byte the words they always held."""

    ADD = "add"
    UPDATE = "update"
    REMOVE = "remove"
    LOOKUP = "lookup"
    SYNC = "sync"  # a roster row of a sync that stopped before its plan was made
    NONE = ""  # the row's action cell is empty or unknown (the row is invalid)


class Status(StrEnum):
    """What became of a row (the Results sheet's ``status``)."""

    SUCCESS = "success"
    FAILED = "failed"
    INVALID = "invalid"
    SKIPPED = "skipped"
    NOT_ATTEMPTED = "not_attempted"  # its outcome code is ``not-attempted`` (:meth:`RowResult.not_attempted`)
    VALID = "valid"
    PLANNED = "planned"


STATUSES: tuple[Status, ...] = tuple(Status)
FAILED_STATUSES = frozenset({Status.FAILED, Status.INVALID, Status.NOT_ATTEMPTED})
NOT_ATTEMPTED_CODE = "not-attempted"  # the outcome code of a row not sent (its status is Status.NOT_ATTEMPTED)


@dataclass(frozen=True, slots=True)
class RowRef:
    """A row's identity: the Excel row number, what is done with it, and the user's key."""

    row: int
    action: Action
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
    def make(cls, row: int, action: Action, email: str = "", org_user_id: str = "", user: dict | None = None,
             send_email: bool | None = None) -> CheckedRow:
        return cls(RowRef(row, action, UserKey(email, org_user_id)), user or {}, send_email)

    @property
    def valid(self) -> bool:
        return not self.errors

    @property
    def row(self) -> int:
        return self.ref.row

    @property
    def action(self) -> Action:
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

    def as_action(self, action: Action, user: dict[str, Any] | None = None) -> CheckedRow:
        """The same row and key doing something else (sync turns roster rows into updates)."""
        return CheckedRow(RowRef(self.row, action, self.key), user if user is not None else self.user,
                          self.send_email, list(self.errors), list(self.notes), dict(self.names))


@dataclass(slots=True)
class RowResult:
    """What happened to one input row."""

    ref: RowRef
    status: Status
    reason: str = ""
    error_code: str = ""
    http_status: int | None = None
    attempts: int = 0
    batch: str = ""
    errors: tuple[RowError, ...] = ()  # an invalid row's problems, each with its column (for the console)

    @classmethod
    def of(cls, row: CheckedRow | RowRef, status: Status, reason: str = "", error_code: str = "",
           http_status: int | None = None, attempts: int = 0, batch: str = "") -> RowResult:
        ref = row.ref if isinstance(row, CheckedRow) else row
        return cls(ref, status, reason, error_code, http_status, attempts, batch)

    @classmethod
    def not_attempted(cls, row: CheckedRow | RowRef, reason: str, code: str = NOT_ATTEMPTED_CODE) -> RowResult:
        """A row never sent (a guard, a stop, an interruption): status ``not_attempted``, its outcome code
        ``not-attempted`` unless the stop has a code of its own (``guard``, ``interrupted``)."""
        return cls.of(row, Status.NOT_ATTEMPTED, reason, code)

    @classmethod
    def invalid(cls, row: CheckedRow) -> RowResult:
        """The row's problems, then what was converted on the way (the typed form, where it differs)."""
        reason = "; ".join([*(str(e) for e in row.errors), *row.notes])
        return cls(row.ref, Status.INVALID, reason, row.errors[0].code, errors=tuple(row.errors))

    @property
    def row(self) -> int:
        return self.ref.row

    @property
    def action(self) -> Action:
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
