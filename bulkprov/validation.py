"""Validator: one raw row in, an API payload or that row's errors out.

Every cell of every row is checked in one pass, so a user fixes the whole file at once.  Each
problem is a :class:`~bulkprov.errors.RowError` with the Excel row number, the column, the value,
a stable code and a message that says how to fix it.  Duplicates are found within the file (the
later row is invalid and names the earlier one).  Role, bot and group names resolve through the
workbook's ``Roles``/``Bots``/``Groups`` sheets.  How a cell is parsed is decided by its column's
kind in :mod:`bulkprov.schema`; nothing here lists columns.

Policy choices (documented in the README):

* A blank ``canCreateBot``/``isDeveloper`` sends ``false`` on add (the server would grant Builder
  access); on update a blank boolean leaves the user's value unchanged.
* On update, blank cells are not sent (no change); list entries are added, and entries prefixed
  with ``-`` are removed (``+`` is accepted for symmetry).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bulkprov import schema
from bulkprov.errors import RowError
from bulkprov.loader import RawRow, Table

OPERATIONS = ("add", "update", "remove", "lookup")


@dataclass(slots=True)
class CheckedRow:
    """A validated row: what to do, with which key, and the API user object; or its errors."""

    row: int
    action: str
    email: str = ""
    org_user_id: str = ""
    user: dict[str, Any] = field(default_factory=dict)
    send_email: bool | None = None
    errors: list[RowError] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.errors

    @property
    def key(self) -> str:
        """The identifier the API knows this user by: email, else orgUserId."""
        return self.email or self.org_user_id


class _Cells:
    """Read a raw row's cells by canonical column name (the loader aligns cells with headers)."""

    __slots__ = ("_index", "_cells")

    def __init__(self, index: Mapping[str, int], cells: list[str]) -> None:
        self._index = index
        self._cells = cells

    def get(self, name: str) -> str:
        i = self._index.get(name)
        return "" if i is None or i >= len(self._cells) else self._cells[i]


class Validator:
    """Checks rows of one table for one command.

    ``command`` is the operation for every row (add, update, remove, lookup), or ``apply`` /
    ``validate`` to take it from the row's ``action`` column (``validate`` without an action
    column checks rows as adds, the strictest case).
    """

    def __init__(self, table: Table, command: str, *, lookups: Mapping[str, Mapping[str, str]] | None = None,
                 builder_default: bool = False) -> None:
        self.command = command
        self.builder_default = builder_default
        self.index = {c.name: i for i, c in enumerate(table.columns) if c is not None}
        merged: dict[str, dict[str, str]] = {k: dict(v) for k, v in table.lookups.items()}
        for sheet, names in (lookups or {}).items():
            merged.setdefault(sheet, {}).update({n.casefold(): i for n, i in names.items()})
        self.lookups = merged
        self._seen_email: dict[str, int] = {}
        self._seen_org: dict[str, int] = {}
        self._per_row_action = command == "apply" or (command == "validate" and "action" in self.index)
        # Only the userInfo columns this file has, with their limits: the per-row loop stays short.
        self._info_columns = [(c.name, self.index[c.name], c.max_length) for c in schema.COLUMNS
                              if c.in_user_info and c.name in self.index]

    # -- public -----------------------------------------------------------------------------

    def check(self, raw: RawRow) -> CheckedRow:
        cells = _Cells(self.index, raw.cells)
        out = CheckedRow(row=raw.row, action="")
        out.action = self._action(cells, out)
        out.email = cells.get("emailId")
        out.org_user_id = cells.get("orgUserId")
        self._check_keys(out)
        if out.action in ("add", "update"):
            out.user = self._user_object(cells, out)
            out.send_email = self._bool(cells, "sendEmail", out)
        self._check_duplicates(out)
        return out

    # -- keys and action --------------------------------------------------------------------

    def _action(self, cells: _Cells, out: CheckedRow) -> str:
        if not self._per_row_action:
            return "add" if self.command == "validate" else self.command
        value = cells.get("action")
        if not value:
            self._error(out, "action", value, "missing-action",
                        "the action is blank: write add, update or remove (or New, Update, Delete)")
            return ""
        action = schema.ACTIONS.get(value.casefold())
        if action is None:
            self._error(out, "action", value, "unknown-action",
                        f"'{value}' is not an action: write add, update or remove (or New, Update, Delete)")
            return ""
        return action

    def _check_keys(self, out: CheckedRow) -> None:
        email_col = schema.BY_NAME["emailId"]
        if out.email:
            if len(out.email) > (email_col.max_length or 254):
                self._error(out, "emailId", out.email, "too-long",
                            f"the email is {len(out.email)} characters; the limit is {email_col.max_length}")
            elif not schema.EMAIL_RE.match(out.email):
                self._error(out, "emailId", out.email, "invalid-email",
                            "not a valid email address: write it like jane.doe@example.com")
            elif out.email.casefold() == schema.EXAMPLE_EMAIL:
                self._error(out, "emailId", out.email, "template-example",
                            "this is the template's example row: delete it before running")
        elif out.action == "add" or (out.action == "" and not out.org_user_id):
            self._error(out, "emailId", "", "missing-email", "the email is blank: every user to add needs one")
        elif not out.org_user_id:
            self._error(out, "emailId", "", "missing-key",
                        f"both emailId and orgUserId are blank: {out.action} needs one of them")

    def _check_duplicates(self, out: CheckedRow) -> None:
        for value, seen, column, code in (
            (out.email.casefold(), self._seen_email, "emailId", "duplicate-email"),
            (out.org_user_id, self._seen_org, "orgUserId", "duplicate-org-user-id"),
        ):
            if not value:
                continue
            first = seen.setdefault(value, out.row)
            if first != out.row:
                raw = out.email if column == "emailId" else out.org_user_id
                self._error(out, column, raw, code,
                            f"'{raw}' is already in row {first}: keep one of the two rows")

    # -- the user object --------------------------------------------------------------------

    def _user_object(self, cells: _Cells, out: CheckedRow) -> dict[str, Any]:
        adding = out.action == "add"
        info = self._user_info(cells, out)
        user: dict[str, Any] = {"userInfo": info}
        groups = self._list(cells, "groups", out, self._group_id)
        roles = self._list(cells, "roles", out, self._role)
        tasks = self._list(cells, "botTasks", out, self._bot_task)
        if adding:
            if groups:
                user["groups"] = [g for sign, g in groups if sign != "-"]
            if roles:
                user["roles"] = [r for sign, r in roles if sign != "-"]
        else:
            if groups:
                user["groups"] = _add_remove(groups)
            if roles:
                user["roles"] = _add_remove(roles)
        if tasks:
            user["assignBotTasks"] = _merge_tasks([t for _, t in tasks])
        for name in ("canCreateBot", "isDeveloper"):
            value = self._bool(cells, name, out)
            if value is None and adding:
                value = self.builder_default
            if value is not None:
                user[name] = value
        return user

    def _user_info(self, cells: _Cells, out: CheckedRow) -> dict[str, str]:
        info: dict[str, str] = {}
        raw = cells._cells
        for name, i, max_length in self._info_columns:
            value = raw[i] if i < len(raw) else ""
            if not value:
                continue
            if max_length and len(value) > max_length and name != "emailId":
                self._error(out, name, value, "too-long",
                            f"{len(value)} characters; {name} allows at most {max_length}")
            info[name] = value
        return info

    def _bool(self, cells: _Cells, name: str, out: CheckedRow) -> bool | None:
        value = cells.get(name)
        if not value:
            return None
        word = value.casefold()
        if word in schema.TRUE_WORDS:
            return True
        if word in schema.FALSE_WORDS:
            return False
        self._error(out, name, value, "invalid-boolean",
                    f"'{value}' is not a yes/no value: write TRUE or FALSE (yes/no, y/n, 1/0 also work)")
        return None

    def _list(self, cells: _Cells, name: str, out: CheckedRow, parse) -> list[tuple[str, Any]]:
        value = cells.get(name)
        if not value:
            return []
        col = schema.BY_NAME[name]
        if col.max_length and len(value) > col.max_length:
            self._error(out, name, value, "too-long", f"{len(value)} characters; {name} allows {col.max_length}")
            return []
        items: list[tuple[str, Any]] = []
        for part in schema.LIST_SPLIT_RE.split(value):
            part = part.strip()
            if not part:
                continue
            sign = ""
            if part[0] in "+-" and name != "botTasks":
                sign, part = part[0], part[1:].strip()
            parsed = parse(part, value, out)
            if parsed is not None:
                items.append((sign, parsed))
        return items

    # -- list item parsers: return the API value, or None after recording an error ---------------

    def _group_id(self, item: str, cell: str, out: CheckedRow) -> str | None:
        if schema.GROUP_ID_RE.match(item):
            return item
        found = self.lookups.get("Groups", {}).get(item.casefold())
        if found:
            return found
        if item.startswith("e-"):
            self._error(out, "groups", cell, "invalid-group-id",
                        f"'{item}' is not a group id: ids look like e-06b41cdd-7678-5394-b958-40ca5662f502")
        else:
            self._error(out, "groups", cell, "unknown-group",
                        f"group '{item}' is not in the Groups sheet: add it there with its id, or use the id")
        return None

    def _role(self, item: str, cell: str, out: CheckedRow) -> dict[str, str] | None:
        role_text, _, bot_text = item.partition("@")
        role_id = self._resolve(role_text.strip(), cell, out, "Roles", "roles", schema.ROLE_ID_RE,
                                "invalid-role-id", "unknown-role", _looks_hex)
        if not bot_text:
            return {"roleId": role_id} if role_id else None
        bot_id = self._resolve(bot_text.strip(), cell, out, "Bots", "roles", schema.BOT_ID_RE,
                               "invalid-bot-id", "unknown-bot", lambda s: s.startswith("st-"))
        return {"roleId": role_id, "botId": bot_id} if role_id and bot_id else None

    def _bot_task(self, item: str, cell: str, out: CheckedRow) -> dict[str, Any] | None:
        bot_text, colon, dialogs_text = item.partition(":")
        if not colon or not bot_text.strip():
            self._error(out, "botTasks", cell, "invalid-bot-task",
                        f"'{item}' is not a bot task: write BOT:DIALOG,DIALOG (dialogs are dg-… ids)")
            return None
        bot_id = self._resolve(bot_text.strip(), cell, out, "Bots", "botTasks", schema.BOT_ID_RE,
                               "invalid-bot-id", "unknown-bot", lambda s: s.startswith("st-"))
        dialogs = [d.strip() for d in dialogs_text.split(",") if d.strip()]
        bad = [d for d in dialogs if not schema.DIALOG_ID_RE.match(d)]
        if bad or not dialogs:
            self._error(out, "botTasks", cell, "invalid-dialog-id",
                        f"'{bad[0] if bad else item}' is not a dialog id: ids look like "
                        "dg-0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b")
            return None
        return {"botId": bot_id, "dialogs": dialogs} if bot_id else None

    def _resolve(self, text: str, cell: str, out: CheckedRow, sheet: str, column: str, pattern,
                 bad_id_code: str, unknown_code: str, looks_like_id) -> str | None:
        """An id written directly, or a name from a lookup sheet."""
        if pattern.match(text):
            return text
        found = self.lookups.get(sheet, {}).get(text.casefold())
        if found:
            return found
        noun = sheet[:-1].lower()
        if looks_like_id(text):
            self._error(out, column, cell, bad_id_code, f"'{text}' is not a valid {noun} id")
        else:
            self._error(out, column, cell, unknown_code,
                        f"{noun} '{text}' is not in the {sheet} sheet: add it there with its id, or use the id")
        return None

    @staticmethod
    def _error(out: CheckedRow, column: str, value: str, code: str, message: str) -> None:
        out.errors.append(RowError(out.row, column, value, code, message))


def _looks_hex(text: str) -> bool:
    return len(text) >= 12 and all(c in "0123456789abcdefABCDEF" for c in text)


def _add_remove(items: list[tuple[str, Any]]) -> dict[str, list[Any]]:
    return {"addTo": [v for s, v in items if s != "-"], "removeFrom": [v for s, v in items if s == "-"]}


def _merge_tasks(tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per bot, dialogs in first-seen order (a bot may appear on several lines)."""
    merged: dict[str, list[str]] = {}
    for task in tasks:
        dialogs = merged.setdefault(task["botId"], [])
        dialogs.extend(d for d in task["dialogs"] if d not in dialogs)
    return [{"botId": b, "dialogs": d} for b, d in merged.items()]
