"""Column-wise checks over a chunk of rows: the rows every rule passes, found at C speed.

:meth:`bulkprov.check.validator.Validator.check` checks one row at a time (~15 µs a row).  For the
check-only path of a big file that is most of the time, and almost every row is valid.  Here a chunk
of rows is transposed into columns and each rule runs over a whole column with C-level tools
(``max(map(len, …))``, ``all(map(EMAIL_RE.match, …))``, the distinct boolean words and list entries
of a column, a dict for duplicates).  A row that any rule might fault goes through ``Validator.check``
itself, so error order and text are exactly the per-row ones; only rows with *no* message and no note
are vouched for here.

Every column kind a roster has is covered (issue #30):

* keys: plain printable ASCII (a full-width or invisible character may change them: per row);
* names, addresses, departments: any printable text -- Korean and Japanese too -- within its length
  (a character :meth:`str.isprintable` refuses may be removed with a note: per row); phones and zip
  codes printable ASCII (full-width digits are converted with a note: per row);
* booleans and actions: each distinct word of the chunk read as the validator reads it;
* list cells (groups, roles with ``role@bot`` pairs, bot tasks): each distinct entry of the column
  must be an id of its kind (:data:`bulkprov.schema.ID_KINDS`'s patterns); a name from a lookup sheet,
  a ``-`` entry of bot tasks or anything else sends its row through the per-row path.

A table with a column kind not mirrored here (a full name to split) is checked row by row.
``tests/check/test_columnwise_property.py`` generates thousands of rows of every kind, valid and spoilt, and
requires both paths to give every row the same status, codes, messages and notes (and every row code
to be met); ``tests/check/test_columnwise.py`` compares whole result workbooks.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from bulkprov import schema
from bulkprov.check.plain import PLAIN_COLUMNS
from bulkprov.check.validator import Validator
from bulkprov.io import RawRow
from bulkprov.model import Action, CheckedRow

# Column kinds whose per-row rules are mirrored below.
COVERED_KINDS = frozenset({schema.ACTION, schema.EMAIL, schema.TEXT, schema.BOOL, schema.GROUPS, schema.ROLES,
                           schema.BOT_TASKS})
BOOL_WORDS = schema.TRUE_WORDS | schema.FALSE_WORDS
BUILDS_USER = (Action.ADD, Action.UPDATE)  # the actions whose rows carry a user object (lengths, lists, booleans)


def _id(kind: str) -> str:
    """An id's pattern, unanchored, from the one table of id kinds."""
    return schema.ID_KINDS[kind].pattern.pattern.removeprefix("^").removesuffix("$")


# One entry of a list cell (between ``;`` or line breaks) that the validator turns into an id with no
# message and no note: ids only, plain ASCII, spaces around the parts it strips.  ``+`` adds (on update
# as on add); ``-`` removes groups and roles, and is left to the per-row path for bot tasks (where
# ``-BOT:…`` is an error).
_SIGN = r"(?:[+-] *)?"
ENTRY_RES = {
    "groups": re.compile(rf" *{_SIGN}{_id('group')} *"),
    "roles": re.compile(rf" *{_SIGN}{_id('role')}(?: *@ *{_id('bot')})? *"),
    "botTasks": re.compile(rf" *(?:\+ *)?{_id('bot')} *: *{_id('dialog')}(?: *, *{_id('dialog')})* *,? *"),
}
_LIST_SEPARATORS = re.compile(r"[;\n\r]")
_NOTHING = re.compile(r"(?!)")  # matches no entry: every row holding one goes per row


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
    """The column-wise twin of one :class:`Validator` (sharing its duplicate bookkeeping).

    ``rows`` and ``slow_rows`` count what it has seen and what went row by row (the benchmark's share)."""

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
        # The same columns, limits and exceptions as Validator._user_info / _user_object: (index, limit,
        # whether non-ASCII text is converted with a note).
        self.texts = [(i, limit, name in PLAIN_COLUMNS) for name, i, limit in v.info_columns
                      if name not in ("emailId", "orgUserId")]
        self.org_limit = schema.BY_NAME["orgUserId"].max_length
        # A roster exported from another account (migrating): its bot tasks are left out with a note, per row.
        entries = {**ENTRY_RES, "botTasks": _NOTHING} if getattr(v, "migrating", False) else ENTRY_RES
        self.lists = [(index[c.name], entries[c.name], c.max_length) for c in schema.COLUMNS
                      if c.is_list and c.name in index]
        self.bools = [index[name] for name in schema.BOOL_COLUMNS if name in index]
        self.send_i = index.get("sendEmail")
        self.rows = 0
        self.slow_rows = 0

    def check(self, rows: list[RawRow]) -> Chunk:
        n = len(rows)
        columns = list(zip(*[r.cells for r in rows], strict=True))
        numbers = [r.row for r in rows]
        blank = ("",) * n
        emails = list(columns[self.email_i]) if self.email_i is not None else list(blank)
        orgs = list(columns[self.org_i]) if self.org_i is not None else list(blank)
        actions = self._actions(columns, n)
        sends = self._send_email(columns, actions)
        chunk = Chunk(rows, numbers, actions, emails, orgs, sends)
        self.rows += n
        if not self.enabled:
            suspects = set(range(n))
        else:
            suspects = self._suspects(rows, columns, actions, emails, orgs)
        if not suspects and self._record_keys(emails, orgs, numbers):
            pass
        elif len(suspects) * 8 < n:  # a few suspects: the runs between them still recorded at C speed
            self._runs_between(chunk, sorted(suspects))
        else:
            self._row_by_row(chunk, suspects, 0, n)
        self.slow_rows += len(chunk.slow)
        return chunk

    # -- the rules, column by column -------------------------------------------------------------

    def _actions(self, columns: list[tuple[str, ...]], n: int) -> list[Action]:
        if self.fixed is not None:
            return [self.fixed] * n
        if self.action_i is None:
            return [Action.NONE] * n
        column = columns[self.action_i]
        none = Action.NONE
        words = {a: schema.ACTIONS.get(schema.normalize_word(a), none) for a in set(column)}
        return list(map(words.__getitem__, column))

    def _send_email(self, columns: list[tuple[str, ...]], actions: list[Action]) -> list[bool | None]:
        """The row's email choice, as the validator reads it: only rows that build a user have one."""
        if self.send_i is None:
            return [None] * len(actions)
        column = columns[self.send_i]
        true = schema.TRUE_WORDS
        words = {v: (schema.normalize_word(v) in true if v else None) for v in set(column)}
        sends = list(map(words.__getitem__, column))
        if self.fixed is None or self.fixed not in BUILDS_USER:
            sends = [s if a in BUILDS_USER else None for s, a in zip(sends, actions, strict=True)]
        return sends

    def _suspects(self, rows: list[RawRow], columns: list[tuple[str, ...]], actions: list[Action],
                  emails: list[str], orgs: list[str]) -> set[int]:
        """Positions of the rows some rule might fault or note (the rest pass every rule but duplicates)."""
        suspects: set[int] = {p for p, r in enumerate(rows) if r.uncalculated}  # a formula never calculated
        if self.fixed is None:
            suspects.update(p for p, a in enumerate(actions) if not a)
            building: Sequence[int] = [p for p, a in enumerate(actions) if a in BUILDS_USER]
        else:
            building = range(len(actions)) if self.fixed in BUILDS_USER else ()
        self._keys(emails, orgs, actions, suspects)
        for i, entry, limit in self.lists:  # checked for invisible characters whatever the action
            _list_cells(columns[i], entry, limit, suspects)
        if building:
            self._user_columns(columns, orgs, building, suspects)
        return suspects

    def _keys(self, emails: list[str], orgs: list[str], actions: list[Action], suspects: set[int]) -> None:
        """Validator._check_keys: email length, shape and the template's example; a row without an
        email needs an orgUserId and an action other than add.  Keys that are not plain printable
        ASCII (converted, or hiding a character) go row by row."""
        if not all(emails):
            suspects.update(p for p, e in enumerate(emails) if not e and (actions[p] == Action.ADD or not orgs[p]))
        present = emails if all(emails) else [e for e in emails if e]
        if present and max(map(len, present)) > self.email_limit:
            suspects.update(p for p, e in enumerate(emails) if len(e) > self.email_limit)
        match = schema.EMAIL_RE.match
        if not all(map(match, present)):
            suspects.update(p for p, e in enumerate(emails) if e and not match(e))
        if not _plain_ascii("".join(present)):
            suspects.update(p for p, e in enumerate(emails) if not _plain_ascii(e))
        folded = "\n".join(present).casefold()
        if any(example in folded for example in schema.EXAMPLE_EMAILS):  # a few searches; rows only on a hit
            suspects.update(p for p, e in enumerate(emails) if e.casefold() in schema.EXAMPLE_EMAILS)
        # Keys are compared as match_key() makes them; for trimmed ASCII that is casefold().
        if not _plain_ascii("".join(orgs)):
            suspects.update(p for p, o in enumerate(orgs) if not _plain_ascii(o))
        if list(map(str.strip, orgs)) != orgs:
            suspects.update(p for p, o in enumerate(orgs) if o != o.strip())

    def _user_columns(self, columns: list[tuple[str, ...]], orgs: list[str], building: Sequence[int],
                      suspects: set[int]) -> None:
        """Validator._user_object: info text (printable, within its length), booleans."""
        if self.org_limit and orgs and max(map(len, orgs)) > self.org_limit:
            suspects.update(p for p in building if len(orgs[p]) > self.org_limit)
        for i, limit, ascii_only in self.texts:
            col = columns[i]
            if limit and max(map(len, col)) > limit:
                suspects.update(p for p in building if len(col[p]) > limit)
            text = "".join(col)
            if not text.isprintable() or (ascii_only and not text.isascii()):
                suspects.update(p for p in building if not _plain_text(col[p], ascii_only))
        for i in self.bools:
            col = columns[i]
            wrong = {v for v in set(col) if v and schema.normalize_word(v) not in BOOL_WORDS}
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

    def _runs_between(self, chunk: Chunk, suspects: list[int]) -> None:
        """Each run of rows between suspects recorded at once when its keys are new, the suspects
        through Validator.check, in input order (a later row's duplicate names the earlier row)."""
        v = self.validator
        start = 0
        for p in [*suspects, len(chunk.rows)]:
            if p > start:
                self._record_run(chunk, start, p)
            if p < len(chunk.rows):
                chunk.slow[p] = v.check(chunk.rows[p])
            start = p + 1

    def _record_run(self, chunk: Chunk, start: int, stop: int) -> None:
        """Rows ``start:stop`` (no suspect among them): their keys recorded at once when all are new;
        else halved until the repeats are found, which go through Validator.check."""
        if stop - start <= 8:
            self._row_by_row(chunk, (), start, stop)
        elif not self._record_keys(chunk.emails[start:stop], chunk.org_user_ids[start:stop],
                                   chunk.numbers[start:stop]):
            middle = (start + stop) // 2
            self._record_run(chunk, start, middle)
            self._record_run(chunk, middle, stop)

    def _row_by_row(self, chunk: Chunk, suspects: Collection[int], start: int, stop: int) -> None:
        """Rows ``start:stop`` in order: suspects and duplicates through Validator.check, the others'
        keys recorded."""
        v = self.validator
        first_email, first_org = v.seen_email.first, v.seen_org.first
        for p in range(start, stop):
            raw = chunk.rows[p]
            if p in suspects:
                chunk.slow[p] = v.check(raw)
                continue
            email, org, row = chunk.emails[p], chunk.org_user_ids[p], raw.row
            repeated = bool(email) and first_email(email.casefold(), row) != row
            repeated = (bool(org) and first_org(org.casefold(), row) != row) or repeated
            if repeated:  # check() meets the same bookkeeping and names the earlier row
                chunk.slow[p] = v.check(raw)


def _list_cells(col: tuple[str, ...], entry: re.Pattern[str], limit: int | None, suspects: set[int]) -> None:
    """The rows of a list column holding an entry that is not an id of its kind, or too long a cell.

    The distinct entries of the whole column are checked (a roster names a few dozen roles, groups
    and bots), then only the cells holding a bad one are looked for: by its text when there are a few
    (a cell that merely contains it, inside a longer entry, goes per row too: slower, never wrong)."""
    if limit and max(map(len, col)) > limit:
        suspects.update(p for p, c in enumerate(col) if len(c) > limit)
    joined = ";".join(col)
    if not joined.replace(";", ""):
        return
    entries = set(_LIST_SEPARATORS.split(joined) if "\n" in joined or "\r" in joined else joined.split(";"))
    bad = {e for e in entries if not _empty_entry(e) and not entry.fullmatch(e)}
    if not bad:
        return
    if len(bad) > 8:
        verdict = {c: any(part in bad for part in _LIST_SEPARATORS.split(c)) for c in set(col) if c}
        suspects.update(p for p, c in enumerate(col) if c and verdict[c])
        return
    for entry_text in bad:  # a cell holding the entry holds its text (a few more suspects at most)
        suspects.update(p for p, c in enumerate(col) if entry_text in c)


def _empty_entry(text: str) -> bool:
    """An entry the validator skips without a word: blank, or only spaces."""
    return not text.strip(" ")


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


def _plain_text(text: str, ascii_only: bool) -> bool:
    """Text the validator sends as written, without a note: printable (and ASCII where it converts)."""
    return text.isprintable() and (text.isascii() or not ascii_only)
