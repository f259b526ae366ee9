"""Errors as a taxonomy with stable codes (like frictionless-py).

Two families: :class:`InputError` is about the whole file (the run cannot start; exit 2), and
:class:`RowError` is about one cell of one row (the row is ``invalid``; the others go on).
Codes are stable strings users can filter on in the result workbook; never rename one.
"""

from __future__ import annotations

from dataclasses import dataclass

# File-level codes (InputError.code).
FILE_CODES = {
    "file-not-found": "the file does not exist",
    "file-unreadable": "the file exists but cannot be read (permissions, locked, disk)",
    "file-empty": "the file is empty",
    "no-data-rows": "the file has a header row but no data rows",
    "no-header": "no header row was found",
    "missing-column": "a required column is missing",
    "duplicate-column": "two columns of the header row mean the same bulkprov column",
    "unsupported-format": "the file type is not supported",
    "corrupt-file": "the file is damaged or is not what its name says",
    "encrypted-file": "the workbook is password-protected",
    "encoding-error": "the text encoding could not be determined",
    "sheet-not-found": "the sheet does not exist",
    "file-too-large": "the file is over the size cap",
    "too-many-rows": "the file is over the row cap",
    "zip-bomb": "the workbook expands to an absurd size",
    "sheet-too-wide": "the sheet claims an absurd number of columns or rows",
    "usage": "the command line or configuration is wrong",
}

# Row-level codes (RowError.code) with how to fix each.
ROW_CODES = {
    "missing-email": "emailId is required to add a user",
    "missing-key": "update and remove need an emailId or an orgUserId",
    "invalid-email": "not a valid email address",
    "duplicate-email": "the same email appears in an earlier row",
    "duplicate-org-user-id": "the same orgUserId appears in an earlier row",
    "invalid-boolean": "not a yes/no value",
    "too-long": "the value is longer than the platform allows",
    "invalid-role-id": "a role id must be 24 hexadecimal characters",
    "invalid-bot-id": "a bot id looks like st-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx",
    "invalid-dialog-id": "a dialog id looks like dg-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx",
    "invalid-group-id": "a group id looks like e-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx",
    "unknown-role": "the role name is not in the Roles sheet",
    "unknown-bot": "the bot name is not in the Bots sheet",
    "unknown-group": "the group name is not in the Groups sheet",
    "invalid-bot-task": "bot tasks are written BOT:DIALOG,DIALOG",
    "unknown-action": "action must be add, update or remove",
    "missing-action": "apply needs an action on every row",
    "template-example": "the template's example row was left in the file",
}

# Outcome codes the dispatcher gives rows (Results.error_code).
OUTCOME_CODES = {
    "server-refused": "the server refused this user (the reason has its words)",
    "invalid-email": "the server refused the email address",
    "already-exists": "the user already exists",
    "not-found": "the user does not exist",
    "request-refused": "the server refused the request as a whole; halving isolated this row",
    "rate-limited": "refused by the rate limit on every attempt",
    "server-error": "the server failed on every attempt",
    "unverified": "an attempt was sent but its outcome could not be confirmed",
    "not-attempted": "not sent: the run stopped first (authentication refused, circuit breaker, unreachable host)",
    "interrupted": "not sent: Ctrl-C, SIGTERM or --max-runtime stopped the run first",
    "guard": "not sent: a sync guard stopped the run",
    "skipped-done": "skipped: an earlier run already did it",
    "unchanged": "skipped: sync found the user already as in the roster",
}


class BulkprovError(Exception):
    """Base of every error bulkprov raises on purpose."""


@dataclass
class InputError(BulkprovError):
    """The input (or the configuration) cannot be used: nothing is sent, exit 2."""

    code: str
    message: str
    path: str | None = None

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        return f"{where}{self.message} [{self.code}]"


@dataclass(frozen=True)
class RowError:
    """One problem in one cell; ``row`` is the row number the user sees in Excel."""

    row: int
    column: str
    value: str
    code: str
    message: str

    def __str__(self) -> str:
        return f"row {self.row}, column {self.column}: {self.message} [{self.code}]"


@dataclass(frozen=True)
class InputWarning:
    """A file-level warning (unknown column and the like); the run goes on."""

    code: str
    message: str


class RunAborted(BulkprovError):
    """The run stopped before changing anything, for a reason outside the input (exit 3)."""
