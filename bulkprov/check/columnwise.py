"""Column-wise checks over a chunk of rows: the rows every rule passes, found at C speed.

:meth:`bulkprov.check.validator.Validator.check` checks one row at a time (~15 µs a row).  For the
check-only path of a big file that is most of the time, and almost every row is valid.  Here a chunk
of rows is transposed into columns and each rule runs over a whole column with C-level tools
(``max(map(len, …))``, ``all(map(EMAIL_RE.match, …))``, a set of the distinct boolean words, a
dict for duplicates).  A row that any rule might fault goes through ``Validator.check`` itself, so
error order and text are exactly the per-row ones; only rows with *no* message are vouched for here.

Equivalence is kept narrow on purpose:

* only plain printable ASCII rows are vouched for (full-width, invisible and control characters,
  and whatever rule comes for them, stay on the per-row path);
* only columns whose rules are mirrored here (:data:`COVERED_KINDS`, user-info lengths) are allowed:
  a table with any other column is checked row by row;
* list cells (groups, roles, bot tasks) go row by row;
* ``tests/check/test_columnwise.py`` compares the result workbooks of both paths on a file with every
  error code the validator can raise (found in its source), so a new rule fails that test until it
  is mirrored here or routed to the per-row path.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

from bulkprov import schema
from bulkprov.check.validator import Validator
from bulkprov.io import RawRow
from bulkprov.model import Action, CheckedRow

# Column kinds whose per-row rules are mirrored below.
COVERED_KINDS = frozenset({schema.ACTION, schema.EMAIL, schema.TEXT, schema.BOOL, schema.GROUPS, schema.ROLES,
                           schema.BOT_TASKS})
BOOL_WORDS = schema.TRUE_WORDS | schema.FALSE_WORDS
BUILDS_USER = (Action.ADD, Action.UPDATE)  # the actions whose rows carry a user object (lengths, lists, booleans)


@dataclass
class Chunk:
    """A chunk's rows with the column values the results need; ``slow`` holds the rows checked one
    by one (position → CheckedRow); every other row is valid."""

    rows: list[RawRow]
    numbers: list[int]
    actions: list[Action]
    emails: list[str]
    org_user_ids: list[str]
    send_email: list[bool | None]
    slow: dict[int, CheckedRow] = field(default_factory=dict)


class ColumnChecks:
    """The column-wise twin of one :class:`Validator` (sharing its duplicate bookkeeping)."""

    def __init__(self, validator: Validator, columns: Sequence[schema.Column | None]) -> None:
        self.validator = v = validator
        index = v.index
        self.enabled = all(c is None or c.kind in COVERED_KINDS and (c.kind != schema.TEXT or c.in_user_info)
                           for c in columns)
        self.email_i = index.get("emailId")
        self.org_i = index.get("orgUserId")
        self.action_i = index.get("action") if v.per_row_action else None
        self.fixed = v.fixed_action
        self.email_limit = schema.BY_NAME["emailId"].max_length or 254
        # The same columns, limits and exceptions as Validator._user_info / _user_object.
        self.lengths = [(i, limit) for name, i, limit in v.info_columns if limit and name != "emailId"]
        self.lists = [index[c.name] for c in schema.COLUMNS if c.is_list and c.name in index]
        self.bools = [index[name] for name in schema.BOOL_COLUMNS if name in index]
        self.send_i = index.get("sendEmail")

    def check(self, rows: list[RawRow]) -> Chunk:
        n = len(rows)
        columns = list(zip(*[r.cells for r in rows], strict=True))
        numbers = [r.row for r in rows]
        blank = ("",) * n
        emails = list(columns[self.email_i]) if self.email_i is not None else list(blank)
        orgs = list(columns[self.org_i]) if self.org_i is not None else list(blank)
        actions = self._actions(columns, n)
        sends = self._send_email(columns, n)
        chunk = Chunk(rows, numbers, actions, emails, orgs, sends)
        if not self.enabled:
            suspects = set(range(n))
        else:
            suspects = self._suspects(rows, columns, actions, emails, orgs)
        if not suspects and self._record_keys(emails, orgs, numbers):
            return chunk
        self._row_by_row(chunk, suspects)
        return chunk

    # -- the rules, column by column -------------------------------------------------------------

    def _actions(self, columns: list[tuple[str, ...]], n: int) -> list[Action]:
        if self.fixed is not None:
            return [self.fixed] * n
        if self.action_i is None:
            return [Action.NONE] * n
        get, none = schema.ACTIONS.get, Action.NONE
        return [get(a.casefold(), none) for a in columns[self.action_i]]

    def _send_email(self, columns: list[tuple[str, ...]], n: int) -> list[bool | None]:
        if self.send_i is None:
            return [None] * n
        true = schema.TRUE_WORDS
        return [None if not v else v.casefold() in true for v in columns[self.send_i]]

    def _suspects(self, rows: list[RawRow], columns: list[tuple[str, ...]], actions: list[str],
                  emails: list[str], orgs: list[str]) -> set[int]:
        """Positions of the rows some rule might fault (the rest pass every rule but duplicates)."""
        suspects: set[int] = {p for p, r in enumerate(rows) if r.uncalculated}  # a formula never calculated
        if not _plain_ascii("".join(itertools.chain.from_iterable(columns))):
            suspects.update(p for p, r in enumerate(rows) if not _plain_ascii("".join(r.cells)))
        if self.fixed is None:
            suspects.update(p for p, a in enumerate(actions) if not a)
            building: Sequence[int] = [p for p, a in enumerate(actions) if a in BUILDS_USER]
        else:
            building = range(len(actions)) if self.fixed in BUILDS_USER else ()
        self._keys(emails, orgs, actions, suspects)
        if building:
            self._user_columns(columns, building, suspects)
        return suspects

    def _keys(self, emails: list[str], orgs: list[str], actions: list[str], suspects: set[int]) -> None:
        """Validator._check_keys: email length, shape and the template's example; a row without an
        email needs an orgUserId and an action other than add."""
        if not all(emails):
            suspects.update(p for p, e in enumerate(emails) if not e and (actions[p] == Action.ADD or not orgs[p]))
        present = emails if all(emails) else [e for e in emails if e]
        if present and max(map(len, present)) > self.email_limit:
            suspects.update(p for p, e in enumerate(emails) if len(e) > self.email_limit)
        match = schema.EMAIL_RE.match
        if not all(map(match, present)):
            suspects.update(p for p, e in enumerate(emails) if e and not match(e))
        joined = "\n".join(present).casefold()
        if any(example in joined for example in schema.EXAMPLE_EMAILS):  # a few searches; rows only on a hit
            suspects.update(p for p, e in enumerate(emails) if e.casefold() in schema.EXAMPLE_EMAILS)
        # Keys are compared as match_key() makes them; for trimmed ASCII that is casefold().
        if list(map(str.strip, orgs)) != orgs:
            suspects.update(p for p, o in enumerate(orgs) if o != o.strip())

    def _user_columns(self, columns: list[tuple[str, ...]], building: Sequence[int], suspects: set[int]) -> None:
        """Validator._user_object: info lengths, list cells (row by row), booleans."""
        for i, limit in self.lengths:
            col = columns[i]
            if max(map(len, col)) > limit:
                suspects.update(p for p in building if len(col[p]) > limit)
        for i in self.lists:
            col = columns[i]
            if any(col):
                suspects.update(p for p in building if col[p])
        for i in self.bools:
            col = columns[i]
            wrong = {v for v in set(col) if v and v.casefold() not in BOOL_WORDS}
            if wrong:
                suspects.update(p for p in building if col[p] in wrong)

    # -- duplicates ----------------------------------------------------------------------------

    def _record_keys(self, emails: list[str], orgs: list[str], numbers: list[int]) -> bool:
        """Record the chunk's keys at C speed when none repeats; False (nothing recorded) otherwise."""
        v = self.validator
        email_keys, email_rows = _present(emails, numbers)
        org_keys, org_rows = _present(orgs, numbers)
        new_emails = v.seen_email.check_new(email_keys)
        new_orgs = v.seen_org.check_new(org_keys) if new_emails is not None else None
        if new_emails is None or new_orgs is None:
            return False
        v.seen_email.record(new_emails, email_rows)
        v.seen_org.record(new_orgs, org_rows)
        return True

    def _row_by_row(self, chunk: Chunk, suspects: set[int]) -> None:
        """Rows in order: suspects and duplicates through Validator.check, the others' keys recorded."""
        v = self.validator
        first_email, first_org = v.seen_email.first, v.seen_org.first
        for p, raw in enumerate(chunk.rows):
            if p in suspects:
                chunk.slow[p] = v.check(raw)
                continue
            email, org, row = chunk.emails[p], chunk.org_user_ids[p], raw.row
            repeated = bool(email) and first_email(email.casefold(), row) != row
            repeated = (bool(org) and first_org(org.casefold(), row) != row) or repeated
            if repeated:  # check() meets the same bookkeeping and names the earlier row
                chunk.slow[p] = v.check(raw)


def _present(values: list[str], numbers: list[int]) -> tuple[list[str], list[int]]:
    """The non-blank values as keys (casefold: match_key's form for trimmed ASCII) and their rows."""
    if all(values):
        text = "".join(values)
        if text.isascii() and text == text.lower():  # already in match_key's form: no new strings
            return values, numbers
        return list(map(str.casefold, values)), numbers
    pairs = [(v.casefold(), n) for v, n in zip(values, numbers, strict=True) if v]
    return [k for k, _ in pairs], [n for _, n in pairs]


def _plain_ascii(text: str) -> bool:
    return text.isascii() and text.isprintable()
