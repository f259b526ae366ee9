"""Validator: one raw row in, an API payload or that row's errors out.

Every cell of every row is checked in one pass, so a user fixes the whole file at once.  Each
problem is a :class:`~bulkprov.errors.RowError` with the Excel row number, the column, the value,
a stable code and a message that says how to fix it.  Duplicates are found within the file by the
user's normalised key (:func:`bulkprov.model.match_key`: case and full-width forms do not matter);
the later row is invalid and names the earlier one.  Role, bot and group names resolve against the
account written to (its directory, handed over by the caller) or, offline, the workbook's
``Roles``/``Bots``/``Groups`` sheets (:mod:`bulkprov.check.names`).  How a cell is parsed is decided by its column's
kind in :mod:`bulkprov.schema`, and what a list cell means on update is declared there too.

Policy choices (documented in the README):

* A blank ``canCreateBot``/``isDeveloper`` sends ``false`` on add (the server would grant Builder
  access); on update a blank boolean leaves the user's value unchanged.
* On update, blank cells are not sent (no change); list cells follow ``schema.LIST_ON_UPDATE``:
  plain entries are added, ``-entry`` removes (``+`` is accepted for symmetry); for bot tasks
  ``-BOT`` removes all of a bot's tasks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from bulkprov import schema
from bulkprov.bodies import put_lists
from bulkprov.chars import describe, invisible, without_invisible
from bulkprov.check.firstrows import FirstRows
from bulkprov.check.names import NameBook, Resolution, same_host, sheets_from
from bulkprov.check.plain import PLAIN_COLUMNS, email_problem, plain, plain_email, plain_id
from bulkprov.check.relaxed import Relaxed
from bulkprov.errors import ROW_NOTES, RowError
from bulkprov.io import RawRow, Table
from bulkprov.kore.directory import Directory
from bulkprov.model import Action, CheckedRow, RowRef, UserKey

KEY_COLUMNS = frozenset({"emailId", "orgUserId"})
# Cells where an invisible character is an error (keys, ids, names of roles, bots and groups); list
# cells may hold line breaks, which separate their entries.
_LINES = frozenset("\n\r")
CHECKED_VISIBLE = (("emailId", frozenset()), ("orgUserId", frozenset()), ("groups", _LINES), ("roles", _LINES),
                   ("botTasks", _LINES))


class _Cells:
    """Read a raw row's cells by canonical column name (the loader aligns cells with headers)."""

    __slots__ = ("_index", "_cells")

    def __init__(self, index: Mapping[str, int], cells: list[str]) -> None:
        self._index = index
        self._cells = cells

    def get(self, name: str) -> str:
        i = self._index.get(name)
        return "" if i is None or i >= len(self._cells) else self._cells[i]


class _Problems:
    """The errors of the row being checked (collected, then frozen into its CheckedRow)."""

    __slots__ = ("row", "errors", "notes", "headers", "names")

    def __init__(self, row: int, headers: Mapping[str, str]) -> None:
        self.row = row
        self.errors: list[RowError] = []
        self.notes: list[str] = []  # what was changed on the way (normalised, removed), for Results
        self.headers = headers  # column name -> the user's header for it
        self.names: dict[str, str] = {}  # id (case-folded) -> the name the row wrote it by

    def add(self, column: str, value: str, code: str, variant: str = "", /, **params: Any) -> None:
        self.errors.append(RowError.of(self.row, column, value, code, variant, header=self.headers.get(column, ""),
                                       **params))


class Validator:
    """Checks rows of one table for one command.

    ``command`` is the operation for every row (add, update, remove, lookup), or ``apply`` /
    ``validate`` to take it from the row's ``action`` column (``validate`` without an action
    column checks rows as adds, the strictest case).
    """

    def __init__(self, table: Table, command: str, *, lookups: Mapping[str, Mapping[str, str]] | None = None,
                 builder_default: bool = False, strict_ids: bool = True, directory: Directory | None = None,
                 target: str | None = None, deferred: bool = False) -> None:
        self.command = command
        self.builder_default = builder_default
        # Off: ids with only the relaxed shape and over-long values (the limits are assumptions) are sent
        # as written, each reported once as a file warning instead of refusing the row.
        self.relaxed = None if strict_ids else Relaxed(table.warnings)
        self.index = {c.name: i for i, c in enumerate(table.columns) if c is not None}
        # Role, bot and group names: the target account's directory (None: offline, or it could not be read),
        # the file's own lookup sheets, then --lookups' (bulkprov.check.names has every rule).  Rows whose name a
        # fresh read of the directory might resolve are noted; the caller reads it again once and checks them
        # again.  ``deferred``: the account's directory is read only once a row writes a name (ids need none):
        # until then every row writing one is noted, and checked again once it is read.
        self.sheets = sheets_from(table.lookups, lookups or {})
        self.target = target
        self.book = NameBook(directory, self.sheets, target=target)
        self.deferred = deferred and directory is None
        self.refreshable: set[int] = set()
        # A file another account's export wrote (its About sheet, or lookup sheets stamped with one host) added to
        # this one: its dialog ids are the source's and name nothing here (dialogs have no names to map by), so
        # its bot tasks are not carried -- noted on the row, counted for the plan (bulkprov.jobs.migration).
        self.origin = table.about.get("host") or _one_host(table.lookups)
        self.migrating = bool(self.origin and target and not same_host(self.origin, target))
        self.tasks_not_carried: set[int] = set()
        self.missing: dict[tuple[str, str], None] = {}  # (kind, name as written) the account's directory lacks
        # Normalised key -> first row: what duplicate detection needs, nothing more.
        self.seen_email = FirstRows()
        self.seen_org = FirstRows()
        self.per_row_action = command == "apply" or (command == "validate" and "action" in self.index)
        # Every row's action when the file has no action column to read it from.
        self.fixed_action = None if self.per_row_action else Action.ADD if command == "validate" else Action(command)
        # Only the userInfo columns this file has, with their limits: the per-row loop stays short.
        self.info_columns = [(c.name, self.index[c.name], c.max_length) for c in schema.COLUMNS
                              if c.in_user_info and c.name in self.index]
        self._names = {i: name for name, i in self.index.items()}
        # Messages name a column by the user's own header (성명, "Email Address"), as their sheet shows it.
        self._own = {name: table.headers[i].strip() for name, i in self.index.items() if i < len(table.headers)}
        self._headers = {name: header for name, header in self._own.items() if header != name}

    # -- public -----------------------------------------------------------------------------

    def use_directory(self, directory: Directory | None) -> None:
        """Resolve names against this directory from now on (None: it could not be read; the sheets only)."""
        self.book = NameBook(directory, self.sheets, target=self.target)
        self.deferred = False

    def check(self, raw: RawRow) -> CheckedRow:
        cells = _Cells(self.index, raw.cells)
        problems = _Problems(raw.row, self._headers)
        formulas = self._uncalculated(raw, problems)
        action = self._action(cells, problems)
        notes = problems.notes
        email, org = cells.get("emailId"), cells.get("orgUserId")
        self._check_invisible(cells, problems)
        address = plain_email(email)
        key = UserKey(address, plain(org, self._shown("orgUserId"), notes))
        if not formulas & {"emailId", "orgUserId"}:
            self._check_keys(key, action, problems, email)
        if address != email:
            if any(e.column == "emailId" for e in problems.errors):
                key = UserKey(email, key.org_user_id)  # no address either way: the row shows what was typed
            else:
                notes.insert(0, ROW_NOTES["normalised"].render(column=self._shown("emailId"), before=email,
                                                               after=address))
        user: dict[str, Any] = {}
        send_email = None
        if action in (Action.ADD, Action.UPDATE):
            user = self._user_object(cells, action, problems, notes)
            for name, value in (("emailId", key.email), ("orgUserId", key.org_user_id)):
                if value and name in user["userInfo"]:
                    user["userInfo"][name] = value
            send_email = self._bool(cells, "sendEmail", problems)
        self._check_duplicates(key, raw.row, problems, email, org)
        return CheckedRow(RowRef(raw.row, action, key), user, send_email, problems.errors, notes, problems.names)

    def _shown(self, name: str) -> str:
        """A column as messages name it: the user's header, else its header in the reader's language."""
        own = self._own.get(name)
        if own:
            return own
        from bulkprov.i18n import current

        column = schema.BY_NAME.get(name)
        return column.header(current()) if column is not None else name

    # -- keys and action --------------------------------------------------------------------

    def _action(self, cells: _Cells, problems: _Problems) -> Action:
        if self.fixed_action is not None:
            return self.fixed_action
        value = cells.get("action")
        if not value:
            problems.add("action", value, "missing-action")
            return Action.NONE
        action = schema.ACTIONS.get(schema.normalize_word(value))
        if action is None:
            problems.add("action", value, "unknown-action", value=value)
            return Action.NONE
        return action

    def _uncalculated(self, raw: RawRow, problems: _Problems) -> set[str]:
        """Columns whose cell is a formula never calculated: a row error each, never a silent blank."""
        if not raw.uncalculated:
            return set()
        found: set[str] = set()
        for i, formula in raw.uncalculated.items():
            name = self._names.get(i)
            if name is not None:
                problems.add(name, "", "uncalculated-formula", formula=formula)
                found.add(name)
        return found

    def _check_invisible(self, cells: _Cells, problems: _Problems) -> None:
        """Keys and list cells (ids, names of roles, bots, groups) must not hide a character."""
        for name, allow in CHECKED_VISIBLE:
            value = cells.get(name)
            if value:
                for position, ch in invisible(value, allow):
                    problems.add(name, value, "invisible-character", char=describe(ch), position=position + 1)

    def _check_keys(self, key: UserKey, action: Action, problems: _Problems, written: str) -> None:
        """The key cells' rules, checked on the converted address; a message quotes the cell as typed."""
        email_col = schema.BY_NAME["emailId"]
        email = key.email
        if email:
            limit = email_col.max_length or 254
            if len(email) > limit:
                problems.add("emailId", written, "too-long", length=len(email), field=self._shown("emailId"),
                             limit=limit)
            elif not schema.EMAIL_RE.match(email):
                variant, params = email_problem(written, email)
                problems.add("emailId", written, "invalid-email", variant, **params)
            elif key.email_id in schema.EXAMPLE_EMAILS:
                problems.add("emailId", written, "template-example")
        elif action == Action.ADD or (action == Action.NONE and not key.org_user_id):
            problems.add("emailId", "", "missing-email")
        elif not key.org_user_id:
            problems.add("emailId", "", "missing-key", action=action)

    def _check_duplicates(self, key: UserKey, row: int, problems: _Problems, email: str, org: str) -> None:
        """A key seen in an earlier row (compared converted: ｊａｎｅ@… is jane@…); quoted as typed."""
        for value, seen, column, code, raw in (
            (key.email_id, self.seen_email, "emailId", "duplicate-email", email.strip()),
            (key.org_id, self.seen_org, "orgUserId", "duplicate-org-user-id", org.strip()),
        ):
            if not value:
                continue
            first = seen.first(value, row)
            if first != row:
                problems.add(column, raw, code, value=raw, first=first)

    # -- the user object --------------------------------------------------------------------

    def _user_object(self, cells: _Cells, action: Action, problems: _Problems, notes: list[str]) -> dict[str, Any]:
        adding = action == Action.ADD
        user: dict[str, Any] = {"userInfo": self._user_info(cells, problems, notes)}
        if "fullName" in self.index:
            self._full_name(cells.get("fullName"), user["userInfo"], problems)
        groups = self._list(cells, "groups", problems, self._group_id)
        roles = self._list(cells, "roles", problems, self._role)
        tasks = self._list(cells, "botTasks", problems, self._bot_task)
        put_lists(user, adding, groups, roles, tasks)
        for name in ("canCreateBot", "isDeveloper"):
            value = self._bool(cells, name, problems)
            if value is None and adding:
                value = self.builder_default
            if value is not None:
                user[name] = value
        return user

    def _user_info(self, cells: _Cells, problems: _Problems, notes: list[str]) -> dict[str, str]:
        info: dict[str, str] = {}
        raw = cells._cells
        for name, i, max_length in self.info_columns:
            value = raw[i] if i < len(raw) else ""
            if not value:
                continue
            if name in PLAIN_COLUMNS and not value.isascii():
                value = plain(value, self._shown(name), notes)
            if name not in KEY_COLUMNS and not value.isprintable():
                value, removed = without_invisible(value)
                if removed:
                    notes.append(ROW_NOTES["invisible-removed"].render(column=self._shown(name),
                                                                       chars=", ".join(removed)))
                if not value:
                    continue
            if max_length and len(value) > max_length and name != "emailId":
                if self.relaxed is not None:
                    self.relaxed.length(problems.row, self._shown(name), value, max_length)
                else:
                    problems.add(name, value, "too-long", length=len(value), field=self._shown(name),
                                 limit=max_length)
            info[name] = value
        return info

    def _full_name(self, value: str, info: dict[str, str], problems: _Problems) -> None:
        """A full name (氏名, 성명), family name first, split at its first space -- only for a row
        without its own firstName and lastName.  Without a space the split would be a guess: refused."""
        if not value or info.get("firstName") or info.get("lastName"):
            return
        parts = value.split(None, 1)
        if len(parts) < 2:
            problems.add("fullName", value, "unsplit-name", value=value)
            return
        last, first = parts[0], parts[1].strip()
        for name, part in (("lastName", last), ("firstName", first)):
            limit = schema.BY_NAME[name].max_length or 100
            if len(part) > limit:
                problems.add("fullName", value, "too-long", length=len(part), field=self._shown(name), limit=limit)
            info[name] = part
        problems.notes.append(ROW_NOTES["name-split"].render(value=value, last=last, first=first))

    def _bool(self, cells: _Cells, name: str, problems: _Problems) -> bool | None:
        value = cells.get(name)
        if not value:
            return None
        word = schema.normalize_word(value)
        if word in schema.TRUE_WORDS:
            return True
        if word in schema.FALSE_WORDS:
            return False
        problems.add(name, value, "invalid-boolean", value=value)
        return None

    def _list(self, cells: _Cells, name: str, problems: _Problems,
              parse: Callable[[str, str, str, _Problems], Any]) -> list[tuple[str, Any]]:
        value = cells.get(name)
        if not value:
            return []
        col = schema.BY_NAME[name]
        if col.max_length and len(value) > col.max_length:
            if self.relaxed is None:
                problems.add(name, value, "too-long", length=len(value), field=self._shown(name),
                             limit=col.max_length)
                return []
            self.relaxed.length(problems.row, self._shown(name), value, col.max_length)
        items: list[tuple[str, Any]] = []
        for part in schema.LIST_SPLIT_RE.split(value):
            part = part.strip()
            if not part:
                continue
            sign = ""
            if part[0] in (schema.ADD_PREFIX, schema.REMOVE_PREFIX):
                sign, part = part[0], part[1:].strip()
            parsed = parse(part, value, sign, problems)
            if parsed is not None:
                items.append((sign, parsed))
        return items

    # -- list item parsers: return the API value, or None after recording an error ---------------

    def _group_id(self, item: str, cell: str, sign: str, problems: _Problems) -> str | None:
        return self._resolve(item, cell, problems, "groups", schema.ID_KINDS["group"])

    def _role(self, item: str, cell: str, sign: str, problems: _Problems) -> dict[str, str] | None:
        role_text, at, bot_text = item.partition("@")
        role_id = self._resolve(role_text.strip(), cell, problems, "roles", schema.ID_KINDS["role"],
                                "bot" if at else "admin")
        if not bot_text:
            return {"roleId": role_id} if role_id else None
        bot_id = self._resolve(bot_text.strip(), cell, problems, "roles", schema.ID_KINDS["bot"])
        return {"roleId": role_id, "botId": bot_id} if role_id and bot_id else None

    def _bot_task(self, item: str, cell: str, sign: str, problems: _Problems) -> dict[str, Any] | None:
        bot_text, colon, dialogs_text = item.partition(":")
        if sign == schema.REMOVE_PREFIX:
            if colon and dialogs_text.strip():
                problems.add("botTasks", cell, "invalid-bot-task", "remove-with-dialogs", value=item)
                return None
            bot_id = self._resolve(bot_text.strip(), cell, problems, "botTasks", schema.ID_KINDS["bot"])
            return {"botId": bot_id, "dialogs": []} if bot_id else None
        if not colon or not bot_text.strip():
            problems.add("botTasks", cell, "invalid-bot-task", value=item)
            return None
        if self.migrating:
            self.tasks_not_carried.add(problems.row)
            note = ROW_NOTES["tasks-not-carried"].render(origin=self.origin)
            if note not in problems.notes:
                problems.notes.append(note)
            return None
        bot_id = self._resolve(bot_text.strip(), cell, problems, "botTasks", schema.ID_KINDS["bot"])
        dialogs = [plain_id(d.strip(), self._shown("botTasks"), schema.DIALOG_ID_RE, problems.notes)
                   for d in dialogs_text.split(",") if d.strip()]
        bad = [d for d in dialogs if not schema.DIALOG_ID_RE.match(d) and not (
            self.relaxed is not None and self.relaxed.accepts("dialog", d, problems.row, self._shown("botTasks")))]
        if bad or not dialogs:
            problems.add("botTasks", cell, "invalid-dialog-id", value=bad[0] if bad else item)
            return None
        return {"botId": bot_id, "dialogs": dialogs} if bot_id else None

    def _resolve(self, text: str, cell: str, problems: _Problems, column: str, kind: schema.IdKind,
                 role_type: str = "") -> str | None:
        """An id, or a name, as the account written to knows it (:class:`NameBook`: its directory, else the
        lookup sheets made for it); strict ids off, an unusual id as written."""
        text = plain_id(text, self._shown(column), kind.pattern, problems.notes)
        if kind.pattern.match(text):  # an id is sent as written: the server has the last word on it
            named = getattr(self.book.entry(kind.what, text), "name", "")
            if named:
                problems.names[text.casefold()] = named
            return text
        if self.deferred:  # a name: the account's directory is needed, and read before this row counts
            self.refreshable.add(problems.row)
        found = self.book.resolve(kind.what, text, role_type=role_type)
        if found.ok:
            # a refusal names the id by the row's own words, else by the account's name for it
            named = text if found.source != "id" else getattr(self.book.entry(kind.what, found.id), "name", "")
            if named:
                problems.names[found.id.casefold()] = named
            return found.id
        if found.problem in ("unknown", "incomplete") and self.relaxed is not None \
                and self.relaxed.accepts(kind.what, text, problems.row, self._shown(column)):
            return text
        if found.refreshable:
            self.refreshable.add(problems.row)
        self._name_problem(found, text, cell, problems, column, kind)
        return None

    def _name_problem(self, found: Resolution, text: str, cell: str, problems: _Problems, column: str,
                      kind: schema.IdKind) -> None:
        """The row error for a name or id the account does not resolve (one per problem kind)."""
        listed = ", ".join(f"'{c.name}' {c.id}" if c.id else f"'{c.name}'" for c in found.candidates)
        if found.problem in ("unknown", "unmappable") and self.book.directory is not None:
            self.missing.setdefault((kind.what, text), None)
        if found.problem in ("unknown", "incomplete"):
            if kind.looks_like_id(text):
                problems.add(column, cell, kind.bad_id, value=text)
            elif self.book.directory is None:
                problems.add(column, cell, kind.unknown, value=text)
            elif found.problem == "incomplete":
                problems.add(column, cell, kind.unknown, "incomplete", value=text)
            elif found.candidates:
                problems.add(column, cell, kind.unknown, "account-suggest", value=text,
                             suggestions=", ".join(f"'{c.name}'" for c in found.candidates))
            else:
                problems.add(column, cell, kind.unknown, "account", value=text)
        elif found.problem == "ambiguous":
            problems.add(column, cell, "ambiguous-name", kind.what, value=text, count=len(found.candidates),
                         candidates=listed)
        elif found.problem == "separator":
            problems.add(column, cell, "ambiguous-name", "separator", value=text, candidates=listed)
        elif found.problem == "not-on-account":  # a lookup sheet's id the account does not have
            problems.add(column, cell, "not-on-account", value=text, ident=found.sheet_id)
        elif found.problem == "disagrees":
            account = found.candidates[0]
            problems.add(column, cell, "name-disagrees", value=text, ident=found.sheet_id, name=account.name,
                         account_id=account.id)
        elif found.problem == "unmappable":
            problems.add(column, cell, "unmappable-role", value=text)
        elif found.problem == "wrong-type":
            problems.add(column, cell, "wrong-role-type", found.candidates[0].type or "bot", value=text)
        else:  # directory-unavailable
            problems.add(column, cell, "directory-unavailable", value=text, host=found.sheet_host)


def _one_host(lookups: Mapping[str, Mapping[str, str]]) -> str:
    """The host every stamped row of a file's lookup sheets names, when they name exactly one."""
    hosts = {host for table in lookups.values() for host in getattr(table, "hosts", {}).values()} - {schema.EXAMPLE_HOST}
    return next(iter(hosts)) if len(hosts) == 1 else ""


