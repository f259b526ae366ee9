"""Row, outcome and warning codes: one problem in one cell, what happened to a sent row, a note
about the file."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bulkprov.errors.base import N_, render


@dataclass(frozen=True)
class Problem:
    """A row or outcome code with its description and templates."""

    code: str
    description: str
    templates: Mapping[str, str]

    def render(self, variant: str = "", /, **params: Any) -> str:
        template = self.templates.get(variant)
        if template is None:
            raise KeyError(f"{self.code} has no message variant {variant!r}")
        return render(template, params)


def _problems(*items: Problem) -> dict[str, Problem]:
    return {p.code: p for p in items}


ROW_CODES: dict[str, Problem] = _problems(
    Problem("missing-email", N_("emailId is required to add a user"),
            {"": N_("the email is blank: every user to add needs one")}),
    Problem("missing-key", N_("update and remove need an emailId or an orgUserId"),
            {"": N_("both emailId and orgUserId are blank: {action} needs one of them")}),
    Problem("invalid-email", N_("not a valid email address"),
            {"": N_("not a valid email address: write it like jane.doe@example.com"),
             "full-width": N_("not a valid email address even after full-width characters were converted: write it "
                              "like jane.doe@example.com"),
             "non-ascii": N_("the address contains '{char}', which an email address cannot hold here: check for a "
                             "Korean or Japanese character typed by mistake"),
             "trailing-dot": N_("the address ends with '{char}' (a full stop typed with a Japanese or Korean "
                                "keyboard): delete it")}),
    Problem("invisible-character", N_("the value holds an invisible or control character"),
            {"": N_("contains {char} at position {position}: retype the value (it may have been pasted from a web "
                    "page or a chat)")}),
    Problem("duplicate-email", N_("the same email appears in an earlier row"),
            {"": N_("'{value}' is already in row {first}: keep one of the two rows"),
             "later": N_("'{value}' is also in row {later}: neither row is applied until one of them is corrected")}),
    Problem("duplicate-org-user-id", N_("the same orgUserId appears in an earlier row"),
            {"": N_("'{value}' is already in row {first}: keep one of the two rows"),
             "later": N_("'{value}' is also in row {later}: neither row is applied until one of them is corrected")}),
    Problem("key-conflict", N_("the row's emailId and orgUserId belong to different users that sync applied"),
            {"org-elsewhere": N_("orgUserId '{org}' belongs to {other} (applied by sync), not to {email}: nothing is "
                                 "done to either tonight. Correct the row; if that person's email really changed, "
                                 "change it in the account first"),
             "email-elsewhere": N_("{email} has orgUserId '{other}' (applied by sync), not '{org}': nothing is done to "
                                   "the user tonight. Correct the row; if the employee number really changed, change "
                                   "it in the account first")}),
    Problem("invalid-boolean", N_("not a yes/no value"),
            {"": N_("'{value}' is not a yes/no value: write TRUE or FALSE (yes/no, y/n, 1/0 also work)")}),
    Problem("too-long", N_("the value is longer than the platform allows"),
            {"": N_("{length} characters; {field} allows at most {limit}")}),
    Problem("invalid-role-id", N_("a role id must be 24 hexadecimal characters"),
            {"": N_("'{value}' is not a valid role id")}),
    Problem("invalid-bot-id", N_("a bot id starts with st-"),
            {"": N_("'{value}' is not a valid bot id")}),
    Problem("invalid-dialog-id", N_("a dialog id starts with dg-"),
            {"": N_("'{value}' is not a dialog id: ids look like dg-0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b")}),
    Problem("invalid-group-id", N_("a group id looks like e-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"),
            {"": N_("'{value}' is not a group id: ids look like e-06b41cdd-7678-5394-b958-40ca5662f502")}),
    Problem("unknown-role", N_("the role name is not on the account (nor in the Roles sheet, offline)"),
            {"": N_("role '{value}' is not in the Roles sheet: add it there with its id, or use the id"),
             "account": N_("role '{value}' is not on this account (read again just now): an administrator creates "
                           "it first, or write one of the account's roles"),
             "account-suggest": N_("role '{value}' is not on this account; did you mean {suggestions}?"),
             "incomplete": N_("role '{value}' was not found, but the account's roles could not be read whole: it "
                              "may be among those not read; write its id")}),
    Problem("unknown-bot", N_("the bot name is not on the account (nor in the Bots sheet, offline)"),
            {"": N_("bot '{value}' is not in the Bots sheet: add it there with its id, or use the id"),
             "account": N_("bot '{value}' is not on this account (read again just now): write one of the account's "
                           "bots"),
             "account-suggest": N_("bot '{value}' is not on this account; did you mean {suggestions}?"),
             "incomplete": N_("bot '{value}' was not found, but the account's bots could not be read whole: it may "
                              "be among those not read; write its id")}),
    Problem("unknown-group", N_("the group name is not on the account (nor in the Groups sheet, offline)"),
            {"": N_("group '{value}' is not in the Groups sheet: add it there with its id, or use the id"),
             "account": N_("group '{value}' is not on this account (read again just now): an administrator creates "
                           "it first, or write one of the account's groups"),
             "account-suggest": N_("group '{value}' is not on this account; did you mean {suggestions}?"),
             "incomplete": N_("group '{value}' was not found, but the account's groups could not be read whole: it "
                              "may be among those not read; write its id")}),
    Problem("ambiguous-name", N_("the account has several roles, bots or groups of this name: only an id says which"),
            {"role": N_("the account has {count} roles named '{value}': write the id of the one you mean "
                        "({candidates})"),
             "bot": N_("the account has {count} bots named '{value}': write the id of the one you mean "
                       "({candidates})"),
             "group": N_("the account has {count} groups named '{value}': write the id of the one you mean "
                         "({candidates})"),
             "separator": N_("'{value}' is part of a name holding ';', '@' or ':', which a list cell splits: write "
                             "the id instead ({candidates})")}),
    Problem("not-on-account", N_("a lookup sheet gives a name an id the account does not have"),
            {"": N_("the lookup sheet gives '{value}' the id {ident}, which is not on this account: correct the "
                    "sheet or write the account's name")}),
    Problem("name-disagrees", N_("a lookup sheet gives a name another id than the account does"),
            {"": N_("the lookup sheet gives '{value}' the id {ident}, but on this account '{name}' is {account_id}: "
                    "nothing is sent with either until the sheet is corrected (or the sheet left out)")}),
    Problem("unmappable-role", N_("an admin role no user of the account holds has no id bulkprov can learn"),
            {"": N_("admin role '{value}' has no id in the account's roles reply and no user holds it, so it cannot "
                    "be given by name: write its id, or give it to one user in the admin console first")}),
    Problem("wrong-role-type", N_("a bot role written as an admin role, or the other way round"),
            {"bot": N_("'{value}' is a bot role: write it with its bot, like {value}@BOT NAME"),
             "admin": N_("'{value}' is an admin role: write it without @ and a bot")}),
    Problem("directory-unavailable", N_("a name only another host's lookup sheet knows, and the account's names "
                                        "could not be read"),
            {"": N_("'{value}' is named only by a lookup sheet made for another host ({host}), whose ids are not this "
                    "account's, and this account's roles, bots and groups could not be read: nothing is sent for "
                    "this row until they can be (or the id is written)")}),
    Problem("invalid-bot-task", N_("bot tasks are written BOT:DIALOG,DIALOG"),
            {"": N_("'{value}' is not a bot task: write BOT:DIALOG,DIALOG (dialogs are dg-… ids)"),
             "remove-with-dialogs": N_("'{value}': -BOT removes all of a bot's tasks and takes no dialogs")}),
    Problem("unknown-action", N_("action must be add, update or remove"),
            {"": N_("'{value}' is not an action: write add, update or remove (or New, Update, Delete)")}),
    Problem("missing-action", N_("apply needs an action on every row"),
            {"": N_("the action is blank: write add, update or remove (or New, Update, Delete)")}),
    Problem("template-example", N_("the template's example row was left in the file"),
            {"": N_("this is the template's example row: delete it before running")}),
    Problem("unsplit-name", N_("a full name without a space cannot be split into family and given name"),
            {"": N_("'{value}' has no space between the family name and the given name: write it like 山田 太郎 "
                    "or 김 민준, or use separate lastName and firstName columns")}),
    Problem("uncalculated-formula", N_("the cell holds a formula that was never calculated"),
            {"": N_("the cell holds a formula ({formula}) whose value was never calculated: open the file in Excel "
                    "and save it, or paste the values instead of the formulas")}),
)

# Notes a row may carry beside its status (not errors: the row still goes).
ROW_NOTES: dict[str, Problem] = _problems(
    Problem("normalised", N_("a value was converted to its plain form"),
            {"": N_("{column}: full-width or compatibility characters converted ('{before}' → '{after}')")}),
    Problem("name-split", N_("a full name was split into lastName and firstName"),
            {"": N_("fullName '{value}' split: lastName '{last}', firstName '{first}'")}),
    Problem("invisible-removed", N_("invisible characters were removed from a name"),
            {"": N_("{column}: removed {chars}")}),
    Problem("tasks-not-carried", N_("bot tasks of another account's export are not carried"),
            {"": N_("bot tasks not carried: their dialogs are named by ids of {origin}, which name nothing on this "
                    "account (dialogs have no names to map them by): assign them on this account")}),
    Problem("relaxed-id", N_("an id without the usual shape, or a value over an assumed length, sent as written"),
            {"": N_("row {row}, column {column}: '{value}' does not have the usual shape of a {what} id; it is sent "
                    "as written (strict ids are off)"),
             "length": N_("row {row}, column {column}: {length} characters, over the {limit} bulkprov assumes "
                          "for {column}; sent as written (strict ids are off)"),
             "more": N_("and {count} more values sent as written")}),
)


# ================================================================================================
# Outcome codes: what happened to a row that was sent (Results.error_code)
# ================================================================================================

OUTCOME_CODES: dict[str, Problem] = _problems(
    Problem("server-refused", N_("the server refused this user (the reason has its words)"),
            {"": "{said}",
             "unnamed": N_("the server answered HTTP {status} without naming this user, and the user is not as "
                           "asked"),
             "role": N_("role {which} does not exist on this account (the server said: {said})"),
             "roles": N_("one of the roles {which} does not exist on this account (the server said: {said})"),
             "bot": N_("bot {which} does not exist on this account (the server said: {said})"),
             "bots": N_("one of the bots {which} does not exist on this account (the server said: {said})"),
             "group": N_("group {which} does not exist on this account (the server said: {said})"),
             "groups": N_("one of the groups {which} does not exist on this account (the server said: {said})")}),
    Problem("not-applied", N_("the server's reply did not say the change was made, and usersInfo shows it was not"),
            {"": N_("not done: the server answered {said}, which does not say it was done, and usersInfo shows it "
                    "was not")}),
    Problem("invalid-email", N_("the server refused the email address"), {"": "{said}"}),
    Problem("already-exists", N_("the user already exists"), {"": "{said}"}),
    Problem("not-found", N_("the user does not exist"),
            {"": "{said}",
             "absent-before": N_("User not found (it did not exist before this run removed others)"),
             "lookup": N_("not in the account")}),
    Problem("request-refused", N_("the server refused the request as a whole; halving isolated this row"),
            {"": N_("the server refused this user: {said}")}),
    Problem("rate-limited", N_("refused by the rate limit until the wall-clock cap passed"),
            {"": N_("gave up after {attempts} attempts: {said}")}),
    Problem("server-error", N_("the server failed on every attempt"),
            {"": N_("gave up after {attempts} attempts: {said}")}),
    Problem("unverified", N_("an attempt was sent but its outcome could not be confirmed"),
            {"": N_("gave up after {attempts} attempts: {said}"),
             "stopped": N_("outcome unknown: an attempt was sent but the run stopped before it was confirmed "
                           "({stopped}); it is checked first when the run is resumed"),
             "other-key": N_("unverified: the server reported a failure for another key ({said})"),
             "unnamed": N_("unverified: the server answered HTTP {status} without naming this user"),
             "in-flight": N_("outcome unknown: the run stopped while this row was in flight; resuming the run "
                             "checks it first"),
             "unknown-reply": N_("outcome unknown: the server answered {said}, which does not say what happened, "
                                 "and usersInfo did not name this user; resuming the run checks it again"),
             "queued": N_("outcome unknown: the server queued the request ({said}) and had not done it when "
                          "asked; resuming the run checks it again"),
             "update-unchecked": N_("outcome unknown: the server answered {said}, which does not say the update "
                                    "was made, and usersInfo does not show every change it makes; resuming the "
                                    "run checks it again"),
             "left-out": N_("outcome unknown: the server's usersInfo reply does not name this user"),
             "sent": N_("outcome unknown: the request was sent and the run stopped ({stopped}) before its reply "
                        "was known; resuming the run checks it first")}),
    Problem("not-attempted", N_("not sent: the run stopped first (authentication refused, circuit breaker, "
                                "unreachable host, full disk)"),
            {"": N_("not sent: {stopped}"),
             "pending": N_("not sent yet: resume the run to send it"),
             "stray-details": N_("not removed: its details could not be fetched ({said}), so an undo file could "
                                 "not add it back")}),
    Problem("interrupted", N_("not sent: a stop signal or the run-time limit stopped the run first"),
            {"": N_("not sent: {stopped}")}),
    Problem("guard", N_("not sent: a safety guard stopped the run (or it waits for approval)"), {"": N_("not sent: {stopped}")}),
    Problem("skipped-done", N_("skipped: an earlier run already did it"),
            {"": N_("already done by run {run_id} ({when})"),
             "not-retried": N_("not retried: it did not fail in run {run_id}")}),
    Problem("unchanged", N_("skipped: sync found the user already as in the roster"),
            {"": N_("unchanged: already as in the roster"), "note": "{note}"}),
)


# Reasons a successful row may carry (its error_code stays blank).
SUCCESS_NOTES: dict[str, Problem] = _problems(
    Problem("confirmed", N_("success after an uncertain attempt, confirmed by asking the server"),
            {"created": N_("created (confirmed): an earlier attempt's reply was lost and the server now has the "
                           "user"),
             "created-info": N_("created (confirmed by usersInfo after the reply was lost)"),
             "removed": N_("removed (confirmed): an earlier attempt's reply was lost and the user is now gone"),
             "removed-info": N_("removed (confirmed by usersInfo after the reply was lost)"),
             "updated-info": N_("updated (confirmed by usersInfo after the reply was lost)"),
             "unmatched": N_("confirmed by usersInfo (the reply's failure list did not match)"),
             "unknown-reply": N_("confirmed by usersInfo (the server answered {said}, which did not say)")}),
)


# How a row's problem reads in the Results sheet and on screen.
ROW_ERROR = N_("row {row}, column {column}: {message} [{code}]")


@dataclass(frozen=True, slots=True)
class RowError:
    """One problem in one cell; ``row`` is the row number the user sees in Excel, ``column`` bulkprov's
    column and ``header`` the user's own header of it (성명 for fullName), which messages name."""

    row: int
    column: str
    value: str
    code: str
    message: str
    header: str = ""

    @classmethod
    def of(cls, row: int, column: str, value: str, code: str, variant: str = "", /, *, header: str = "",
           **params: Any) -> RowError:
        return cls(row, column, value, code, ROW_CODES[code].render(variant, **params), header)

    @property
    def shown_column(self) -> str:
        """The column as the user's sheet names it (bulkprov's name when the sheet has no such column)."""
        return self.header or self.column

    def __str__(self) -> str:
        return render(ROW_ERROR, {"row": self.row, "column": self.shown_column, "message": self.message,
                                  "code": self.code})


@dataclass(frozen=True)
class InputWarning:
    """A file-level warning (unknown column and the like); the run goes on."""

    code: str
    message: str


WARNING_CODES: dict[str, str] = {
    "unknown-column": N_("a column bulkprov does not know; it is ignored"),
    "misnamed-file": N_("the file's name says one format, its content another; it is read for what it is"),
    "sheet-ignored": N_("a sheet was named for a CSV file, which has none"),
    "encoding-ignored": N_("an encoding was named for a workbook, whose text is Unicode anyway"),
    "lookup-sheet": N_("a row of a Roles, Bots or Groups sheet cannot be used"),
    "invisible-header": N_("a header holds invisible characters (bidi marks, zero-width spaces); they are ignored"),
    "relaxed-id": N_("an id does not have the usual shape; it is sent as written"),
    "ignored-column": N_("a column the run was told to ignore"),
    "directory-unavailable": N_("the account's roles, bots and groups could not be read: names come from the "
                                "lookup sheets only"),
    "directory-incomplete": N_("a listing of the account's roles, bots or groups was not read whole"),
}


# The warnings' messages, by code (the codes above); a warning is made with :meth:`InputWarning.of`.
WARNINGS: dict[str, Problem] = _problems(
    Problem("unknown-column", WARNING_CODES["unknown-column"],
            {"": N_("column '{header}' ({letter}) is not a bulkprov column and is ignored"),
             "suggest": N_("column '{header}' ({letter}) is not a bulkprov column and is ignored; did you mean "
                           "{suggestion}?")}),
    Problem("misnamed-file", WARNING_CODES["misnamed-file"],
            {"workbook": N_("the file is named {ext} but is a workbook; it is read as one"),
             "text": N_("the file is named {ext} but contains plain text; it is read as CSV")}),
    Problem("sheet-ignored", WARNING_CODES["sheet-ignored"],
            {"": N_("sheet '{sheet}' is ignored: a text (CSV) file has no sheets")}),
    Problem("encoding-ignored", WARNING_CODES["encoding-ignored"],
            {"": N_("the encoding {encoding} is ignored: a workbook stores its text as Unicode")}),
    Problem("lookup-sheet", WARNING_CODES["lookup-sheet"],
            {"columns": N_("sheet {kind} needs the columns '{name_col}' and '{id_col}' in its first row; it is "
                           "ignored"),
             "no-name": N_("{kind} row {row}: the id {ident} has no name; the row is ignored"),
             "no-id": N_("{kind} row {row}: '{name}' has no {id_col}; the row is ignored"),
             "bad-id": N_("{kind} row {row}: '{ident}' is not a valid {id_col}; '{name}' is ignored"),
             "twice": N_("{kind} row {row}: the name '{name}' is already on row {first} with another id; the first "
                         "one is used")}),
    Problem("invisible-header", WARNING_CODES["invisible-header"],
            {"": N_("header '{header}' ({letter}) holds {chars}; it is read as {column}")}),
    Problem("ignored-column", WARNING_CODES["ignored-column"],
            {"": N_("column '{header}' ({letter}) is ignored, as asked")}),
    Problem("directory-unavailable", WARNING_CODES["directory-unavailable"],
            {"": N_("the account's roles, bots and groups could not be read ({said}): role, bot and group names "
                    "are taken from the Roles, Bots and Groups sheets made for this account (or with no host), "
                    "and names from another host's sheets cannot be resolved")}),
    Problem("directory-incomplete", WARNING_CODES["directory-incomplete"],
            {"short": N_("the account's {listing} were not read whole: {count} read, the account says {total}; a "
                         "name not found may be among the others"),
             "changed": N_("the account's {listing} changed while they were read ({count} read, the account says "
                           "{total})"),
             "repeated": N_("the account's {listing} were not read whole: the server gave a page again instead of "
                            "the next one ({count} read, the account says {total})"),
             "refused-page": N_("the account's {listing} were not read whole: the server refused a later page "
                                "({count} read, the account says {total})"),
             "too-many-pages": N_("the account's {listing} were not read whole: the server kept saying there were "
                                  "more ({count} read)"),
             "admin-ids": N_("{count} admin roles have no id ({names}): the roles reply gives none and no user of "
                             "the account holds them, so they cannot be given by name")}),
)


def warning(code: str, variant: str = "", /, **params: Any) -> InputWarning:
    """A file-level warning with its declared message, in the reader's language."""
    return InputWarning(code, WARNINGS[code].render(variant, **params))
